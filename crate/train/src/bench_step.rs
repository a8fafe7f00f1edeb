//! `splitfeat bench-step`: times one training step of the `tiny` network (forward +
//! losses, backward, Adam) in burn and, when PyTorch is available, the identical network
//! and loss in PyTorch (`bench/torch_tiny.py`), on the same synthetic batch and thread
//! count, and prints both and the ratio burn / PyTorch.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use serde::Serialize;
use serde_json::Value;
use splitfeat_core::loss::{
    compressibility_loss, disparity_loss, quantization_noise, reconstruction_loss,
    segmentation_loss,
};
use splitfeat_core::model::Preset;
use splitfeat_core::multitask::{Batch, MultiTaskModel, Objective, forward_loss};
use splitfeat_core::quant::BitDepth;

/// The PyTorch side, relative to the workspace root.
const TORCH_SCRIPT: &str = "bench/torch_tiny.py";

#[derive(Debug, Clone, clap::Args)]
pub struct BenchStepArgs {
    /// Timed training steps (each framework).
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// Untimed steps before the timed ones.
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// Weight of the compressibility loss.
    #[arg(long, default_value_t = 0.01)]
    pub lambda: f32,
    /// Quantizer bit depth (Q-layer noise and compressibility loss scale), 2..=16.
    #[arg(long, default_value_t = BitDepth::EIGHT)]
    pub bits: BitDepth,
    /// Python interpreter with PyTorch for bench/torch_tiny.py (default: `python3` if it
    /// can import torch; otherwise only burn is timed).
    #[arg(long)]
    pub python: Option<PathBuf>,
    /// The PyTorch script (default: bench/torch_tiny.py of this workspace).
    #[arg(long)]
    pub script: Option<PathBuf>,
    /// Time burn only.
    #[arg(long, conflicts_with = "python")]
    pub no_torch: bool,
    /// Also time the phases of a step (edge, compressibility loss, Q-layer noise, heads,
    /// each task loss, weighting, backward, optimizer) with a device sync between them,
    /// in both frameworks.
    #[arg(long)]
    pub breakdown: bool,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// burn's compute device.
    #[arg(long, value_enum, default_value_t = crate::device::ComputeDevice::Flex)]
    pub device: crate::device::ComputeDevice,
}

/// The timings of one framework, in the same shape as the PyTorch script's JSON.
#[derive(Debug, Clone, Serialize)]
struct FrameworkResult {
    framework: String,
    ms_per_step_median: f64,
    ms_per_step_p90: f64,
    cpu_ms_per_step_median: Option<f64>,
    peak_rss_mb: Option<f64>,
    threads: usize,
    params: usize,
    first_loss: f32,
    last_loss: f32,
    ms_per_step: Vec<f64>,
    /// Median milliseconds of each phase, in step order (with `--breakdown`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    phases_ms: Vec<(String, f64)>,
}

#[derive(Debug, Serialize)]
struct Report {
    preset: &'static str,
    batch: usize,
    height: usize,
    width: usize,
    lambda: f32,
    bits: BitDepth,
    steps: usize,
    warmup: usize,
    /// 1-minute load average when the bench started (Linux): above the core count, the
    /// timings include waiting for CPUs that other processes hold.
    load_average: Option<f64>,
    cpus: usize,
    burn: FrameworkResult,
    torch: Option<Value>,
    /// burn median / PyTorch median (wall clock per step).
    ratio: Option<f64>,
    /// burn / PyTorch median CPU time (user + system, all threads) per step.
    cpu_ratio: Option<f64>,
    /// Why PyTorch was not timed, if it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    torch_skipped: Option<String>,
}

/// Integer hash of indices below 2^26 (the same function as `hash32` in
/// bench/torch_tiny.py, so both frameworks train on identical bytes).
fn hash32(i: u64) -> u64 {
    const M: u64 = 0xFFFF_FFFF;
    let mut x = i.wrapping_mul(2_654_435_761) & M;
    x ^= x >> 16;
    x = x.wrapping_mul(0x045D_9F3B) & M;
    x ^ (x >> 16)
}

/// The fixed synthetic batch: random RGB, labels in 0..18 with ~10% ignore (255),
/// disparity of 0..64 px with ~20% invalid (0).
fn synthetic_batch(n: usize, h: usize, w: usize, device: &Device) -> Batch {
    let px = (n * h * w) as u64;
    let rgb: Vec<u8> = (0..px * 3).map(|i| (hash32(i) & 255) as u8).collect();
    let labels: Vec<u8> = (0..px)
        .map(|i| {
            let v = hash32(i + (1 << 24));
            if v.is_multiple_of(10) {
                255
            } else {
                (v % 19) as u8
            }
        })
        .collect();
    let disparity: Vec<f32> = (0..px)
        .map(|i| {
            let v = hash32(i + (2 << 24));
            if v.is_multiple_of(5) {
                0.0
            } else {
                (v % 6400) as f32 / 100.0
            }
        })
        .collect();
    Batch::from_packed(&rgb, &labels, &disparity, n, h, w, device)
}

