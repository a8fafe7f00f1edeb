//! `splitfeat eval`: the validation scenes through edge, quantizer, tiling, each codec
//! setting and the heads; bytes/image, mIoU, disparity RMSE and PSNR per setting.

use std::path::PathBuf;

use anyhow::{Context, Result, bail, ensure};
use burn::prelude::*;
use indicatif::ProgressBar;
use splitfeat_core::codec::prior::ModelTables;
use splitfeat_core::evaluate::{CodedSetting, EvalReport, Evaluator};
use splitfeat_core::model::{ModelConfig, load_module_bytes, module_to_bytes};
use splitfeat_core::multitask::MultiTaskModel;
use splitfeat_core::quant::BitDepth;
use splitfeat_core::runtime::{CloudRuntime, EdgeRuntime};
use splitfeat_core::zoo::Zoo;
use splitfeat_data::{Dataset, SyntheticDataset};

use crate::checkpoint::Checkpoint;
use crate::export::{load_manifest, save_manifest};
use crate::fsutil::write_atomic;

/// The fair grid: the paper's codec settings (PNG, JPEG 95..80) and the entropy coder
/// at the deployed 8 bits, JPEG 70, 60 and 50, and the lossless
/// codecs at every bit depth from 7 down to 2, so each model's frontier over all the
/// settings of a family reaches from saturated accuracy down to where it falls.
pub const DEFAULT_CODECS: &str = "png,jpeg95,jpeg90,jpeg85,jpeg80,jpeg70,jpeg60,jpeg50,ans,\
     png@7,png@6,png@5,png@4,png@3,png@2,ans@7,ans@6,ans@5,ans@4,ans@3,ans@2";

/// Where `--record` stores a report in the model's manifest entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RecordSlot {
    /// `eval`: the benchmark (all validation scenes), shown by the page and the report.
    Eval,
    /// `check`: a short run the zoo test repeats to prove the weights still give the
    /// shipped numbers.
    Check,
}

#[derive(Debug, Clone, clap::Args)]
pub struct EvalArgs {
    /// Evaluate a training checkpoint...
    #[arg(long, conflicts_with = "model")]
    pub checkpoint: Option<PathBuf>,
    /// ...or a model of the zoo, by name or id.
    #[arg(long)]
    pub model: Option<String>,
    #[arg(long, default_value = "assets")]
    pub assets: PathBuf,
    /// Number of validation scenes (the benchmark is the first 500).
    #[arg(long, default_value_t = 500)]
    pub count: usize,
    /// Index of the first validation scene. The benchmark starts at 0; scenes 500..1000
    /// are a selection set, for choosing between runs (seeds, recipes) on scenes the
    /// reported benchmark does not contain.
    #[arg(long, default_value_t = 0, conflicts_with = "record")]
    pub first_scene: usize,
    /// Comma-separated codec settings: `png`, `ans`, `prior`, `jpeg<quality>`, each
    /// optionally `@<bits>` for another quantizer bit depth than --bits. A model with a
    /// learned prior adds the `prior` codec's settings to the default grid.
    #[arg(long, default_value = DEFAULT_CODECS)]
    pub codecs: String,
    /// Main quantizer bit depth (the deployed one), 2..=16.
    #[arg(long, default_value_t = BitDepth::EIGHT)]
    pub bits: BitDepth,
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// Write the report here (JSON); it is always printed as a table.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Compute device.
    #[arg(long, value_enum, default_value_t = crate::device::ComputeDevice::Flex)]
    pub device: crate::device::ComputeDevice,
    /// Quantize with this range rule instead of the checkpoint's (e.g. `q999` for a
    /// learned-rate model, to give it the baseline's bit-depth settings too).
    #[arg(long, requires = "checkpoint")]
    pub range: Option<splitfeat_core::quant::RangeRule>,
    /// Store the report in the manifest entry of the --model evaluated (`eval` by
    /// default, or `check`).
    #[arg(long, requires = "model", value_enum, num_args = 0..=1, default_missing_value = "eval")]
    pub record: Option<RecordSlot>,
}

