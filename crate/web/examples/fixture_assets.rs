//! Writes an assets directory of untrained models (random initialisation, so every
//! model has its own weights and id) with made-up lambdas, for browser tests of the
//! page's mechanics (model switching, caching, errors) where the shipped models are
//! too few. Their rates mean nothing.
//!
//! ```text
//! cargo run -p splitfeat-web --example fixture_assets -- --out /tmp/assets [--count 2] [--preset tiny]
//! ```

use std::path::PathBuf;

use burn::prelude::*;
use splitfeat_core::model::{CloudHeads, Edge, Preset, module_to_bytes};
use splitfeat_core::zoo::{MANIFEST_VERSION, Manifest, ModelEntry, WeightsFile, model_id};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut out = None;
    let mut count = 2usize;
    let mut preset = Preset::Tiny;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--out" => out = Some(PathBuf::from(value)),
            "--count" => count = value.parse()?,
            "--preset" => preset = value.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let out = out.ok_or("--out is required")?;
    let device = Device::flex();
    let config = preset.config();
    let mut models = Vec::new();
    for i in 0..count {
        let name = format!("fixture-{i}");
        let edge = module_to_bytes(&Edge::new(&config, &device))?;
        let heads = module_to_bytes(&CloudHeads::new(&config, &device))?;
        let dir = out.join("models").join(&name);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("edge.bpk"), &edge)?;
        std::fs::write(dir.join("heads.bpk"), &heads)?;
        models.push(ModelEntry {
            id: hex::encode(model_id(&edge)),
            name: name.clone(),
            lambda: i as f32 * 0.05,
            bits: 8,
            config: config.clone(),
            edge: WeightsFile::describe(format!("models/{name}/edge.bpk"), &edge),
            heads: WeightsFile::describe(format!("models/{name}/heads.bpk"), &heads),
            train_steps: 0,
            eval: None,
            check: None,
        });
    }
    let manifest = Manifest {
        version: MANIFEST_VERSION,
        models,
    };
    std::fs::write(
        out.join("manifest.json"),
        serde_json::to_vec_pretty(&manifest)?,
    )?;
    for m in &manifest.models {
        println!("{} {} lambda {}", m.id, m.name, m.lambda);
    }
    Ok(())
}
