//! `cargo xtask zoo`: the shipped models from nothing, with the `splitfeat` commands a
//! person would type. The shipped recipe trains every model, the baseline (lambda 0)
//! included, from nothing for `--from-scratch` steps, lambda ramped up; then it
//! exports each into assets/, evaluates each (benchmark and zoo-test check), removes
//! any other model from assets/ (so the zoo is exactly the listed models) and draws the
//! report. `--finetune` takes the earlier recipe instead: pretrain a base (lambda 0),
//! a lambda-0 warm stage on the fine-tunes' recipe, and one fine-tune per lambda from
//! it. Every training run resumes from its checkpoint when it was cut short, so the
//! command can be run again until it finishes.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::process::run_env;
use crate::torch;

#[derive(Debug, Clone, clap::Args)]
pub struct ZooArgs {
    /// Lambdas of the shipped models; 0 is the baseline.
    #[arg(long, value_delimiter = ',', default_value = "0,0.01,0.03,0.1")]
    pub lambdas: Vec<f32>,
    /// The earlier recipe: fine-tune every model from a pretrained base and a warm
    /// stage (`--base-steps`, `--warm-steps`, `--finetune-steps`) instead of training
    /// it from nothing.
    #[arg(long, conflicts_with_all = ["from_scratch", "lambda_ramp"])]
    pub finetune: bool,
    /// With `--finetune`: training steps of the base.
    #[arg(long, default_value_t = 3000, requires = "finetune")]
    pub base_steps: u64,
    /// With `--finetune`: steps of the warm stage: one lambda-0 run of the fine-tunes' recipe (range,
    /// noise depths, schedule) from the base, which every fine-tune then starts from; 0
    /// starts the fine-tunes from the base itself.
    #[arg(long, default_value_t = 1200, requires = "finetune")]
    pub warm_steps: u64,
    /// With `--finetune`: training steps of each fine-tune.
    #[arg(long, default_value_t = 1200, requires = "finetune")]
    pub finetune_steps: u64,
    /// With `--finetune`: start the fine-tunes from this base checkpoint instead of training one (e.g. the
    /// shipped assets/checkpoints/tiny-base.sfck).
    #[arg(long, requires = "finetune")]
    pub base_checkpoint: Option<PathBuf>,
    /// Steps of each model, trained from nothing (the shipped recipe; no base, no warm
    /// stage): the base's schedule, the quantizer range and noise depths below, lambda
    /// raised from 0 over `--lambda-ramp` steps (docs/results.md, "From scratch at the
    /// zoo's budget").
    #[arg(long, default_value_t = 5400)]
    pub from_scratch: u64,
    /// Without `--finetune`: the steps over which lambda rises from 0 to its value.
    #[arg(long, default_value_t = 1000)]
    pub lambda_ramp: u64,
    /// Where the training runs go (checkpoints, metrics).
    #[arg(long, default_value = "runs")]
    pub runs: PathBuf,
    /// Training and evaluation device: `flex` (pure Rust) or `tch` (LibTorch; run
    /// `cargo xtask torch-setup` once first).
    #[arg(long, default_value = "flex", value_parser = ["flex", "tch"])]
    pub device: String,
    /// The virtual environment with torch, for `--device tch`.
    #[arg(long, default_value = torch::DEFAULT_VENV)]
    pub venv: PathBuf,
    /// Quantizer range rule of the fine-tuned models (`splitfeat train --range`).
    #[arg(long, default_value = RECIPE_RANGE)]
    pub range: String,
    /// Q-layer noise bit depths of the fine-tunes (`splitfeat train --noise-bits`).
    #[arg(long, default_value = RECIPE_NOISE_BITS)]
    pub noise_bits: String,
    /// The rate term of the models with lambda > 0: `learned`, the rate in bits under a
    /// learned prior at their own quantizer (`splitfeat train --learned-rate`, the
    /// shipped recipe), or `paper`, the paper's compressibility loss. The baseline
    /// (lambda 0) trains the same network either way and is trained without a prior, so
    /// it is the baseline of both; a fresh network's weights depend on the seed alone,
    /// so it starts from the lambda models' weights and draws their noise.
    #[arg(long, default_value = RECIPE_RATE, value_parser = ["learned", "paper"])]
    pub rate: String,
    /// Only train (or resume) the runs: no export into assets/, no evaluation, no
    /// report, so a recipe can be trained at the zoo's budget beside the shipped zoo.
    #[arg(long)]
    pub train_only: bool,
}

/// The shipped recipe's quantizer range (docs/results.md, "Training recipe study": the
/// learned rate at the deployed quantizer, the one recipe that beats its baseline under
/// the fair test).
pub const RECIPE_RANGE: &str = "q999";
/// The shipped recipe's Q-layer noise depths.
pub const RECIPE_NOISE_BITS: &str = "3,4,5,6,7,8";
/// The shipped recipe's rate term.
pub const RECIPE_RATE: &str = "learned";

/// Zoo name of the model trained at `lambda`.
pub fn model_name(lambda: f32) -> String {
    format!("tiny-l{lambda}")
}

