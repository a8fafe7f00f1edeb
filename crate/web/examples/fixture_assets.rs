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
use splitfeat_core::model::Preset;
use splitfeat_core::zoo::untrained::{self, UntrainedModel};

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
    let models = (0..count)
        .map(|i| UntrainedModel::new(&format!("fixture-{i}"), i as f32 * 0.05, &config, &device))
        .collect::<Result<Vec<_>, _>>()?;
    let manifest = untrained::write_assets(&out, &models)?;
    for m in &manifest.models {
        println!("{} {} lambda {}", m.id, m.name, m.lambda);
    }
    Ok(())
}
