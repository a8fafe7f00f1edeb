//! The models the server runs: read once at start from the manifest, every file
//! verified against its sha256 (and the edge against the model id) before use, and
//! each model exercised once end to end so that a broken file stops start-up rather
//! than the first request.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail, ensure};
use burn::prelude::Device;
use serde::Serialize;
use splitfeat_core::api::{InferOptions, LoadError};
use splitfeat_core::classes::{CLASSES, ClassInfo};
use splitfeat_core::runtime::{CloudRuntime, Task};
use splitfeat_core::zoo::{MANIFEST_FILE, Manifest, ModelEntry};

/// One loaded model: its manifest entry and its heads, ready to run.
#[derive(Debug)]
pub struct LoadedModel {
    pub entry: ModelEntry,
    pub runtime: CloudRuntime,
}

impl LoadedModel {
    pub fn input_size(&self) -> (usize, usize) {
        (
            self.runtime.config.input_width,
            self.runtime.config.input_height,
        )
    }
}

/// The loaded models by id.
pub type Models = BTreeMap<String, Arc<LoadedModel>>;

/// Reads `assets/manifest.json` and loads the models named in `select` (by name or
/// id), or all of them. Every error names the file at fault.
pub fn load(assets: &Path, select: &[String], device: &Device) -> Result<Models> {
    let manifest_path = assets.join(MANIFEST_FILE);
    let json = std::fs::read(&manifest_path)
        .with_context(|| format!("cannot read the model manifest {}", manifest_path.display()))?;
    let manifest =
        Manifest::parse(&json).with_context(|| format!("{}", manifest_path.display()))?;
    for wanted in select {
        if manifest.find(wanted).is_err() {
            bail!(
                "--model {wanted:?}: no model of that name or id in {}",
                manifest_path.display()
            );
        }
    }
    let chosen: Vec<&ModelEntry> = manifest
        .models
        .iter()
        .filter(|m| select.is_empty() || select.iter().any(|s| s == &m.id || s == &m.name))
        .collect();
    ensure!(
        !chosen.is_empty(),
        "{} lists no models",
        manifest_path.display()
    );

    let mut models = Models::new();
    for entry in chosen {
        let model = load_one(assets, entry, device)
            .with_context(|| format!("model {:?} ({})", entry.name, entry.id))?;
        if models.insert(entry.id.clone(), Arc::new(model)).is_some() {
            bail!(
                "{}: model id {} is listed twice",
                manifest_path.display(),
                entry.id
            );
        }
    }
    Ok(models)
}

fn load_one(assets: &Path, entry: &ModelEntry, device: &Device) -> Result<LoadedModel> {
    let heads_path = asset_path(assets, &entry.heads.path)?;
    let heads = std::fs::read(&heads_path)
        .with_context(|| format!("cannot read {}", heads_path.display()))?;

    // The server needs only the heads, but when the edge file is there too it must be
    // the one the id names: otherwise browsers would make streams this server refuses.
    let edge_path = asset_path(assets, &entry.edge.path)?;
    match std::fs::read(&edge_path) {
        Ok(edge) => entry
            .verify_edge(&edge)
            .with_context(|| format!("{} does not match the manifest", edge_path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::warn!(path = %edge_path.display(), "edge weights absent; model id not cross-checked")
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", edge_path.display())),
    }

    // Size and sha256 against the manifest, then the architecture.
    let runtime = CloudRuntime::from_entry(entry, &heads, device).map_err(|e| match e {
        LoadError::Verify(e) => anyhow::Error::new(e).context(format!(
            "{} does not match the manifest",
            heads_path.display()
        )),
        LoadError::Weights(e) => anyhow::Error::new(e).context(format!(
            "{} does not fit the architecture in the manifest",
            heads_path.display()
        )),
    })?;
    let model = LoadedModel {
        entry: entry.clone(),
        runtime,
    };
    warm_up(&model).with_context(|| format!("self-test of {} failed", heads_path.display()))?;
    Ok(model)
}

/// A manifest path joined to the assets directory; absolute paths and `..` are
/// refused so that a manifest cannot point the server at files outside it.
fn asset_path(assets: &Path, relative: &str) -> Result<PathBuf> {
    let rel = Path::new(relative);
    ensure!(
        rel.components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir)),
        "manifest path {relative:?} must stay inside the assets directory"
    );
    Ok(assets.join(rel))
}

/// Runs one synthetic stream through the request path (decode, every head, the PNG
/// encoders). This pays the first-run costs before the first request and proves the
/// model works.
fn warm_up(model: &LoadedModel) -> Result<()> {
    let decoded = model
        .runtime
        .decode_request(&model.runtime.synthetic_stream())?;
    crate::infer::compute(model, &decoded, &InferOptions::default())?;
    Ok(())
}

/// The body of `GET /v1/models`, built once at start.
#[derive(Debug, Serialize)]
pub struct Catalog {
    pub models: Vec<ModelInfo>,
    pub tasks: [Task; 3],
    /// Segmentation classes by trainId, with their display colours (the legend).
    pub classes: &'static [ClassInfo],
}

#[derive(Debug, Serialize)]
pub struct ModelInfo {
    pub id: String,
    pub name: String,
    pub lambda: f32,
    pub bits: u8,
    pub preset: String,
    pub input: Size2,
    pub bottleneck: Shape3,
    /// URL of the edge weights (for the browser), with size and sha256 to check them.
    pub edge: WeightsInfo,
    pub train_steps: u64,
    pub eval: Option<splitfeat_core::evaluate::EvalReport>,
}

#[derive(Debug, Serialize)]
pub struct Size2 {
    pub width: usize,
    pub height: usize,
}

#[derive(Debug, Serialize)]
pub struct Shape3 {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

#[derive(Debug, Serialize)]
pub struct WeightsInfo {
    pub url: String,
    pub bytes: u64,
    pub sha256: String,
}

impl Catalog {
    pub fn new(models: &Models) -> Self {
        let mut list: Vec<ModelInfo> = models.values().map(|m| ModelInfo::new(&m.entry)).collect();
        // Lambda order is the order of the page's slider.
        list.sort_by(|a, b| {
            a.lambda
                .total_cmp(&b.lambda)
                .then_with(|| a.name.cmp(&b.name))
        });
        Catalog {
            models: list,
            tasks: Task::ALL,
            classes: &CLASSES,
        }
    }
}

impl ModelInfo {
    fn new(e: &ModelEntry) -> Self {
        let [channels, height, width] = e.config.bottleneck_shape();
        ModelInfo {
            id: e.id.clone(),
            name: e.name.clone(),
            lambda: e.lambda,
            bits: e.bits,
            preset: e.config.preset.name().to_string(),
            input: Size2 {
                width: e.config.input_width,
                height: e.config.input_height,
            },
            bottleneck: Shape3 {
                channels,
                height,
                width,
            },
            edge: WeightsInfo {
                url: format!("/assets/{}", e.edge.path.trim_start_matches("./")),
                bytes: e.edge.bytes,
                sha256: e.edge.sha256.clone(),
            },
            train_steps: e.train_steps,
            eval: e.eval.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_paths_stay_inside() {
        let a = Path::new("/srv/assets");
        assert_eq!(
            asset_path(a, "models/x/heads.bpk").unwrap(),
            a.join("models/x/heads.bpk")
        );
        assert!(asset_path(a, "../secret").is_err());
        assert!(asset_path(a, "/etc/passwd").is_err());
        assert!(asset_path(a, "models/../../x").is_err());
    }
}