/// Edge and cloud runtimes, built from weight bytes exactly as deployment builds them.
pub fn runtimes(
    config: &ModelConfig,
    edge: &[u8],
    heads: &[u8],
    device: &Device,
) -> Result<(EdgeRuntime, CloudRuntime)> {
    let edge = EdgeRuntime::load(config.clone(), edge, device)?;
    let cloud = CloudRuntime::load(config.clone(), heads, edge.model_id, device)?;
    Ok((edge, cloud))
}

fn load(args: &EvalArgs, device: &Device) -> Result<(EdgeRuntime, CloudRuntime)> {
    match (&args.checkpoint, &args.model) {
        (Some(path), None) => {
            let ckpt = Checkpoint::load(path)?;
            let config = ckpt.state.run.model.clone();
            let model = load_module_bytes(MultiTaskModel::new(&config, device), &ckpt.model)?;
            // The network is the checkpoint's; only the quantizer's rule may be overridden.
            let config = ModelConfig {
                quantizer: args.range.unwrap_or(config.quantizer),
                ..config
            };
            let (edge, cloud) = runtimes(
                &config,
                &module_to_bytes(&model.edge)?,
                &module_to_bytes(&model.heads)?,
                device,
            )?;
            // The tables are the trained rule's; another rule has no use for them.
            let trained = ckpt.state.run.model.quantizer;
            match model
                .prior
                .as_ref()
                .filter(|_| args.range.is_none_or(|r| r == trained))
            {
                Some(prior) => {
                    let tables = prior.tables(config.quantizer, device);
                    Ok((
                        edge.with_tables(tables.clone())?,
                        cloud.with_tables(tables)?,
                    ))
                }
                None => Ok((edge, cloud)),
            }
        }
        (None, Some(name)) => {
            let zoo = Zoo::open(&args.assets)?;
            let entry = zoo
                .find(name)
                .with_context(|| format!("in {}", args.assets.display()))?;
            let weights = zoo.weights(entry)?;
            let (edge, cloud) = runtimes(&entry.config, &weights.edge, &weights.heads, device)?;
            match zoo.tables(entry)? {
                Some(tables) => Ok((
                    edge.with_tables(tables.clone())?,
                    cloud.with_tables(tables)?,
                )),
                None => Ok((edge, cloud)),
            }
        }
        _ => bail!("pass exactly one of --checkpoint or --model"),
    }
}

/// The `prior` codec at the main depth and at depths where it saturates: added to
/// the default grid for fixed-step models, whose one set of tables serves every depth.
pub const PRIOR_CODECS: &str = "prior,prior@6,prior@5,prior@4,prior@3";