pub fn run_zoo(root: &Path, args: &ZooArgs) -> Result<()> {
    let tch = args.device == "tch";
    let env = if tch {
        torch::torch_env(&root.join(&args.venv))?
    } else {
        Vec::new()
    };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = vec!["build", "--release", "-p", "splitfeat-train"];
    if tch {
        build.extend(["--features", "tch"]);
    }
    run_env(root, &cargo, &build, &env)?;
    let bin = root.join("target/release/splitfeat");
    let bin = bin.to_str().context("non-UTF-8 path")?;
    let device = ["--device", args.device.as_str()];
    let splitfeat = |a: &[&str]| {
        // train and eval take the device; export and report do not.
        let mut a = a.to_vec();
        if matches!(a.first(), Some(&"train" | &"eval")) {
            a.extend(device);
        }
        run_env(root, bin, &a, &env)
    };
    let runs = root.join(&args.runs);
    let run_dir = |name: &str| runs.join(name).to_string_lossy().into_owned();
    let rate_flag =
        |lambda: f32| (args.rate == "learned" && lambda > 0.0).then_some("--learned-rate");

    if !args.finetune {
        let steps = args.from_scratch;
        for &lambda in &args.lambdas {
            let name = model_name(lambda);
            let dir = run_dir(&name);
            let (steps, lambda_text, ramp) = (
                steps.to_string(),
                lambda.to_string(),
                args.lambda_ramp.to_string(),
            );
            let mut fresh = vec![
                "--steps",
                &steps,
                "--lambda",
                &lambda_text,
                "--lambda-ramp",
                &ramp,
                "--range",
                &args.range,
                "--noise-bits",
                &args.noise_bits,
            ];
            fresh.extend(rate_flag(lambda));
            train(&splitfeat, &dir, &fresh)?;
            if !args.train_only {
                publish(&splitfeat, &format!("{dir}/checkpoint.sfck"), &name)?;
            }
        }
        return finish(&splitfeat, args);
    }

    let base_checkpoint = match &args.base_checkpoint {
        Some(path) => path.to_string_lossy().into_owned(),
        None => {
            let dir = run_dir("tiny-base");
            train(&splitfeat, &dir, &["--steps", &args.base_steps.to_string()])?;
            format!("{dir}/checkpoint.sfck")
        }
    };
    let recipe = |init: &str, lambda: &str, steps: &str| -> Vec<String> {
        [
            "--init-from",
            init,
            "--lambda",
            lambda,
            "--steps",
            steps,
            "--lr",
            "0.0005",
            "--warmup",
            "20",
            "--range",
            &args.range,
            "--noise-bits",
            &args.noise_bits,
        ]
        .map(String::from)
        .to_vec()
    };
    let start = match args.warm_steps {
        0 => base_checkpoint,
        steps => {
            let dir = run_dir("tiny-warm");
            let flags = recipe(&base_checkpoint, "0", &steps.to_string());
            train(
                &splitfeat,
                &dir,
                &flags.iter().map(String::as_str).collect::<Vec<_>>(),
            )?;
            format!("{dir}/checkpoint.sfck")
        }
    };
    for &lambda in &args.lambdas {
        let name = model_name(lambda);
        let dir = run_dir(&name);
        let mut fresh = recipe(
            &start,
            &lambda.to_string(),
            &args.finetune_steps.to_string(),
        );
        fresh.extend(rate_flag(lambda).map(String::from));
        train(
            &splitfeat,
            &dir,
            &fresh.iter().map(String::as_str).collect::<Vec<_>>(),
        )?;
        if !args.train_only {
            publish(&splitfeat, &format!("{dir}/checkpoint.sfck"), &name)?;
        }
    }
    finish(&splitfeat, args)
}

/// Unless only training was asked for: removes every model the command did not make
/// from assets/, then draws the zoo's report.
fn finish(splitfeat: &impl Fn(&[&str]) -> Result<()>, args: &ZooArgs) -> Result<()> {
    if args.train_only {
        return Ok(());
    }
    let keep = args
        .lambdas
        .iter()
        .map(|&l| model_name(l))
        .collect::<Vec<_>>()
        .join(",");
    splitfeat(&["prune", "--keep", &keep])?;
    splitfeat(&["report"])
}

/// Trains into `dir`, or resumes the run there if it has a checkpoint.
fn train(splitfeat: &impl Fn(&[&str]) -> Result<()>, dir: &str, fresh: &[&str]) -> Result<()> {
    let mut a = vec!["train", "--out", dir, "--quiet", "--checkpoint-every", "50"];
    if Path::new(dir).join("checkpoint.sfck").exists() {
        a.push("--resume");
    } else {
        a.extend_from_slice(fresh);
    }
    splitfeat(&a)
}

/// Exports a checkpoint into assets/ as `name` and records its benchmark evaluation
/// and the short check the zoo test repeats.
fn publish(splitfeat: &impl Fn(&[&str]) -> Result<()>, checkpoint: &str, name: &str) -> Result<()> {
    splitfeat(&["export", "--checkpoint", checkpoint, "--name", name])?;
    splitfeat(&["eval", "--model", name, "--record"])?;
    splitfeat(&[
        "eval", "--model", name, "--count", "16", "--record", "check",
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        zoo: ZooArgs,
    }

    fn parse(args: &[&str]) -> Result<ZooArgs, clap::Error> {
        use clap::Parser;
        Cli::try_parse_from(std::iter::once("zoo").chain(args.iter().copied())).map(|c| c.zoo)
    }

    #[test]
    fn the_two_recipes_flags_do_not_mix() {
        let plain = parse(&[]).unwrap();
        assert!(!plain.finetune);
        assert_eq!(plain.from_scratch, 5400);
        assert_eq!(plain.lambdas, [0.0, 0.01, 0.03, 0.1]);
        assert!(
            parse(&["--finetune", "--base-steps", "10"])
                .unwrap()
                .finetune
        );
        for bad in [
            &["--finetune", "--from-scratch", "100"][..],
            &["--finetune", "--lambda-ramp", "10"],
            &["--base-steps", "10"],
            &["--warm-steps", "0"],
            &["--finetune-steps", "10"],
            &["--base-checkpoint", "b.sfck"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn model_names_are_zoo_names() {
        assert_eq!(model_name(0.0), "tiny-l0");
        assert_eq!(model_name(0.03), "tiny-l0.03");
        assert_eq!(model_name(1.0), "tiny-l1");
    }
}