/// Median (mean of the two middle values for an even count) of sorted values.
fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    0.5 * (sorted[(n - 1) / 2] + sorted[n / 2])
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn sorted(values: &[f64]) -> Vec<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v
}

/// Peak resident set size of this process (VmHWM), in MiB; Linux only.
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// CPU time (user + system) of this process so far, in milliseconds; Linux only.
fn cpu_time_ms() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // The kernel reports in USER_HZ, which is 100 on every Linux ABI.
    Some(ticks * 10.0)
}

/// The 1-minute load average (Linux).
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Threads burn's CPU backend computes with (its rayon pool: `RAYON_NUM_THREADS`, else
/// one per logical CPU).
fn compute_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Number of trained parameters (burn's `num_params` also counts batch-norm running
/// statistics, which PyTorch keeps as buffers).
fn trainable_params<M: Module>(module: &M) -> usize {
    struct Count(usize);
    impl ModuleVisitor for Count {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if param.val().is_require_grad() {
                self.0 += param.lazy_shape().num_elements();
            }
        }
    }
    let mut count = Count(0);
    module.visit(&mut count);
    count.0
}

fn scalar(t: &Tensor<1>) -> f32 {
    t.clone().into_scalar::<f32>()
}

fn sync(device: &Device) -> Result<()> {
    device
        .sync()
        .map_err(|e| anyhow::anyhow!("device sync: {e:?}"))
}

const PHASES: [&str; 10] = [
    "edge",
    "compressibility",
    "q_noise",
    "heads",
    "seg_loss",
    "disp_loss",
    "recon_loss",
    "combine",
    "backward",
    "optimizer",
];

fn run_burn(args: &BenchStepArgs, threads: usize) -> Result<FrameworkResult> {
    let config = Preset::Tiny.config();
    let device = args.device.training_device()?;
    device.seed(1);
    let mut model = MultiTaskModel::new(&config, &device);
    let params = trainable_params(&model);
    let mut optimizer = AdamConfig::new().init();
    let batch = synthetic_batch(args.batch, config.input_height, config.input_width, &device);
    let lr = 1e-3;
    sync(&device)?;

    let mut first_loss = None;
    let mut last_loss = f32::NAN;
    let mut wall = Vec::with_capacity(args.steps);
    let mut cpu = Vec::with_capacity(args.steps);
    for i in 0..args.warmup + args.steps {
        let (t0, c0) = (Instant::now(), cpu_time_ms());
        let loss = forward_loss(
            &model,
            &batch,
            &Objective::reference(args.lambda, args.bits.get()),
        );
        let total = scalar(&loss.total);
        let grads = GradientsParams::from_grads(loss.total.backward(), &model);
        model = optimizer.step(lr, model, grads);
        sync(&device)?;
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        ensure!(total.is_finite(), "burn: loss became {total}");
        first_loss.get_or_insert(total);
        last_loss = total;
        if i >= args.warmup {
            wall.push(ms);
            if let (Some(a), Some(b)) = (c0, cpu_time_ms()) {
                cpu.push(b - a);
            }
        }
    }

    let mut phases_ms = Vec::new();
    if args.breakdown {
        // forward_loss spelled out phase by phase, with a sync after each.
        let mut samples = vec![Vec::with_capacity(args.steps); PHASES.len()];
        for _ in 0..args.steps {
            let mut marks = Vec::with_capacity(PHASES.len());
            let mut t = Instant::now();
            let mut lap = |marks: &mut Vec<f64>| -> Result<()> {
                sync(&device)?;
                marks.push(t.elapsed().as_secs_f64() * 1e3);
                t = Instant::now();
                Ok(())
            };
            let features = model.edge.forward(batch.images.clone());
            lap(&mut marks)?;
            let compressibility = compressibility_loss(features.clone(), args.bits.get());
            lap(&mut marks)?;
            let noisy = quantization_noise(features, args.bits.get());
            lap(&mut marks)?;
            let out = model.heads.forward(noisy);
            lap(&mut marks)?;
            let seg = segmentation_loss(out.segmentation, batch.labels.clone());
            lap(&mut marks)?;
            let disp = disparity_loss(out.disparity, batch.disparity.clone());
            lap(&mut marks)?;
            let recon = reconstruction_loss(out.reconstruction, batch.rgb.clone());
            lap(&mut marks)?;
            let total =
                model.weights.combine(vec![seg, disp, recon]) + compressibility * args.lambda;
            let _ = scalar(&total);
            lap(&mut marks)?;
            let grads = total.backward();
            lap(&mut marks)?;
            let grads = GradientsParams::from_grads(grads, &model);
            model = optimizer.step(lr, model, grads);
            lap(&mut marks)?;
            for (s, m) in samples.iter_mut().zip(marks) {
                s.push(m);
            }
        }
        phases_ms = PHASES
            .iter()
            .zip(&samples)
            .map(|(p, s)| (p.to_string(), median(&sorted(s))))
            .collect();
    }

    let wall_sorted = sorted(&wall);
    Ok(FrameworkResult {
        framework: format!("burn 0.22.1 ({:?} + autodiff)", args.device).to_lowercase(),
        ms_per_step_median: median(&wall_sorted),
        ms_per_step_p90: percentile(&wall_sorted, 0.9),
        cpu_ms_per_step_median: (!cpu.is_empty()).then(|| median(&sorted(&cpu))),
        peak_rss_mb: peak_rss_mb(),
        threads,
        params,
        first_loss: first_loss.unwrap_or(f32::NAN),
        last_loss,
        ms_per_step: wall,
        phases_ms,
    })
}

