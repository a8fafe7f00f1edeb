//! `splitfeat export`: writes a checkpoint's edge and heads as separate weight files
//! into the assets directory and records them in the manifest.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, ensure};
use burn::prelude::*;
use splitfeat_core::model::{load_module_bytes, module_to_bytes};
use splitfeat_core::multitask::MultiTaskModel;
use splitfeat_core::zoo::{MANIFEST_FILE, MANIFEST_VERSION, Manifest, ModelEntry, WeightsFile, model_id};

use crate::checkpoint::Checkpoint;
use crate::fsutil::write_atomic;

#[derive(Debug, Clone, clap::Args)]
pub struct ExportArgs {
    /// Checkpoint file (a run's checkpoint.sfck).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Name of the model in the zoo (directory under assets/models/).
    #[arg(long)]
    pub name: String,
    /// Assets directory holding manifest.json.
    #[arg(long, default_value = "assets")]
    pub assets: PathBuf,
}

pub fn load_manifest(assets: &Path) -> Result<Manifest> {
    let path = assets.join(MANIFEST_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => Manifest::parse(&bytes).with_context(|| format!("reading {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest { version: MANIFEST_VERSION, models: vec![] }),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

pub fn save_manifest(assets: &Path, manifest: &Manifest) -> Result<()> {
    let mut json = serde_json::to_vec_pretty(manifest)?;
    json.push(b'\n');
    write_atomic(&assets.join(MANIFEST_FILE), &json)
}

pub fn run(args: &ExportArgs) -> Result<ModelEntry> {
    ensure!(
        !args.name.is_empty() && args.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'),
        "--name must be letters, digits, '-', '_' or '.'"
    );
    let ckpt = Checkpoint::load(&args.checkpoint)?;
    let run = &ckpt.state.run;
    let device = Device::flex();
    let model = load_module_bytes(MultiTaskModel::new(&run.model, &device), &ckpt.model)?;
    let edge = module_to_bytes(&model.edge)?;
    let heads = module_to_bytes(&model.heads)?;
    let dir = format!("models/{}", args.name);
    let edge_path = format!("{dir}/edge.bpk");
    let heads_path = format!("{dir}/heads.bpk");
    write_atomic(&args.assets.join(&edge_path), &edge)?;
    write_atomic(&args.assets.join(&heads_path), &heads)?;
    let entry = ModelEntry {
        id: hex::encode(model_id(&edge)),
        name: args.name.clone(),
        lambda: run.lambda,
        bits: run.bits,
        config: run.model.clone(),
        edge: WeightsFile::describe(edge_path, &edge),
        heads: WeightsFile::describe(heads_path, &heads),
        train_steps: ckpt.state.step,
        // Evaluate the exported files with `splitfeat eval --model NAME --record`.
        eval: None,
        check: None,
    };
    let mut manifest = load_manifest(&args.assets)?;
    manifest.models.retain(|m| m.name != entry.name);
    manifest.models.push(entry.clone());
    manifest.models.sort_by(|a, b| a.lambda.total_cmp(&b.lambda).then(a.name.cmp(&b.name)));
    save_manifest(&args.assets, &manifest)?;
    Ok(entry)
}
