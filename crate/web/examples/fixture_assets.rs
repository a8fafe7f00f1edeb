//! Writes an assets directory of untrained models (random initialisation, so every
//! model has its own weights and id) with made-up lambdas, for browser tests of the
//! page's mechanics (model switching, caching, errors) where the shipped models are
//! too few. Their rates mean nothing.
//!
//! ```text
//! cargo run -p splitfeat-web --example fixture_assets -- --out /tmp/assets [--count 2] [--preset tiny] [--head-channels 32,16,16] [--prior]
//! ```
//!
//! `--prior` ships `prior` tables (from an untrained learned prior) with every model but
//! the first, the lambda-0 baseline, as in a zoo where only the rate-trained models
//! have a prior: the page and the server offer the `prior` codec for those.
//!
//! `--head-channels` replaces the preset's head widths: the cost of other heads on the
//! page, measured before any is trained (docs/results-web.md).

use std::path::PathBuf;

use burn::prelude::*;
use splitfeat_core::model::Preset;
use splitfeat_core::zoo::untrained::{self, UntrainedModel};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut out = None;
    let mut count = 2usize;
    let mut preset = Preset::Tiny;
    let mut head_channels = None;
    let mut prior = false;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--prior" {
            prior = true;
            continue;
        }
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--out" => out = Some(PathBuf::from(value)),
            "--count" => count = value.parse()?,
            "--preset" => preset = value.parse()?,
            "--head-channels" => {
                head_channels = Some(
                    value
                        .split(',')
                        .map(str::parse)
                        .collect::<Result<Vec<usize>, _>>()?,
                )
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let out = out.ok_or("--out is required")?;
    let device = Device::flex();
    let mut config = preset.config();
    if let Some(channels) = head_channels {
        config.head_channels = channels;
    }
    config.validate()?;
    let models = (0..count)
        .map(|i| -> Result<UntrainedModel, Box<dyn std::error::Error>> {
            let model =
                UntrainedModel::new(&format!("fixture-{i}"), i as f32 * 0.05, &config, &device)?;
            Ok(if prior && i > 0 {
                model.with_prior(&device)?
            } else {
                model
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let manifest = untrained::write_assets(&out, &models)?;
    for m in &manifest.models {
        println!("{} {} lambda {}", m.id, m.name, m.lambda);
    }
    Ok(())
}
