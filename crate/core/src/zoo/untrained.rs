//! Untrained stand-in models: fresh random weights, a real manifest entry and real
//! weight files, so that tests, the load test and the static site's smoke check run
//! every code path without the shipped (trained) assets. Their accuracy means nothing.

use std::path::Path;

use burn::prelude::Device;

use super::{
    MANIFEST_FILE, MANIFEST_VERSION, Manifest, ModelEntry, ModelId, WeightsFile, ZooError,
};
use crate::entropy_model::FactorizedPrior;
use crate::model::{CloudHeads, Edge, ModelConfig, WeightsError, module_to_bytes};
use crate::quant::BitDepth;

/// A freshly initialised model: its entry (weights under `models/<name>/`) and bytes.
/// Every call draws new weights, so two models never share an id.
#[derive(Debug, Clone)]
pub struct UntrainedModel {
    pub entry: ModelEntry,
    pub edge: Vec<u8>,
    pub heads: Vec<u8>,
    /// The `prior` codec's tables as JSON, when [`UntrainedModel::with_prior`] made them.
    pub prior: Option<Vec<u8>>,
}

impl UntrainedModel {
    pub fn new(
        name: &str,
        lambda: f32,
        config: &ModelConfig,
        device: &Device,
    ) -> Result<Self, WeightsError> {
        let edge = module_to_bytes(&Edge::new(config, device))?;
        let heads = module_to_bytes(&CloudHeads::new(config, device))?;
        let entry = ModelEntry {
            id: ModelId::of_edge(&edge),
            name: name.to_string(),
            lambda,
            bits: BitDepth::EIGHT,
            config: config.clone(),
            edge: WeightsFile::describe(format!("models/{name}/edge.bpk"), &edge),
            heads: WeightsFile::describe(format!("models/{name}/heads.bpk"), &heads),
            prior: None,
            train_steps: 0,
            eval: None,
            check: None,
        };
        Ok(Self {
            entry,
            edge,
            heads,
            prior: None,
        })
    }

    /// The same model shipping `prior` tables, from an untrained learned prior of its
    /// features (a real density, wide as Ballé et al. initialise it): the page and the
    /// server then offer the `prior` codec for it.
    pub fn with_prior(mut self, device: &Device) -> Result<Self, ZooError> {
        let [channels, _, _] = self.entry.config.bottleneck_shape();
        let tables =
            FactorizedPrior::new(channels, device).tables(self.entry.config.quantizer, device);
        let json = tables.to_json().map_err(|error| ZooError::Tables {
            path: "prior.json".into(),
            error,
        })?;
        let path = format!("models/{}/prior.json", self.entry.name);
        self.entry.prior = Some(WeightsFile::describe(path, &json));
        self.prior = Some(json);
        Ok(self)
    }
}

/// Writes `dir/manifest.json` and every model's weight files; returns the manifest.
pub fn write_assets(dir: &Path, models: &[UntrainedModel]) -> Result<Manifest, ZooError> {
    for m in models {
        let prior = m.entry.prior.as_ref().zip(m.prior.as_ref());
        let files = [(&m.entry.edge, &m.edge), (&m.entry.heads, &m.heads)];
        for (file, bytes) in files.into_iter().chain(prior) {
            write(&dir.join(&file.path), bytes)?;
        }
    }
    let manifest = Manifest {
        version: MANIFEST_VERSION,
        models: models.iter().map(|m| m.entry.clone()).collect(),
    };
    let json =
        serde_json::to_vec_pretty(&manifest).map_err(|e| ZooError::Manifest(e.to_string()))?;
    write(&dir.join(MANIFEST_FILE), &json)?;
    Ok(manifest)
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), ZooError> {
    let io = |e: std::io::Error| ZooError::Io {
        path: path.display().to_string(),
        error: e.to_string(),
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    std::fs::write(path, bytes).map_err(io)
}
