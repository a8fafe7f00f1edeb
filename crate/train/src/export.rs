//! `splitfeat export`: writes a checkpoint's edge and heads as separate weight files
//! into the assets directory and records them in the manifest.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, ensure};
use burn::prelude::*;
use splitfeat_core::model::{load_module_bytes, module_to_bytes};
use splitfeat_core::multitask::MultiTaskModel;
use splitfeat_core::quant::BitDepth;
use splitfeat_core::zoo::{
    MANIFEST_FILE, MANIFEST_VERSION, Manifest, ModelEntry, ModelId, WeightsFile,
};

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
    /// Also write the model's learned prior as the `prior` codec's tables
    /// (`models/NAME/prior.json`), for a checkpoint trained with one. Off by default:
    /// the shipped models code smaller with `ans` (docs/results.md, "Learned entropy
    /// model").
    #[arg(long)]
    pub with_prior: bool,
}

pub fn load_manifest(assets: &Path) -> Result<Manifest> {
    let path = assets.join(MANIFEST_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => Manifest::parse(&bytes).with_context(|| format!("reading {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest {
            version: MANIFEST_VERSION,
            models: vec![],
        }),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

pub fn save_manifest(assets: &Path, manifest: &Manifest) -> Result<()> {
    let mut json = serde_json::to_vec_pretty(manifest)?;
    json.push(b'\n');
    write_atomic(&assets.join(MANIFEST_FILE), &json)
}

/// Longest model name.
pub const MAX_NAME_LEN: usize = 64;

/// A model name is a directory under `assets/models/`: 1 to 64 of `A-Z a-z 0-9 . _ -`,
/// and not `.` or `..`.
pub fn check_model_name(name: &str) -> Result<()> {
    ensure!(
        (1..=MAX_NAME_LEN).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
            && name != "."
            && name != "..",
        "--name {:?}: a model name is 1 to {MAX_NAME_LEN} letters, digits, '-', '_' or '.', and not '.' or '..'",
        name.chars().take(80).collect::<String>()
    );
    Ok(())
}

pub fn run(args: &ExportArgs) -> Result<ModelEntry> {
    check_model_name(&args.name)?;
    // Verified on load: checksum, then every configuration value.
    let ckpt = Checkpoint::load(&args.checkpoint)?;
    let run = &ckpt.state.run;
    let device = Device::flex();
    let model = load_module_bytes(MultiTaskModel::new(&run.model, &device), &ckpt.model)?;
    let edge = module_to_bytes(&model.edge)?;
    let heads = module_to_bytes(&model.heads)?;
    let dir = format!("models/{}", args.name);
    let edge_path = format!("{dir}/edge.bpk");
    let heads_path = format!("{dir}/heads.bpk");
    let prior = match (&model.prior, args.with_prior) {
        (_, false) => None,
        (None, true) => anyhow::bail!(
            "--with-prior: {} was trained without a learned prior",
            args.checkpoint.display()
        ),
        (Some(prior), true) => {
            let json = prior.tables(run.model.quantizer, &device).to_json()?;
            let path = format!("{dir}/prior.json");
            write_atomic(&args.assets.join(&path), &json)?;
            Some(WeightsFile::describe(path, &json))
        }
    };
    write_atomic(&args.assets.join(&edge_path), &edge)?;
    write_atomic(&args.assets.join(&heads_path), &heads)?;
    let entry = ModelEntry {
        id: ModelId::of_edge(&edge),
        name: args.name.clone(),
        lambda: run.lambda,
        // The run keeps its depth as a number, checked when the checkpoint was read.
        bits: BitDepth::new(run.bits)?,
        config: run.model.clone(),
        edge: WeightsFile::describe(edge_path, &edge),
        heads: WeightsFile::describe(heads_path, &heads),
        prior,
        train_steps: ckpt.state.step,
        // Evaluate the exported files with `splitfeat eval --model NAME --record`.
        eval: None,
        check: None,
    };
    let mut manifest = load_manifest(&args.assets)?;
    manifest.models.retain(|m| m.name != entry.name);
    manifest.models.push(entry.clone());
    manifest.sort_by_lambda();
    save_manifest(&args.assets, &manifest)?;
    Ok(entry)
}

#[derive(Debug, Clone, clap::Args)]
pub struct PruneArgs {
    /// The models to keep, by name; every other model leaves the manifest and its
    /// weight files are deleted.
    #[arg(long, value_delimiter = ',', required = true)]
    pub keep: Vec<String>,
    /// Assets directory holding manifest.json.
    #[arg(long, default_value = "assets")]
    pub assets: PathBuf,
}

/// Removes every model not in `--keep` from the zoo, so that a remade zoo holds exactly
/// the models its command lists. The manifest is written first (atomically): a crash
/// after it leaves stray files, never a manifest naming missing ones. A kept name the
/// manifest lacks is an error and changes nothing (a typo must not empty the zoo).
/// Returns the names removed.
pub fn prune(args: &PruneArgs) -> Result<Vec<String>> {
    let mut manifest = load_manifest(&args.assets)?;
    for name in &args.keep {
        ensure!(
            manifest.models.iter().any(|m| &m.name == name),
            "--keep {name:?}: no such model in {}",
            args.assets.join(MANIFEST_FILE).display()
        );
    }
    let (kept, removed): (Vec<_>, Vec<_>) = std::mem::take(&mut manifest.models)
        .into_iter()
        .partition(|m| args.keep.contains(&m.name));
    manifest.models = kept;
    save_manifest(&args.assets, &manifest)?;
    // A file a kept model names stays, even if a removed one named it too.
    let kept_files: Vec<&String> = manifest
        .models
        .iter()
        .flat_map(|m| m.files().map(|f| &f.path))
        .collect();
    for entry in &removed {
        for file in entry.files().map(|f| &f.path) {
            if kept_files.contains(&file) {
                continue;
            }
            // Manifest paths were checked to stay inside the assets directory on load.
            let path = args.assets.join(file);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).with_context(|| format!("removing {}", path.display())),
            }
            // The model's directory goes once empty; a directory with other files stays.
            if let Some(dir) = path.parent() {
                let _ = std::fs::remove_dir(dir);
            }
        }
    }
    Ok(removed.into_iter().map(|m| m.name).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::CheckpointState;
    use splitfeat_core::model::{ModelConfig, Preset};

    /// A one-step checkpoint of `model` at `lambda` holding the record `model_bytes`.
    fn checkpoint(model: &ModelConfig, lambda: f32, model_bytes: Vec<u8>) -> Checkpoint {
        let run = serde_json::from_value(serde_json::json!({
            "model": model, "lambda": lambda, "bits": 8, "seed": 1, "steps": 1,
            "batch": 1, "lr": 1e-3, "warmup": 0, "final_lr_fraction": 0.1, "init_from": null,
        }))
        .unwrap();
        Checkpoint {
            state: CheckpointState { run, step: 1 },
            model: model_bytes,
            optimizer: vec![1; 16],
        }
    }

    #[test]
    fn names_are_restricted_to_a_safe_set() {
        for ok in ["tiny-l0", "tiny-l0.01", "A_b.9", "x"] {
            check_model_name(ok).unwrap();
        }
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "a/b",
            "a\\b",
            "é",
            "a b",
            &"x".repeat(65),
        ] {
            assert!(check_model_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_corrupted_checkpoint_is_refused_and_the_manifest_left_alone() {
        let dir = std::env::temp_dir().join(format!("splitfeat-export-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let assets = dir.join("assets");
        std::fs::create_dir_all(&assets).unwrap();
        let manifest = b"{\"version\": 1, \"models\": []}\n";
        std::fs::write(assets.join(MANIFEST_FILE), manifest).unwrap();
        let ckpt = checkpoint(&Preset::Test.config(), 0.0, vec![7; 64]);
        let path = dir.join("c.sfck");
        ckpt.save(&path).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        let n = bytes.len();
        // In the model record: before the checksum (32), the optimizer (16) and its
        // length (8).
        bytes[n - 32 - 16 - 8 - 10] ^= 0x10;
        std::fs::write(&path, &bytes).unwrap();

        let args = ExportArgs {
            checkpoint: path.clone(),
            name: "m".into(),
            assets: assets.clone(),
            with_prior: false,
        };
        let err = format!("{:#}", run(&args).unwrap_err());
        assert!(
            err.contains("corrupted") && err.contains(&path.display().to_string()),
            "{err}"
        );
        assert_eq!(std::fs::read(assets.join(MANIFEST_FILE)).unwrap(), manifest);
        assert!(!assets.join("models").exists());
        let args = ExportArgs {
            checkpoint: path,
            name: "..".into(),
            assets,
            with_prior: false,
        };
        assert!(run(&args).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn with_prior_the_tables_travel_with_the_exported_model() {
        let dir =
            std::env::temp_dir().join(format!("splitfeat-export-prior-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let assets = dir.join("assets");
        let device = Device::flex();
        let checkpoint = |learned_rate: bool| {
            let model = ModelConfig {
                learned_rate,
                ..Preset::Test.config()
            };
            let record = module_to_bytes(&MultiTaskModel::new(&model, &device)).unwrap();
            let ckpt = checkpoint(&model, 0.1, record);
            let path = dir.join(format!("learned-{learned_rate}.sfck"));
            ckpt.save(&path).unwrap();
            path
        };
        let export = |checkpoint, name: &str| {
            run(&ExportArgs {
                checkpoint,
                name: name.into(),
                assets: assets.clone(),
                with_prior: true,
            })
        };
        std::fs::create_dir_all(&dir).unwrap();
        let entry = export(checkpoint(true), "rate").unwrap();
        let file = entry.prior.clone().unwrap();
        assert_eq!(file.path, "models/rate/prior.json");
        let zoo = splitfeat_core::zoo::Zoo::open(&assets).unwrap();
        let tables = zoo.tables(zoo.find("rate").unwrap()).unwrap().unwrap();
        // A min-max model's prior: a set of tables for each depth of the evaluation grid.
        assert_eq!(tables.depths().len(), 7);

        let err = format!("{:#}", export(checkpoint(false), "plain").unwrap_err());
        assert!(err.contains("without a learned prior"), "{err}");
        // Refused before anything is written.
        let zoo = splitfeat_core::zoo::Zoo::open(&assets).unwrap();
        assert!(zoo.find("plain").is_err());
        assert!(!assets.join("models/plain").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn prune_keeps_the_named_models_and_deletes_the_others_files() {
        let dir = std::env::temp_dir().join(format!("splitfeat-prune-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let assets = dir.join("assets");
        let entry = |name: &str, lambda: f32| {
            let edge_path = format!("models/{name}/edge.bpk");
            let heads_path = format!("models/{name}/heads.bpk");
            std::fs::create_dir_all(assets.join(format!("models/{name}"))).unwrap();
            std::fs::write(assets.join(&edge_path), name.as_bytes()).unwrap();
            std::fs::write(assets.join(&heads_path), b"h").unwrap();
            ModelEntry {
                id: ModelId::of_edge(name.as_bytes()),
                name: name.into(),
                lambda,
                bits: BitDepth::new(8).unwrap(),
                config: splitfeat_core::model::Preset::Test.config(),
                edge: WeightsFile::describe(edge_path, name.as_bytes()),
                heads: WeightsFile::describe(heads_path, b"h"),
                prior: None,
                train_steps: 1,
                eval: None,
                check: None,
            }
        };
        let manifest = Manifest {
            version: MANIFEST_VERSION,
            models: vec![
                entry("a", 0.0),
                {
                    let mut b = entry("b", 0.1);
                    std::fs::write(assets.join("models/b/prior.json"), b"{}").unwrap();
                    b.prior = Some(WeightsFile::describe("models/b/prior.json".into(), b"{}"));
                    b
                },
                entry("c", 0.2),
                {
                    // Names a's heads file, as a hand-edited manifest might.
                    let mut d = entry("d", 0.3);
                    d.heads = WeightsFile::describe("models/a/heads.bpk".into(), b"h");
                    d
                },
            ],
        };
        save_manifest(&assets, &manifest).unwrap();

        let typo = PruneArgs {
            keep: vec!["a".into(), "x".into()],
            assets: assets.clone(),
        };
        let err = format!("{:#}", prune(&typo).unwrap_err());
        assert!(err.contains("\"x\""), "{err}");
        assert_eq!(load_manifest(&assets).unwrap().models.len(), 4);
        assert!(assets.join("models/b/edge.bpk").exists());

        let args = PruneArgs {
            keep: vec!["a".into(), "c".into()],
            assets: assets.clone(),
        };
        assert_eq!(
            prune(&args).unwrap(),
            vec!["b".to_string(), "d".to_string()]
        );
        let names: Vec<_> = load_manifest(&assets)
            .unwrap()
            .models
            .into_iter()
            .map(|m| m.name)
            .collect();
        assert_eq!(names, ["a", "c"]);
        // Its prior tables went with b's weights, and so did its directory.
        assert!(!assets.join("models/b").exists());
        assert!(!assets.join("models/d/edge.bpk").exists());
        assert!(
            assets.join("models/a/edge.bpk").exists()
                && assets.join("models/a/heads.bpk").exists()
                && assets.join("models/c/heads.bpk").exists()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
