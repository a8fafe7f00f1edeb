//! Untrained stand-in models for tests and the load test: real weight files, a real
//! manifest and real bitstreams, at the small `test` preset, so that every code path
//! of the server runs without the shipped (trained) assets.

use std::path::Path;

use anyhow::{Context, Result};
use burn::prelude::Device;
use splitfeat_core::codec::CodecId;
use splitfeat_core::model::{CloudHeads, Edge, ModelConfig, Preset, module_to_bytes};
use splitfeat_core::runtime::EdgeRuntime;
use splitfeat_core::zoo::{
    MANIFEST_FILE, MANIFEST_VERSION, Manifest, ModelEntry, WeightsFile, model_id,
};

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
}

/// The edge half of the pipeline, as the browser runs it: features, read-back, code.
pub fn encode_image(
    edge: &EdgeRuntime,
    rgb: &[u8],
    height: usize,
    width: usize,
) -> Result<Vec<u8>> {
    let features = edge
        .features(rgb, height, width)?
        .into_data()
        .try_to_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok(edge.encode(&features, CodecId::Png, 8)?.bytes)
}

/// Writes `assets/manifest.json` and `assets/models/<name>/{edge,heads}.bpk` for one
/// freshly initialised model per name. Each model gets its own random weights, so
/// their ids differ.
pub fn write_assets(assets: &Path, names: &[&str]) -> Result<Vec<FixtureModel>> {
    let device = Device::flex();
    let config: ModelConfig = Preset::Test.config();
    let mut out = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let edge_bytes = module_to_bytes(&Edge::new(&config, &device))?;
        let heads_bytes = module_to_bytes(&CloudHeads::new(&config, &device))?;
        let dir = format!("models/{name}");
        let edge_path = format!("{dir}/edge.bpk");
        let heads_path = format!("{dir}/heads.bpk");
        std::fs::create_dir_all(assets.join(&dir))
            .with_context(|| format!("creating {}", assets.join(&dir).display()))?;
        std::fs::write(assets.join(&edge_path), &edge_bytes)?;
        std::fs::write(assets.join(&heads_path), &heads_bytes)?;
        let entry = ModelEntry {
            id: hex_id(model_id(&edge_bytes)),
            name: name.to_string(),
            lambda: i as f32 * 0.01,
            bits: 8,
            config: config.clone(),
            edge: WeightsFile::describe(edge_path, &edge_bytes),
            heads: WeightsFile::describe(heads_path, &heads_bytes),
            train_steps: 0,
            eval: None,
            check: None,
        };
        let edge = EdgeRuntime::load(config.clone(), &edge_bytes, &device)?;
        out.push(FixtureModel { entry, edge });
    }
    let manifest = Manifest {
        version: MANIFEST_VERSION,
        models: out.iter().map(|m| m.entry.clone()).collect(),
    };
    std::fs::write(
        assets.join(MANIFEST_FILE),
        serde_json::to_vec_pretty(&manifest)?,
    )?;
    Ok(out)
}

fn hex_id(id: [u8; 8]) -> String {
    splitfeat_core::pipeline::model_id_hex(&id)
}
