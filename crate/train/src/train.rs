//! `splitfeat train`: the training loop (Adam, warmup + cosine learning rate),
//! deterministic from the seed, checkpointed atomically and resumable bit-exactly.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::Bytes;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use splitfeat_core::model::{Preset, load_module_bytes, module_to_bytes};
use splitfeat_core::multitask::{Batch, MultiTaskModel, Objective, forward_loss};
use splitfeat_core::quant::RangeRule;
use splitfeat_data::{Sample, Split, render_batch};

use crate::checkpoint::{Checkpoint, CheckpointState, RunConfig};
use crate::device::ComputeDevice;
use crate::fsutil::write_atomic;

pub const CHECKPOINT_FILE: &str = "checkpoint.sfck";
pub const METRICS_FILE: &str = "metrics.jsonl";
/// Steps of a new run when --steps is not given.
pub const DEFAULT_STEPS: u64 = 2000;

#[derive(Debug, Clone, clap::Args)]
pub struct TrainArgs {
    /// Run directory: checkpoint, metrics.jsonl and config.json go here.
    #[arg(long)]
    pub out: PathBuf,
    /// Architecture preset (paper, tiny, test).
    #[arg(long, default_value = "tiny")]
    pub preset: Preset,
    /// Weight of the compressibility loss (0 = baseline).
    #[arg(long, default_value_t = 0.0)]
    pub lambda: f32,
    /// Total optimizer steps of the run [default: 2000 for a new run; with --resume,
    /// the run's own, and a larger value extends it].
    #[arg(long)]
    pub steps: Option<u64>,
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// Peak learning rate (Adam).
    #[arg(long, default_value_t = 2e-3)]
    pub lr: f64,
    /// Linear warmup steps.
    #[arg(long, default_value_t = 100)]
    pub warmup: u64,
    /// The cosine schedule ends at this fraction of the peak learning rate.
    #[arg(long, default_value_t = 0.05)]
    pub final_lr_fraction: f64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Quantizer bit depth (the compressibility loss's unit, and the Q-layer noise
    /// unless --noise-bits is given).
    #[arg(long, default_value_t = 8)]
    pub bits: u8,
    /// Bit depths of the Q-layer noise, comma-separated; each step draws one (e.g.
    /// `3,4,5,6,7,8` trains for every depth of the evaluation grid).
    #[arg(long, value_delimiter = ',')]
    pub noise_bits: Vec<u8>,
    /// The quantizer's range rule, stored with the model: `minmax` (the paper's),
    /// `q<per mille>`, a quantile with saturation above it (e.g. `q999`), or
    /// `step<size>`, a fixed step in feature units (e.g. `step0.05`), which trains a
    /// learned entropy model and makes lambda weigh the rate in bits per element.
    #[arg(long, default_value = "minmax")]
    pub range: RangeRule,
    /// Measure the compressibility loss in a range that passes no gradient (implied
    /// by a quantile range).
    #[arg(long)]
    pub detach_range: bool,
    /// Train the rate in bits under a learned prior of the features at the model's own
    /// quantizer (the range rule of --range at each step's noise depth) instead of the
    /// paper's compressibility loss; lambda then weighs bits per element. Implied by a
    /// `step<size>` range.
    #[arg(long)]
    pub learned_rate: bool,
    /// Raise lambda linearly from 0 over this many steps.
    #[arg(long, default_value_t = 0)]
    pub lambda_ramp: u64,
    /// Fixed priority of segmentation, disparity and reconstruction on top of the
    /// learned uncertainty weights (e.g. `3,1,1` gives segmentation three times the say
    /// against the other tasks and the rate term).
    #[arg(long, value_delimiter = ',', default_values_t = [1.0, 1.0, 1.0])]
    pub task_priorities: Vec<f32>,
    /// Compute device.
    #[arg(long, value_enum, default_value_t = ComputeDevice::Flex)]
    pub device: ComputeDevice,
    /// Start from the weights of this checkpoint (lambda fine-tunes); fresh optimizer.
    #[arg(long)]
    pub init_from: Option<PathBuf>,
    /// Continue the run in --out from its checkpoint. The run's settings come from the
    /// checkpoint; only --steps may be raised to extend it.
    #[arg(long)]
    pub resume: bool,
    #[arg(long, default_value_t = 100)]
    pub checkpoint_every: u64,
    #[arg(long, default_value_t = 10)]
    pub log_every: u64,
    /// Stop (with a checkpoint) after this many steps of this invocation.
    #[arg(long)]
    pub max_steps_this_run: Option<u64>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// One line of metrics.jsonl.
#[derive(Debug, Serialize)]
struct MetricsLine {
    step: u64,
    lr: f64,
    total: f32,
    segmentation: f32,
    disparity: f32,
    reconstruction: f32,
    compressibility: f32,
    log_vars: Vec<f32>,
    seconds_per_step: f64,
}

#[derive(Debug, Clone)]
pub struct TrainSummary {
    pub steps_done: u64,
    pub last_total_loss: f32,
    pub first_total_loss: Option<f32>,
    pub interrupted: bool,
}

/// Learning rate at `step`: linear warmup, then cosine decay to
/// `final_lr_fraction * lr` at the last step.
pub fn learning_rate(run: &RunConfig, step: u64) -> f64 {
    if step < run.warmup {
        return run.lr * (step + 1) as f64 / run.warmup as f64;
    }
    let span = run.steps.saturating_sub(run.warmup).max(1) as f64;
    let t = ((step - run.warmup) as f64 / span).min(1.0);
    let floor = run.final_lr_fraction;
    run.lr * (floor + (1.0 - floor) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos()))
}

pub(crate) fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE5_E9B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Scene seeds of the batch at `step`: a pure function of the run seed and the step, so a
/// resumed run sees exactly the data an uninterrupted one would.
pub fn batch_seeds(run: &RunConfig, step: u64) -> Vec<u64> {
    (0..run.batch as u64)
        .map(|i| {
            let index = splitmix64(run.seed ^ splitmix64(step * run.batch as u64 + i)) % (1 << 40);
            Split::Train
                .seed(index as usize)
                .unwrap_or(Split::Train.first_seed())
        })
        .collect()
}

/// Renders batches ahead of the training loop on a background thread.
fn spawn_prefetch(run: &RunConfig, start: u64, end: u64) -> Receiver<Result<Vec<Sample>>> {
    let (tx, rx) = sync_channel(2);
    let run = run.clone();
    std::thread::spawn(move || {
        for step in start..end {
            let seeds = batch_seeds(&run, step);
            let batch = render_batch(
                &seeds,
                run.model.input_width as u32,
                run.model.input_height as u32,
            )
            .map_err(anyhow::Error::from);
            if tx.send(batch).is_err() {
                return;
            }
        }
    });
    rx
}

pub(crate) fn to_batch(samples: &[Sample], device: &Device) -> Batch {
    let (h, w) = (samples[0].height as usize, samples[0].width as usize);
    let (rgb, labels, disparity) = Sample::pack(samples);
    Batch::from_packed(&rgb, &labels, &disparity, samples.len(), h, w, device)
}

fn scalar(t: &Tensor<1>) -> f32 {
    t.clone().into_scalar::<f32>()
}

/// The run settings from the command line (for a new run).
fn run_config(args: &TrainArgs) -> Result<RunConfig> {
    let mut model = args.preset.config();
    model.quantizer = args.range;
    model.learned_rate = args.learned_rate;
    model.validate().map_err(anyhow::Error::msg)?;
    ensure!(args.batch >= 1, "--batch must be at least 1");
    let steps = args.steps.unwrap_or(DEFAULT_STEPS);
    ensure!(steps >= 1, "--steps must be at least 1");
    ensure!(
        args.lr > 0.0 && args.lr.is_finite(),
        "--lr must be positive"
    );
    ensure!(
        args.lambda >= 0.0 && args.lambda.is_finite(),
        "--lambda must be >= 0"
    );
    splitfeat_core::quant::check_bits(args.bits)?;
    for &b in &args.noise_bits {
        splitfeat_core::quant::check_bits(b)?;
    }
    let task_priorities: [f32; 3] = args.task_priorities.as_slice().try_into().map_err(|_| {
        anyhow::anyhow!(
            "--task-priorities takes 3 values (segmentation, disparity, reconstruction), got {}",
            args.task_priorities.len()
        )
    })?;
    let run = RunConfig {
        model,
        lambda: args.lambda,
        bits: args.bits,
        seed: args.seed,
        steps,
        batch: args.batch,
        lr: args.lr,
        warmup: args.warmup,
        final_lr_fraction: args.final_lr_fraction,
        init_from: args.init_from.as_ref().map(|p| p.display().to_string()),
        noise_bits: args.noise_bits.clone(),
        detach_range: args.detach_range || !args.range.is_min_max(),
        lambda_ramp: args.lambda_ramp,
        task_priorities,
    };
    run.validate().context("run settings")?;
    Ok(run)
}

/// The objective of the step at `step`: lambda on its ramp, the noise's bit depth drawn
/// from the run's list by a pure function of the seed and the step (so a resumed run
/// draws the same depths).
pub fn objective_at(run: &RunConfig, step: u64) -> Objective {
    let ramp = if run.lambda_ramp == 0 {
        1.0
    } else {
        ((step + 1) as f32 / run.lambda_ramp as f32).min(1.0)
    };
    let noise_bits = match run.noise_bits.len() {
        0 => run.bits,
        n => run.noise_bits[(splitmix64(run.seed.wrapping_add(0x5EED) ^ step) % n as u64) as usize],
    };
    Objective {
        lambda: run.lambda * ramp,
        loss_bits: run.bits,
        noise_bits,
        range: run.model.quantizer,
        detach_range: run.detach_range,
        task_priorities: run.task_priorities,
    }
}

/// Keeps the metrics lines of steps up to `step` (drops what a killed run logged after
/// its last checkpoint).
fn truncate_metrics(path: &Path, step: u64) -> Result<()> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(());
    };
    let kept: String = text
        .lines()
        .filter(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .ok()
                .and_then(|v| v.get("step").and_then(|s| s.as_u64()))
                .is_some_and(|s| s <= step)
        })
        .map(|l| format!("{l}\n"))
        .collect();
    write_atomic(path, kept.as_bytes())
}

