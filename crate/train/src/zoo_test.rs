//! The shipped zoo against its manifest: every model's files match their sha256, and
//! re-evaluating each on the check scenes gives the numbers the manifest records, so
//! shipped figures cannot drift from the shipped weights.

use std::path::PathBuf;

use burn::prelude::*;
use indicatif::ProgressBar;
use splitfeat_core::evaluate::{CodedSetting, EvalReport, SettingResult};

use crate::eval::{evaluate, runtimes};
use splitfeat_core::zoo::Zoo;

/// Settings re-run per model (a subset of what the check recorded, to keep CI short):
/// both lossless codecs and one JPEG quality.
const SETTINGS: [&str; 3] = ["png", "ans", "jpeg90"];

/// Relative tolerance on every figure: the same weights on the same code give the same
/// numbers up to float summation order.
const TOLERANCE: f64 = 1e-3;

/// The whole assets directory stays small enough to clone and serve.
const ASSETS_BUDGET_BYTES: u64 = 25 * 1000 * 1000;

fn assets() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets")
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= TOLERANCE * a.abs().max(b.abs()).max(1e-9)
}

fn dir_size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let meta = e.metadata().unwrap();
            if meta.is_dir() {
                dir_size(&e.path())
            } else {
                meta.len()
            }
        })
        .sum()
}

#[test]
fn shipped_models_reproduce_their_manifest_numbers() {
    let assets = assets();
    let zoo = Zoo::open(&assets).unwrap();
    let manifest = zoo.manifest();
    assert!(
        manifest.models.iter().any(|m| m.lambda == 0.0),
        "no baseline (lambda 0)"
    );
    // The page's slider needs stops from "no visible loss" to "clearly cheaper".
    assert!(
        manifest.models.iter().filter(|m| m.lambda > 0.0).count() >= 3,
        "the zoo ships a baseline and at least three lambdas"
    );
    let device = Device::flex();
    for entry in &manifest.models {
        let weights = zoo
            .weights(entry)
            .unwrap_or_else(|e| panic!("{}: {e}", entry.name));
        let (edge, heads) = (weights.edge, weights.heads);
        assert!(
            entry.eval.is_some(),
            "{}: no benchmark evaluation",
            entry.name
        );
        let check: &EvalReport = entry
            .check
            .as_ref()
            .unwrap_or_else(|| panic!("{}: no check", entry.name));
        assert_eq!(check.model_id, entry.id);

        let settings: Vec<CodedSetting> = SETTINGS
            .iter()
            .map(|s| CodedSetting::parse(s, check.bits).unwrap())
            .collect();
        let (edge_rt, cloud_rt) = runtimes(&entry.config, &edge, &heads, &device).unwrap();
        let now = evaluate(
            &edge_rt,
            &cloud_rt,
            &settings,
            check.bits,
            0..check.images,
            8,
            &ProgressBar::hidden(),
        )
        .unwrap();
        let recorded = |label: &str| -> &SettingResult {
            check
                .results
                .iter()
                .find(|r| r.setting == label)
                .unwrap_or_else(|| panic!("{}: check has no {label}", entry.name))
        };
        for got in &now.results {
            let want = recorded(&got.setting);
            for (what, a, b) in [
                ("bytes/image", got.bytes_per_image, want.bytes_per_image),
                ("mIoU", got.miou, want.miou),
                ("disparity RMSE", got.disparity_rmse, want.disparity_rmse),
                ("PSNR", got.psnr_db, want.psnr_db),
            ] {
                assert!(
                    close(a, b),
                    "{} {}: {what} is {a}, the manifest says {b}",
                    entry.name,
                    got.setting
                );
            }
        }
    }
    let size = dir_size(&assets);
    assert!(
        size < ASSETS_BUDGET_BYTES,
        "assets/ holds {size} bytes, over the {ASSETS_BUDGET_BYTES} budget"
    );
}

#[test]
fn tolerance_is_relative() {
    assert!(close(1000.0, 1000.9));
    assert!(!close(1000.0, 1001.5));
    assert!(close(0.0, 0.0));
}

#[test]
fn the_shipped_manifest_round_trips_through_its_typed_records() {
    // Evaluations are typed (`EvalReport`): reading and re-writing the manifest, as
    // `eval --record` and `export` do, must keep every field and value of the
    // evaluations (key order may change: they were written with sorted keys).
    let bytes = std::fs::read(assets().join(splitfeat_core::zoo::MANIFEST_FILE)).unwrap();
    let manifest = Zoo::open(assets()).unwrap().into_manifest();
    let shipped: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    for (i, entry) in manifest.models.iter().enumerate() {
        for (field, typed) in [("eval", &entry.eval), ("check", &entry.check)] {
            let again = serde_json::to_value(typed).unwrap();
            let before = shipped["models"][i]
                .get(field)
                .cloned()
                .unwrap_or(serde_json::Value::Null);
            assert!(
                again == before,
                "{}: the typed {field} record differs from the shipped one",
                entry.name
            );
        }
    }
}
