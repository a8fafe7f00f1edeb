//! `splitfeat info`: size of each preset (parameters, multiply-accumulates).

use anyhow::Result;
use burn::module::Module;
use burn::prelude::*;
use serde::Serialize;
use splitfeat_core::classes::NUM_CLASSES;
use splitfeat_core::model::{CloudHeads, Edge, Preset};

#[derive(Debug, Serialize)]
pub struct PresetInfo {
    pub preset: Preset,
    pub input: [usize; 2],
    pub bottleneck: [usize; 3],
    pub edge_params: usize,
    pub heads_params: usize,
    pub edge_macs: u64,
    pub heads_macs: u64,
}

pub fn info(preset: Preset) -> PresetInfo {
    let config = preset.config();
    let device = Device::flex();
    PresetInfo {
        preset,
        input: [config.input_height, config.input_width],
        bottleneck: config.bottleneck_shape(),
        edge_params: Edge::new(&config, &device).num_params(),
        heads_params: CloudHeads::new(&config, &device).num_params(),
        edge_macs: config.edge_macs(),
        heads_macs: config.head_macs(NUM_CLASSES) + config.head_macs(1) + config.head_macs(3),
    }
}

pub fn run() -> Result<()> {
    println!(
        "{:<6} {:>9} {:>11} {:>11} {:>12} {:>11} {:>12}",
        "preset", "input", "bottleneck", "edge params", "heads params", "edge MMACs", "heads MMACs"
    );
    for p in Preset::ALL {
        let i = info(p);
        println!(
            "{:<6} {:>9} {:>11} {:>11} {:>12} {:>11.1} {:>12.1}",
            p.name(),
            format!("{}x{}", i.input[0], i.input[1]),
            format!(
                "{}x{}x{}",
                i.bottleneck[0], i.bottleneck[1], i.bottleneck[2]
            ),
            i.edge_params,
            i.heads_params,
            i.edge_macs as f64 / 1e6,
            i.heads_macs as f64 / 1e6
        );
    }
    Ok(())
}