pub fn run(args: &TrainArgs, stop: Arc<AtomicBool>) -> Result<TrainSummary> {
    let ckpt_path = args.out.join(CHECKPOINT_FILE);
    let device = args.device.training_device()?;
    let (run, start_step, model, optimizer) = if args.resume {
        let ckpt = Checkpoint::load(&ckpt_path)?;
        let mut run = ckpt.state.run.clone();
        if let Some(steps) = args.steps.filter(|&s| s > run.steps) {
            run.steps = steps;
        }
        let model = load_module_bytes(MultiTaskModel::new(&run.model, &device), &ckpt.model)?;
        let optimizer = AdamConfig::new()
            .init()
            .from_bytes(Bytes::from_bytes_vec(ckpt.optimizer))
            .map_err(|e| anyhow::anyhow!("optimizer state: {e}"))?;
        truncate_metrics(&args.out.join(METRICS_FILE), ckpt.state.step)?;
        (run, ckpt.state.step, model, optimizer)
    } else {
        if ckpt_path.exists() {
            bail!(
                "{} already holds a run; pass --resume to continue it or choose another --out",
                args.out.display()
            );
        }
        let run = run_config(args)?;
        device.seed(run.seed);
        let mut model = MultiTaskModel::initialized(&run.model, &device);
        let mut fresh_prior = model.prior.is_some();
        if let Some(init) = &args.init_from {
            let source = Checkpoint::load(init)?;
            ensure!(
                source.state.run.model.same_network(&run.model),
                "--init-from {} is a {} model, this run is {}",
                init.display(),
                source.state.run.model.preset,
                run.model.preset
            );
            // The source's own architecture (a paper-method base has no prior); a run
            // with a learned rate keeps the source's prior if it has one, else starts
            // its fresh one.
            let mut loaded = load_module_bytes(
                MultiTaskModel::new(&source.state.run.model, &device),
                &source.model,
            )?;
            fresh_prior &= loaded.prior.is_none();
            loaded.prior = if run.model.has_prior() {
                loaded.prior.or(model.prior)
            } else {
                None
            };
            model = loaded;
        }
        if fresh_prior {
            let (first, last) = crate::prior_fit::fit_prior(
                &mut model,
                &run,
                crate::prior_fit::FIT_STEPS,
                crate::prior_fit::FIT_LR,
                &device,
            )?;
            if !args.quiet {
                eprintln!("prior warm start: {first:.3} -> {last:.3} bits per element");
            }
        }
        std::fs::create_dir_all(&args.out)?;
        write_atomic(
            &args.out.join("config.json"),
            &serde_json::to_vec_pretty(&run)?,
        )?;
        let _ = std::fs::remove_file(args.out.join(METRICS_FILE));
        (run, 0, model, AdamConfig::new().init())
    };
    train_loop(args, &run, start_step, model, optimizer, &device, stop)
}

