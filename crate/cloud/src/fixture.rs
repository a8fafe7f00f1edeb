//! Untrained stand-in models for tests and the load test: real weight files, a real
//! manifest and real bitstreams, at the small `test` preset, so that every code path
//! of the server runs without the shipped (trained) assets.

use std::path::Path;

use anyhow::{Context, Result};
use burn::prelude::Device;
use splitfeat_core::codec::CodecId;
use splitfeat_core::model::Preset;
use splitfeat_core::quant::BitDepth;
use splitfeat_core::runtime::EdgeRuntime;
use splitfeat_core::zoo::ModelEntry;
use splitfeat_core::zoo::untrained::{self, UntrainedModel};

/// A model written by [`write_assets`], with its edge ready to make bitstreams.
#[derive(Debug)]
pub struct FixtureModel {
    pub entry: ModelEntry,
    pub edge: EdgeRuntime,
}

impl FixtureModel {
    /// A PNG-coded 8-bit stream of one packed RGB image of any size.
    pub fn stream(&self, rgb: &[u8], height: usize, width: usize) -> Result<Vec<u8>> {
        encode_image(&self.edge, rgb, height, width)
    }

    /// The same image's stream with another codec and bit depth.
    pub fn stream_with(
        &self,
        rgb: &[u8],
        height: usize,
        width: usize,
        codec: CodecId,
        bits: BitDepth,
    ) -> Result<Vec<u8>> {
        encode_image_with(&self.edge, rgb, height, width, codec, bits)
    }
}

/// The fixtures' stream of one packed RGB image of any size: PNG, 8 bits.
pub fn encode_image(
    edge: &EdgeRuntime,
    rgb: &[u8],
    height: usize,
    width: usize,
) -> Result<Vec<u8>> {
    encode_image_with(edge, rgb, height, width, CodecId::Png, BitDepth::EIGHT)
}

fn encode_image_with(
    edge: &EdgeRuntime,
    rgb: &[u8],
    height: usize,
    width: usize,
    codec: CodecId,
    bits: BitDepth,
) -> Result<Vec<u8>> {
    let encoded =
        futures_lite::future::block_on(edge.encode_image(rgb, height, width, codec, bits))?;
    Ok(encoded.bytes)
}

/// Writes `assets/manifest.json` and `assets/models/<name>/{edge,heads}.bpk` for one
/// freshly initialised `test`-preset model per name ([`untrained`]). Each model gets
/// its own random weights, so their ids differ.
pub fn write_assets(assets: &Path, names: &[&str]) -> Result<Vec<FixtureModel>> {
    write_assets_with_prior(assets, names, &[])
}

/// As [`write_assets`]; the models named in `with_prior` also ship `prior` tables
/// ([`UntrainedModel::with_prior`]), and their fixture edges code with them.
pub fn write_assets_with_prior(
    assets: &Path,
    names: &[&str],
    with_prior: &[&str],
) -> Result<Vec<FixtureModel>> {
    let device = Device::flex();
    let config = Preset::Test.config();
    let models = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let model = UntrainedModel::new(name, i as f32 * 0.01, &config, &device)?;
            Ok(match with_prior.contains(name) {
                true => model.with_prior(&device)?,
                false => model,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    untrained::write_assets(assets, &models)
        .with_context(|| format!("writing fixture assets to {}", assets.display()))?;
    models
        .into_iter()
        .map(|m| {
            let mut edge = EdgeRuntime::load(config.clone(), &m.edge, &device)?;
            if let Some(json) = &m.prior {
                edge = edge.with_tables(m.entry.verify_tables(json)?)?;
            }
            Ok(FixtureModel {
                entry: m.entry,
                edge,
            })
        })
        .collect()
}