/// The `prior` settings a model's tables allow: every depth that has its own tables
/// (the main depth by the codec's plain name), or [`PRIOR_CODECS`].
pub fn prior_settings(tables: &ModelTables, main_bits: BitDepth) -> String {
    let depths = tables.depths();
    if depths.is_empty() {
        return PRIOR_CODECS.to_string();
    }
    let mut depths = depths;
    depths.sort_unstable_by(|a, b| b.cmp(a));
    depths
        .iter()
        .map(|&b| match b == main_bits {
            true => "prior".to_string(),
            false => format!("prior@{b}"),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Parses a comma-separated list of settings (see [`CodedSetting::parse`]).
pub fn parse_settings(list: &str, main_bits: BitDepth) -> Result<Vec<CodedSetting>> {
    let settings = list
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| CodedSetting::parse(s, main_bits))
        .collect::<Result<Vec<_>, _>>()?;
    ensure!(!settings.is_empty(), "--codecs lists no setting");
    Ok(settings)
}

/// Evaluates on the validation scenes `scenes` (the benchmark is `0..500`).
pub fn evaluate(
    edge: &EdgeRuntime,
    cloud: &CloudRuntime,
    settings: &[CodedSetting],
    bits: BitDepth,
    scenes: std::ops::Range<usize>,
    batch: usize,
    bar: &ProgressBar,
) -> Result<EvalReport> {
    ensure!(batch >= 1, "--batch must be at least 1");
    let (h, w) = (
        edge.config.input_height as u32,
        edge.config.input_width as u32,
    );
    ensure!(!scenes.is_empty(), "no validation scene to evaluate");
    let data = SyntheticDataset::new(splitfeat_data::Split::Val, scenes.end, w, h)?;
    let mut ev = Evaluator::new(edge, settings, bits);
    let first_scene = scenes.start;
    let indices: Vec<usize> = scenes.collect();
    for chunk in indices.chunks(batch) {
        let samples = data.get_many(chunk)?;
        let (rgb, labels, disparity) = splitfeat_data::Sample::pack(&samples);
        ev.add_batch(edge, cloud, &rgb, &labels, &disparity, samples.len())?;
        bar.inc(samples.len() as u64);
    }
    Ok(EvalReport {
        first_scene,
        ..ev.finish(edge.feature_shape().len())?
    })
}

pub fn print_report(report: &EvalReport) {
    println!(
        "model {} on {} validation scenes, {}-bit features",
        report.model_id, report.images, report.bits
    );
    println!(
        "{:<8} {:>12} {:>10} {:>8} {:>10} {:>9}",
        "setting", "bytes/image", "bits/elem", "mIoU", "disp RMSE", "PSNR dB"
    );
    for r in &report.results {
        println!(
            "{:<8} {:>12.1} {:>10.3} {:>8.4} {:>10.3} {:>9.2}",
            r.setting, r.bytes_per_image, r.bits_per_element, r.miou, r.disparity_rmse, r.psnr_db
        );
    }
    println!("majority-class mIoU: {:.4}", report.majority_class_miou);
}

pub fn run(args: &EvalArgs) -> Result<EvalReport> {
    ensure!(args.count >= 1, "--count must be at least 1");
    let device = args.device.device()?;
    let (edge, cloud) = load(args, &device)?;
    let codecs = match (&edge.tables, args.codecs == DEFAULT_CODECS) {
        (Some(tables), true) => format!("{DEFAULT_CODECS},{}", prior_settings(tables, args.bits)),
        _ => args.codecs.clone(),
    };
    let settings = parse_settings(&codecs, args.bits)?;
    let bar = ProgressBar::new(args.count as u64);
    let scenes = args.first_scene..args.first_scene.saturating_add(args.count);
    let report = evaluate(
        &edge, &cloud, &settings, args.bits, scenes, args.batch, &bar,
    )?;
    bar.finish_and_clear();
    print_report(&report);
    if let Some(out) = &args.out {
        write_atomic(out, &serde_json::to_vec_pretty(&report)?)?;
    }
    if let Some(slot) = args.record {
        let mut manifest = load_manifest(&args.assets)?;
        let entry = manifest
            .models
            .iter_mut()
            .find(|m| m.id == report.model_id)
            .context("the evaluated model is no longer in the manifest")?;
        let value = Some(report.clone());
        match slot {
            RecordSlot::Eval => entry.eval = value,
            RecordSlot::Check => entry.check = value,
        }
        save_manifest(&args.assets, &manifest)?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use splitfeat_core::codec::prior::{DepthTables, PriorTables};

    #[test]
    fn prior_settings_follow_the_tables_depths() {
        let set = |b: u8| DepthTables {
            bits: BitDepth::new(b).unwrap(),
            tables: PriorTables::from_probabilities(&[vec![1.0]]),
        };
        let per_depth = ModelTables::PerDepth(vec![set(4), set(8), set(2)]);
        assert_eq!(
            prior_settings(&per_depth, BitDepth::EIGHT),
            "prior,prior@4,prior@2"
        );
        // Every listed setting parses, at the depth it names.
        let parsed = parse_settings(
            &prior_settings(&per_depth, BitDepth::EIGHT),
            BitDepth::EIGHT,
        )
        .unwrap();
        let names: Vec<String> = parsed.iter().map(|s| s.label(BitDepth::EIGHT)).collect();
        assert_eq!(names, ["prior", "prior@4", "prior@2"]);
        let any = ModelTables::from(PriorTables::from_probabilities(&[vec![1.0]]));
        assert_eq!(prior_settings(&any, BitDepth::EIGHT), PRIOR_CODECS);
    }
}