fn train_loop(
    args: &TrainArgs,
    run: &RunConfig,
    start_step: u64,
    mut model: MultiTaskModel,
    mut optimizer: burn::optim::ModuleOptimizer,
    device: &Device,
    stop: Arc<AtomicBool>,
) -> Result<TrainSummary> {
    let end = match args.max_steps_this_run {
        Some(n) => (start_step + n).min(run.steps),
        None => run.steps,
    };
    let data = spawn_prefetch(run, start_step, end);
    let mut metrics = OpenOptions::new()
        .create(true)
        .append(true)
        .open(args.out.join(METRICS_FILE))
        .context("opening metrics.jsonl")?;
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(run.steps)
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} {per_sec} eta {eta} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_position(start_step);
    let save = |model: &MultiTaskModel,
                optimizer: &burn::optim::ModuleOptimizer,
                step: u64|
     -> Result<()> {
        let ckpt = Checkpoint {
            state: CheckpointState {
                run: run.clone(),
                step,
            },
            model: module_to_bytes(model)?,
            optimizer: optimizer
                .into_bytes()
                .map_err(|e| anyhow::anyhow!("optimizer state: {e}"))?
                .to_vec(),
        };
        ckpt.save(&args.out.join(CHECKPOINT_FILE))
    };

    let mut summary = TrainSummary {
        steps_done: start_step,
        last_total_loss: f32::NAN,
        first_total_loss: None,
        interrupted: false,
    };
    let mut window = Instant::now();
    for step in start_step..end {
        if stop.load(Ordering::SeqCst) {
            summary.interrupted = true;
            break;
        }
        let samples = data.recv().context("data thread stopped")??;
        let batch = to_batch(&samples, device);
        // Noise of the Q-layer: seeded per step so a resumed run draws the same noise.
        device.seed(splitmix64(run.seed.wrapping_add(0xA5A5) ^ step));
        let loss = forward_loss(&model, &batch, &objective_at(run, step));
        let total = scalar(&loss.total);
        ensure!(total.is_finite(), "loss became {total} at step {step}");
        let tasks: Vec<f32> = loss.tasks.iter().map(scalar).collect();
        let compressibility = scalar(&loss.compressibility);
        let lr = learning_rate(run, step);
        let grads = GradientsParams::from_grads(loss.total.backward(), &model);
        model = optimizer.step(lr, model, grads);
        summary.steps_done = step + 1;
        summary.last_total_loss = total;
        summary.first_total_loss.get_or_insert(total);
        bar.set_message(format!(
            "loss {total:.3} seg {:.3} disp {:.3} rec {:.4} Lc {compressibility:.2}",
            tasks[0], tasks[1], tasks[2]
        ));
        bar.inc(1);
        if (step + 1) % args.log_every == 0 || step + 1 == end {
            let secs =
                window.elapsed().as_secs_f64() / args.log_every.min(step + 1 - start_step) as f64;
            window = Instant::now();
            let log_vars = model
                .weights
                .log_vars
                .val()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap_or_default();
            let line = MetricsLine {
                step: step + 1,
                lr,
                total,
                segmentation: tasks[0],
                disparity: tasks[1],
                reconstruction: tasks[2],
                compressibility,
                log_vars,
                seconds_per_step: secs,
            };
            writeln!(metrics, "{}", serde_json::to_string(&line)?)?;
        }
        if (step + 1) % args.checkpoint_every == 0 || step + 1 == end {
            save(&model, &optimizer, step + 1)?;
        }
    }
    if summary.interrupted {
        save(&model, &optimizer, summary.steps_done)?;
        bar.abandon_with_message(format!(
            "interrupted at step {}; checkpoint saved, continue with --resume",
            summary.steps_done
        ));
    } else {
        bar.finish();
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(out: &Path, steps: u64) -> TrainArgs {
        TrainArgs {
            out: out.to_path_buf(),
            preset: Preset::Test,
            lambda: 0.01,
            steps: Some(steps),
            batch: 2,
            lr: 3e-3,
            warmup: 2,
            final_lr_fraction: 0.1,
            seed: 7,
            bits: 8,
            noise_bits: Vec::new(),
            range: RangeRule::MinMax,
            detach_range: false,
            learned_rate: false,
            lambda_ramp: 0,
            task_priorities: vec![1.0; 3],
            device: ComputeDevice::Flex,
            init_from: None,
            resume: false,
            checkpoint_every: 100,
            log_every: 1,
            max_steps_this_run: None,
            quiet: true,
        }
    }

    /// Every float parameter's values, in module order.
    fn param_values(record: &[u8]) -> Vec<Vec<f32>> {
        param_values_of(&Preset::Test.config(), record)
    }

    /// [`param_values`] of a model of `config`.
    fn param_values_of(
        config: &splitfeat_core::model::ModelConfig,
        record: &[u8],
    ) -> Vec<Vec<f32>> {
        let device = Device::flex();
        let model = load_module_bytes(MultiTaskModel::new(config, &device), record).unwrap();
        float_values(&model)
    }

    /// Every float parameter's values of a module, in module order.
    fn float_values<M: burn::module::Module>(module: &M) -> Vec<Vec<f32>> {
        struct Collect(Vec<Vec<f32>>);
        impl burn::module::ModuleVisitor for Collect {
            fn visit_float<const D: usize>(&mut self, p: &burn::module::Param<Tensor<D>>) {
                self.0
                    .push(p.val().into_data().try_to_vec::<f32>().unwrap());
            }
        }
        let mut c = Collect(Vec::new());
        module.visit(&mut c);
        c.0
    }

    /// The device RNG is process-global: tests that train take turns, or one test's
    /// initialisation would draw from another's seed.
    static DEVICE_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn serial() -> std::sync::MutexGuard<'static, ()> {
        DEVICE_RNG.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("splitfeat-train-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn a_fresh_network_depends_on_the_seed_alone() {
        let _guard = serial();
        let device = Device::flex();
        let plain = Preset::Test.config();
        let with_prior = splitfeat_core::model::ModelConfig {
            learned_rate: true,
            ..plain.clone()
        };
        // Random numbers drawn between construction and first use (as the prior's warm
        // start and the Q-layer noise do) must not reach the weights. Compared as
        // values: a record also holds each parameter's id, which is new every time.
        let fresh = |config: &splitfeat_core::model::ModelConfig, seed: u64, draw_between: bool| {
            device.seed(seed);
            let model = MultiTaskModel::initialized(config, &device);
            if draw_between {
                let _ = Tensor::<1>::random([64], burn::tensor::Distribution::Default, &device);
            }
            [float_values(&model.edge), float_values(&model.heads)].concat()
        };
        let reference = fresh(&plain, 11, false);
        assert!(
            fresh(&plain, 11, true) == reference,
            "a later draw changed the weights"
        );
        assert!(
            fresh(&with_prior, 11, true) == reference,
            "a prior changed the edge or heads"
        );
        assert!(
            fresh(&plain, 12, false) != reference,
            "the seed is not used"
        );
    }

    #[test]
    fn learning_rate_warms_up_then_decays_to_the_floor() {
        let run = run_config(&args(Path::new("x"), 102)).unwrap();
        assert!((learning_rate(&run, 0) - 1.5e-3).abs() < 1e-12);
        assert!((learning_rate(&run, 2) - 3e-3).abs() < 1e-12);
        assert!((learning_rate(&run, 102) - 3e-4).abs() < 1e-12);
        assert!(learning_rate(&run, 50) < learning_rate(&run, 10));
    }

    #[test]
    fn objective_ramps_lambda_and_draws_every_listed_noise_depth() {
        let mut a = args(Path::new("x"), 100);
        a.lambda = 0.5;
        a.lambda_ramp = 10;
        a.noise_bits = vec![3, 5, 8];
        a.range = RangeRule::Quantile { per_mille: 999 };
        let run = run_config(&a).unwrap();
        assert!(run.detach_range, "a quantile range is always detached");
        assert_eq!(run.model.quantizer, RangeRule::Quantile { per_mille: 999 });
        assert!((objective_at(&run, 0).lambda - 0.05).abs() < 1e-7);
        assert!((objective_at(&run, 4).lambda - 0.25).abs() < 1e-7);
        assert_eq!(objective_at(&run, 9).lambda, 0.5);
        assert_eq!(objective_at(&run, 50).lambda, 0.5);
        let depths: std::collections::BTreeSet<u8> =
            (0..100).map(|s| objective_at(&run, s).noise_bits).collect();
        assert_eq!(depths.into_iter().collect::<Vec<_>>(), vec![3, 5, 8]);
        assert_eq!(objective_at(&run, 7), objective_at(&run, 7));
        let plain = run_config(&args(Path::new("x"), 10)).unwrap();
        assert_eq!(objective_at(&plain, 3), Objective::reference(0.01, 8));
        let mut bad = args(Path::new("x"), 10);
        bad.noise_bits = vec![8, 1];
        assert!(run_config(&bad).is_err());
    }

    #[test]
    fn task_priorities_reach_the_objective_and_bad_ones_are_refused() {
        let mut a = args(Path::new("x"), 10);
        a.task_priorities = vec![3.0, 1.0, 0.5];
        let run = run_config(&a).unwrap();
        assert_eq!(objective_at(&run, 2).task_priorities, [3.0, 1.0, 0.5]);
        for bad in [
            vec![1.0, 1.0],
            vec![0.0, 1.0, 1.0],
            vec![f32::NAN, 1.0, 1.0],
        ] {
            let mut b = args(Path::new("x"), 10);
            b.task_priorities = bad.clone();
            assert!(run_config(&b).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn batch_seeds_are_training_seeds_and_depend_on_the_step() {
        let run = run_config(&args(Path::new("x"), 10)).unwrap();
        let a = batch_seeds(&run, 0);
        assert_eq!(a, batch_seeds(&run, 0));
        assert_ne!(a, batch_seeds(&run, 1));
        assert!(a.iter().all(|&s| s >= Split::Train.first_seed()));
    }

    #[test]
    fn resumed_run_matches_an_uninterrupted_one_bit_for_bit() {
        let _turn = serial();
        let stop = Arc::new(AtomicBool::new(false));
        let straight = tmp("straight");
        run(&args(&straight, 4), stop.clone()).unwrap();

        let split = tmp("split");
        let mut first = args(&split, 4);
        first.max_steps_this_run = Some(2);
        assert_eq!(run(&first, stop.clone()).unwrap().steps_done, 2);
        let mut second = args(&split, 4);
        second.resume = true;
        assert_eq!(run(&second, stop.clone()).unwrap().steps_done, 4);
        // Resuming a finished run without --steps does not extend it.
        let mut again = args(&split, 4);
        again.resume = true;
        again.steps = None;
        assert_eq!(run(&again, stop).unwrap().steps_done, 4);

        let a = Checkpoint::load(&straight.join(CHECKPOINT_FILE)).unwrap();
        let b = Checkpoint::load(&split.join(CHECKPOINT_FILE)).unwrap();
        assert_eq!(a.state.step, 4);
        // Records carry random parameter ids, so compare the parameter values.
        let losses = |d: &Path| -> Vec<f64> {
            std::fs::read_to_string(d.join(METRICS_FILE))
                .unwrap()
                .lines()
                .map(|l| {
                    serde_json::from_str::<serde_json::Value>(l).unwrap()["total"]
                        .as_f64()
                        .unwrap()
                })
                .collect()
        };
        assert_eq!(losses(&straight), losses(&split));
        let (pa, pb) = (param_values(&a.model), param_values(&b.model));
        let differing: Vec<usize> = (0..pa.len()).filter(|&i| pa[i] != pb[i]).collect();
        assert!(
            differing.is_empty(),
            "weights differ after resume in params {differing:?}"
        );
        let lines = |d: &Path| {
            std::fs::read_to_string(d.join(METRICS_FILE))
                .unwrap()
                .lines()
                .count()
        };
        assert_eq!(lines(&straight), 4);
        assert_eq!(lines(&split), 4);
        let _ = std::fs::remove_dir_all(straight);
        let _ = std::fs::remove_dir_all(split);
    }

    #[test]
    fn a_few_steps_lower_the_loss() {
        let _turn = serial();
        let out = tmp("smoke");
        let mut a = args(&out, 12);
        a.lambda = 0.0;
        a.lr = 5e-3;
        run(&a, Arc::new(AtomicBool::new(false))).unwrap();
        let text = std::fs::read_to_string(out.join(METRICS_FILE)).unwrap();
        let totals: Vec<f64> = text
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["total"]
                    .as_f64()
                    .unwrap()
            })
            .collect();
        let first: f64 = totals[..3].iter().sum::<f64>() / 3.0;
        let last: f64 = totals[totals.len() - 3..].iter().sum::<f64>() / 3.0;
        assert!(last < first, "loss did not fall: {totals:?}");
        let _ = std::fs::remove_dir_all(out);
    }

    #[test]
    fn a_step_run_from_a_paper_method_base_fits_its_prior_then_resumes_bit_exactly() {
        a_learned_rate_run_fits_its_prior_then_resumes_bit_exactly("step", |a| {
            a.range = RangeRule::Step { step: 0.25 };
        });
    }

    #[test]
    fn a_learned_rate_at_a_quantile_range_fits_its_prior_then_resumes_bit_exactly() {
        a_learned_rate_run_fits_its_prior_then_resumes_bit_exactly("quantile", |a| {
            a.range = RangeRule::Quantile { per_mille: 999 };
            a.noise_bits = vec![3, 5, 8];
            a.learned_rate = true;
        });
    }

    /// A run with a learned prior, started from a paper-method base (no prior), fits
    /// its prior, trains, and resumed after one step ends bit-exactly where an
    /// uninterrupted run does.
    fn a_learned_rate_run_fits_its_prior_then_resumes_bit_exactly(
        name: &str,
        configure: impl Fn(&mut TrainArgs),
    ) {
        let _turn = serial();
        let base = tmp(&format!("prior-base-{name}"));
        run(&args(&base, 2), Arc::new(AtomicBool::new(false))).unwrap();
        let learned = |dir: &Path, steps: u64| {
            let mut a = args(dir, steps);
            configure(&mut a);
            a.init_from = Some(base.join(CHECKPOINT_FILE));
            a
        };
        let (whole, split) = (
            tmp(&format!("prior-whole-{name}")),
            tmp(&format!("prior-split-{name}")),
        );
        run(&learned(&whole, 3), Arc::new(AtomicBool::new(false))).unwrap();
        let mut first = learned(&split, 3);
        first.max_steps_this_run = Some(1);
        run(&first, Arc::new(AtomicBool::new(false))).unwrap();
        let mut rest = learned(&split, 3);
        rest.resume = true;
        rest.init_from = None;
        run(&rest, Arc::new(AtomicBool::new(false))).unwrap();
        let (a, b) = (
            Checkpoint::load(&whole.join(CHECKPOINT_FILE)).unwrap(),
            Checkpoint::load(&split.join(CHECKPOINT_FILE)).unwrap(),
        );
        let config = &a.state.run.model;
        let (pa, pb) = (
            param_values_of(config, &a.model),
            param_values_of(config, &b.model),
        );
        assert!(
            pa == pb,
            "a resumed learned-rate run differs from an uninterrupted one"
        );
        let device = Device::flex();
        let model =
            load_module_bytes(MultiTaskModel::new(&a.state.run.model, &device), &a.model).unwrap();
        assert!(model.prior.is_some(), "the checkpoint holds the prior");
        // The rate term is the prior's, in bits per element: small after the warm start.
        let text = std::fs::read_to_string(whole.join(METRICS_FILE)).unwrap();
        let rate = serde_json::from_str::<serde_json::Value>(text.lines().next().unwrap()).unwrap()
            ["compressibility"]
            .as_f64()
            .unwrap();
        assert!(rate > 0.0 && rate < 16.0, "{rate} bits per element");
        for d in [base, whole, split] {
            let _ = std::fs::remove_dir_all(d);
        }
    }

    #[test]
    fn an_existing_run_is_not_overwritten_and_bad_flags_are_rejected() {
        let _turn = serial();
        let out = tmp("exists");
        run(&args(&out, 1), Arc::new(AtomicBool::new(false))).unwrap();
        let err = run(&args(&out, 1), Arc::new(AtomicBool::new(false))).unwrap_err();
        assert!(err.to_string().contains("--resume"));
        let mut bad = args(&tmp("bad"), 1);
        bad.bits = 1;
        assert!(run(&bad, Arc::new(AtomicBool::new(false))).is_err());
        let _ = std::fs::remove_dir_all(out);
    }
}
