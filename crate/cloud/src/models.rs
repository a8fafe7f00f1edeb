//! The models the server runs: read once at start from the manifest, every file
//! verified against its sha256 (and the edge against the model id) before use, and
//! each model exercised once end to end so that a broken file stops start-up rather
//! than the first request.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, ensure};
use burn::prelude::Device;
use serde::Serialize;
use splitfeat_core::api::{InferOptions, InferResponse, planes};
use splitfeat_core::classes::{CLASSES, ClassInfo};
use splitfeat_core::quant::BitDepth;
use splitfeat_core::runtime::{CloudRuntime, Task};
use splitfeat_core::zoo::{MANIFEST_FILE, ModelEntry, ModelId, WeightsFile, Zoo, ZooError};

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
pub type Models = BTreeMap<ModelId, Arc<LoadedModel>>;

/// Opens the zoo in `assets` and loads the models named in `select` (by name or id),
/// or all of them. Every error names the file at fault.
pub fn load(assets: &Path, select: &[String], device: &Device) -> Result<Models> {
    let zoo = Zoo::open(assets).context("cannot read the model manifest")?;
    let manifest_path = assets.join(MANIFEST_FILE);
    let chosen: Vec<&ModelEntry> = if select.is_empty() {
        zoo.manifest().models.iter().collect()
    } else {
        select
            .iter()
            .map(|wanted| {
                zoo.find(wanted).map_err(|_| {
                    anyhow::anyhow!(
                        "--model {wanted:?}: no model of that name or id in {}",
                        manifest_path.display()
                    )
                })
            })
            .collect::<Result<_>>()?
    };
    ensure!(
        !chosen.is_empty(),
        "{} lists no models",
        manifest_path.display()
    );

    let mut models = Models::new();
    for entry in chosen {
        if models.contains_key(&entry.id) {
            continue; // named twice in `select` (the manifest's ids are unique)
        }
        let model = load_one(&zoo, entry, device)
            .with_context(|| format!("model {:?} ({})", entry.name, entry.id))?;
        models.insert(entry.id, Arc::new(model));
    }
    Ok(models)
}

fn load_one(zoo: &Zoo, entry: &ModelEntry, device: &Device) -> Result<LoadedModel> {
    // Size and sha256 against the manifest (its configuration was checked when the
    // zoo was opened).
    let heads_path = zoo.path(&entry.heads);
    let heads = zoo
        .heads(entry)
        .with_context(|| format!("{} does not match the manifest", heads_path.display()))?;

    // The server needs only the heads, but when the edge file is there too it must be
    // the one the id names: otherwise browsers would make streams this server refuses.
    match zoo.edge(entry) {
        Ok(_) => {}
        Err(ZooError::Missing { path }) => {
            tracing::warn!(path = %path, "edge weights absent; model id not cross-checked")
        }
        Err(e) => {
            let edge_path = zoo.path(&entry.edge);
            return Err(e)
                .with_context(|| format!("{} does not match the manifest", edge_path.display()));
        }
    }

    // The architecture.
    let mut runtime = CloudRuntime::load(entry.config.clone(), &heads, entry.id, device)
        .with_context(|| {
            format!(
                "{} does not fit the architecture in the manifest",
                heads_path.display()
            )
        })?;
    // The prior codec's tables, when the model ships them.
    if let Some(tables) = zoo.tables(entry)? {
        runtime = runtime.with_tables(tables)?;
    }
    let model = LoadedModel {
        entry: entry.clone(),
        runtime,
    };
    warm_up(&model).with_context(|| format!("self-test of {} failed", heads_path.display()))?;
    Ok(model)
}

/// Runs one synthetic stream through the request path (decode, every head, the PNG
/// encoders and the planes encoder). This pays the first-run costs before the first
/// request and proves the model works.
fn warm_up(model: &LoadedModel) -> Result<()> {
    let rt = &model.runtime;
    let decoded = rt.decode_request(&rt.synthetic_stream())?;
    // No clock: the self-test's timings are not reported.
    let (raw, mut timings) =
        futures_lite::future::block_on(rt.compute(&decoded, &InferOptions::default(), || 0.0))?;
    raw.to_json(&mut timings, || 0.0)?;
    let meta = InferResponse::new(
        &model.entry,
        rt,
        raw.tasks(),
        0,
        &decoded,
        timings,
        raw.meta(),
    );
    planes::encode(&meta, &raw)?;
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
    pub id: ModelId,
    pub name: String,
    pub lambda: f32,
    pub bits: BitDepth,
    pub preset: String,
    pub input: Size2,
    pub bottleneck: Shape3,
    /// URL of the edge weights (for the browser), with size and sha256 to check them.
    pub edge: WeightsInfo,
    /// URL of the `prior` codec's tables, when the model ships them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prior: Option<WeightsInfo>,
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
        let mut entries: Vec<&ModelEntry> = models.values().map(|m| &m.entry).collect();
        entries.sort_by(|a, b| ModelEntry::lambda_order(a, b));
        let list = entries.into_iter().map(ModelInfo::new).collect();
        Catalog {
            models: list,
            tasks: Task::ALL,
            classes: &CLASSES,
        }
    }
}

impl WeightsInfo {
    fn new(file: &WeightsFile) -> Self {
        WeightsInfo {
            url: format!("/assets/{}", file.path.trim_start_matches("./")),
            bytes: file.bytes,
            sha256: file.sha256.clone(),
        }
    }
}

impl ModelInfo {
    fn new(e: &ModelEntry) -> Self {
        let [channels, height, width] = e.config.bottleneck_shape();
        ModelInfo {
            id: e.id,
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
            edge: WeightsInfo::new(&e.edge),
            prior: e.prior.as_ref().map(WeightsInfo::new),
            train_steps: e.train_steps,
            eval: e.eval.clone(),
        }
    }
}