fn default_script() -> PathBuf {
    let from_manifest = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(TORCH_SCRIPT);
    from_manifest
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from(TORCH_SCRIPT))
}

fn python_has_torch(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import torch"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Which interpreter to run the PyTorch side with, or why it is skipped.
fn torch_python(args: &BenchStepArgs) -> std::result::Result<PathBuf, String> {
    if args.no_torch {
        return Err("--no-torch".into());
    }
    if let Some(p) = &args.python {
        return Ok(p.clone());
    }
    let python3 = PathBuf::from("python3");
    if python_has_torch(&python3) {
        Ok(python3)
    } else {
        Err("`python3 -c \"import torch\"` failed; pass --python PATH (the script needs `pip install torch`)".into())
    }
}

fn run_torch(args: &BenchStepArgs, python: &Path, threads: usize) -> Result<Value> {
    let script = args.script.clone().unwrap_or_else(default_script);
    ensure!(
        script.exists(),
        "{} not found (pass --script)",
        script.display()
    );
    let mut cmd = Command::new(python);
    cmd.arg(&script)
        .args(["--steps", &args.steps.to_string()])
        .args(["--warmup", &args.warmup.to_string()])
        .args(["--batch", &args.batch.to_string()])
        .args(["--lambda", &args.lambda.to_string()])
        .args(["--bits", &args.bits.to_string()])
        .args(["--threads", &threads.to_string()]);
    if args.breakdown {
        cmd.arg("--breakdown");
    }
    let out = cmd
        .output()
        .with_context(|| format!("running {} {}", python.display(), script.display()))?;
    if !out.status.success() {
        bail!(
            "{} {} failed ({}):\n{}",
            python.display(),
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .rev()
        .find_map(|l| {
            serde_json::from_str::<Value>(l)
                .ok()
                .filter(Value::is_object)
        })
        .with_context(|| format!("no JSON line in the PyTorch script's output:\n{stdout}"))
}

fn fmt_opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.digits$}"))
}

fn print_table(report: &Report) {
    let b = &report.burn;
    let t = report.torch.as_ref();
    let tf = |key: &str| t.and_then(|t| t.get(key)).and_then(Value::as_f64);
    println!(
        "training step of the `{}` network: batch {} x 3x{}x{}, lambda {}, {}-bit noise; \
         {} warm-up + {} timed steps",
        report.preset,
        report.batch,
        report.height,
        report.width,
        report.lambda,
        report.bits,
        report.warmup,
        report.steps
    );
    if let Some(load) = report.load_average {
        let note = if load > report.cpus as f64 {
            " (busy: timings include waiting for CPUs)"
        } else {
            ""
        };
        println!(
            "{} logical CPUs, load average {load:.2} at start{note}",
            report.cpus
        );
    }
    println!(
        "{:<34} {:>12} {:>10} {:>12} {:>13} {:>8} {:>9}",
        "", "median ms", "p90 ms", "CPU ms/step", "peak RSS MiB", "threads", "params"
    );
    println!(
        "{:<34} {:>12.1} {:>10.1} {:>12} {:>13} {:>8} {:>9}",
        b.framework,
        b.ms_per_step_median,
        b.ms_per_step_p90,
        fmt_opt(b.cpu_ms_per_step_median, 0),
        fmt_opt(b.peak_rss_mb, 0),
        b.threads,
        b.params
    );
    if let Some(t) = t {
        println!(
            "{:<34} {:>12} {:>10} {:>12} {:>13} {:>8} {:>9}",
            t.get("framework")
                .and_then(Value::as_str)
                .unwrap_or("pytorch"),
            fmt_opt(tf("ms_per_step_median"), 1),
            fmt_opt(tf("ms_per_step_p90"), 1),
            fmt_opt(tf("cpu_ms_per_step_median"), 0),
            fmt_opt(tf("peak_rss_mb"), 0),
            tf("threads").map_or("-".into(), |v| format!("{v}")),
            tf("params").map_or("-".into(), |v| format!("{v}")),
        );
    }
    if !b.phases_ms.is_empty() {
        let torch_phases = t.and_then(|t| t.get("phases_ms")).and_then(Value::as_array);
        println!("\nphase medians (ms, synced between phases):");
        println!("  {:<16} {:>10} {:>10}", "phase", "burn", "pytorch");
        for (name, ms) in &b.phases_ms {
            let tp = torch_phases
                .and_then(|a| {
                    a.iter()
                        .find(|p| p.get(0).and_then(Value::as_str) == Some(name))
                })
                .and_then(|p| p.get(1))
                .and_then(Value::as_f64);
            println!("  {:<16} {:>10.1} {:>10}", name, ms, fmt_opt(tp, 1));
        }
    }
    match (report.ratio, &report.torch_skipped) {
        (Some(r), _) => {
            println!("\nratio burn / pytorch (median wall time per step): {r:.2}");
            if let Some(c) = report.cpu_ratio {
                println!("ratio burn / pytorch (median CPU time per step):  {c:.2}");
            }
        }
        (None, Some(why)) => println!("\nPyTorch not timed: {why}"),
        (None, None) => {}
    }
}

pub fn run(args: BenchStepArgs) -> Result<()> {
    ensure!(args.steps >= 1, "--steps must be at least 1");
    ensure!(args.batch >= 1, "--batch must be at least 1");
    ensure!(
        args.lambda >= 0.0 && args.lambda.is_finite(),
        "--lambda must be >= 0"
    );
    let config = Preset::Tiny.config();
    let threads = compute_threads();
    let load = load_average();

    if !args.json {
        eprintln!(
            "burn: {} warm-up + {} timed steps ...",
            args.warmup, args.steps
        );
    }
    let burn = run_burn(&args, threads)?;
    let (torch, torch_skipped) = match torch_python(&args) {
        Ok(python) => {
            if !args.json {
                eprintln!(
                    "pytorch ({}): {} warm-up + {} timed steps ...",
                    python.display(),
                    args.warmup,
                    args.steps
                );
            }
            (Some(run_torch(&args, &python, threads)?), None)
        }
        Err(why) => (None, Some(why)),
    };
    let ratio = torch
        .as_ref()
        .and_then(|t| t.get("ms_per_step_median"))
        .and_then(Value::as_f64)
        .filter(|&t| t > 0.0)
        .map(|t| burn.ms_per_step_median / t);
    let torch_cpu = torch
        .as_ref()
        .and_then(|t| t.get("cpu_ms_per_step_median"))
        .and_then(Value::as_f64);
    let cpu_ratio = match (burn.cpu_ms_per_step_median, torch_cpu) {
        (Some(b), Some(t)) if t > 0.0 => Some(b / t),
        _ => None,
    };
    let report = Report {
        preset: Preset::Tiny.name(),
        batch: args.batch,
        height: config.input_height,
        width: config.input_width,
        lambda: args.lambda,
        bits: args.bits,
        steps: args.steps,
        warmup: args.warmup,
        load_average: load,
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        burn,
        torch,
        ratio,
        cpu_ratio,
        torch_skipped,
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_table(&report);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash32_matches_the_python_reference_values() {
        // hash32 of these indices as computed by bench/torch_tiny.py.
        let cases = [
            (0, 0),
            (1, 1_667_036_862),
            (12_345, 804_843_470),
            ((1 << 24) + 7, 1_105_456_322),
            ((2 << 24) + 999_999, 3_357_093_879),
        ];
        for (i, expected) in cases {
            assert_eq!(hash32(i), expected, "hash32({i})");
        }
    }

    #[test]
    fn median_and_percentile() {
        assert_eq!(median(&[1.0, 2.0, 3.0]), 2.0);
        assert_eq!(median(&[1.0, 2.0, 3.0, 10.0]), 2.5);
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.9), 9.0);
        assert_eq!(percentile(&[5.0], 0.9), 5.0);
    }

    #[test]
    fn synthetic_batch_has_ignored_labels_and_invalid_disparity() {
        let device = Device::flex();
        let b = synthetic_batch(1, 8, 16, &device);
        let labels = b
            .labels
            .into_data()
            .convert::<i64>()
            .try_to_vec::<i64>()
            .unwrap();
        assert!(labels.contains(&255));
        assert!(labels.iter().all(|&l| l == 255 || (0..19).contains(&l)));
        let disp = b.disparity.into_data().try_to_vec::<f32>().unwrap();
        assert!(disp.contains(&0.0) && disp.iter().any(|&d| d > 0.0));
    }
}
