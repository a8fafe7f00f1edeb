//! Project tasks: `cargo xtask <command>` (alias in .cargo/config.toml).
//!
//! - `demo`:  builds the WASM edge, starts the cloud server on 127.0.0.1, prints the URL.
//! - `dist`:  the whole demo as static files in `dist/` (cloud half in a Web Worker).
//! - `test`:  every test: the Rust workspace, the wasm32 build of core, the browser tests.
//! - `bench`: criterion benchmarks (feature codecs, scene generation, the cloud's heads).
//! - `load`:  bounded load test of the cloud server on loopback.
//! - `zoo`:   the shipped models from scratch: train, fine-tune per lambda, export, evaluate, report.
//! - `torch-setup`, `torch-env`: LibTorch for the trainer's opt-in `tch` device.

mod dist;
mod load;
mod process;
mod torch;
mod wasm;
mod zoo;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use process::{cargo, run};

#[derive(Parser)]
#[command(name = "xtask")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build the WASM edge and serve the demo (page + cloud API) on 127.0.0.1.
    Demo {
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Build the wasm in the dev profile (faster to build, slower to run).
        #[arg(long)]
        dev: bool,
    },
    /// Write the demo as a static site (page, wasm, models) for any static file host.
    Dist {
        /// Output directory, replaced if it holds a previous build [default: dist/ in
        /// the repository root].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Build the wasm in the dev profile (faster to build, slower to run).
        #[arg(long)]
        dev: bool,
        /// Use the module already in www/pkg instead of building it.
        #[arg(long)]
        no_build: bool,
        /// The models to ship: an assets directory with its manifest [default:
        /// assets/ in the repository root].
        #[arg(long)]
        assets: Option<PathBuf>,
    },
    /// Run every test (Rust workspace, wasm32 build, browser tests).
    Test {
        /// Skip the browser tests (no Chromium needed).
        #[arg(long)]
        no_browser: bool,
    },
    /// Run the criterion benchmarks.
    Bench {
        /// Extra arguments for criterion (after `--`).
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Load-test the cloud server on loopback (see `cargo xtask load --help`).
    Load {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Fuzz the bitstream parser and decoders for a while: cargo-fuzz on nightly where
    /// installed (`cargo +nightly fuzz`, crate/core/fuzz), else the stable mutation test.
    Fuzz {
        /// How long to fuzz.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
    },
    /// Train, evaluate and export the model zoo into assets/, then draw the report.
    Zoo(zoo::ZooArgs),
    /// Install PyTorch (for its libtorch) into a virtual environment, for `--device tch`.
    TorchSetup {
        #[arg(long, default_value = torch::DEFAULT_VENV)]
        venv: PathBuf,
    },
    /// Print the shell exports that build and run `--features tch` against that environment.
    TorchEnv {
        #[arg(long, default_value = torch::DEFAULT_VENV)]
        venv: PathBuf,
    },
}

/// The workspace root (xtask lives in crate/xtask).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from("."))
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let root = root();
    match cli.command {
        Command::Demo { port, dev } => demo(&root, port, !dev),
        Command::Dist {
            out,
            dev,
            no_build,
            assets,
        } => {
            if !no_build {
                wasm::build_wasm(!dev)?;
            }
            let out = match out {
                Some(dir) => std::env::current_dir()?.join(dir),
                None => root.join("dist"),
            };
            let assets = match assets {
                Some(dir) => std::env::current_dir()?.join(dir),
                None => root.join("assets"),
            };
            let summary = dist::write_dist(&root.join("www"), &assets, &out)?;
            dist::print_summary(&summary)
        }
        Command::Test { no_browser } => test(&root, no_browser),
        Command::Bench { args } => {
            let mut a = vec![
                "bench",
                "-p",
                "splitfeat-core",
                "-p",
                "splitfeat-data",
                "-p",
                "splitfeat-cloud",
                "--",
            ];
            a.extend(args.iter().map(String::as_str));
            cargo(&root, &a)
        }
        Command::Load { args } => load::run(&args),
        Command::Fuzz { seconds } => fuzz(&root, seconds),
        Command::Zoo(args) => zoo::run_zoo(&root, &args),
        Command::TorchSetup { venv } => torch::setup(&root.join(venv)),
        Command::TorchEnv { venv } => torch::print_env(&root.join(venv)),
    }
}

fn fuzz(root: &Path, seconds: u64) -> Result<()> {
    let has_cargo_fuzz = std::process::Command::new("cargo")
        .args(["+nightly", "fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if has_cargo_fuzz {
        let time = format!("-max_total_time={seconds}");
        return run(
            &root.join("crate/core"),
            "cargo",
            &["+nightly", "fuzz", "run", "parse_bitstream", "--", &time],
        );
    }
    eprintln!(
        "xtask: no nightly cargo-fuzz (cargo +nightly install cargo-fuzz); running the stable mutation test"
    );
    let env = [("SPLITFEAT_FUZZ_SECONDS".to_string(), seconds.to_string())];
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // --workspace: the workspace's feature set, so the test build of `cargo xtask test` is reused.
    let args = [
        "test",
        "--workspace",
        "--test",
        "fuzz_decode",
        "--",
        "--nocapture",
    ];
    process::run_env(root, &cargo, &args, &env)
}

fn demo(root: &Path, port: u16, release: bool) -> Result<()> {
    wasm::build_wasm(release)?;
    cargo(root, &["build", "--release", "-p", "splitfeat-cloud"])?;
    let bin = root.join("target/release/splitfeat-cloud");
    let port = port.to_string();
    eprintln!("xtask: starting the cloud; open the URL it prints (Ctrl-C stops it)");
    run(
        root,
        bin.to_str().context("non-UTF-8 path")?,
        &["--port", &port, "--www", "www", "--assets", "assets"],
    )
}

fn test(root: &Path, no_browser: bool) -> Result<()> {
    // Formatting and lints first: they fail in seconds to minutes, before any full build.
    cargo(root, &["fmt", "--all", "--check"])?;
    cargo(
        root,
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    cargo(root, &["test", "--workspace"])?;
    if no_browser {
        // Without the browser tests, still prove that core builds for the browser.
        cargo(
            root,
            &[
                "build",
                "-p",
                "splitfeat-core",
                "--target",
                "wasm32-unknown-unknown",
            ],
        )?;
        eprintln!("xtask: browser tests skipped (--no-browser)");
        return Ok(());
    }
    // The page's wasm module (release) builds core for wasm32 too.
    wasm::build_wasm(true)?;
    // The cloud binary and the web examples the browser tests run are the ones
    // `cargo test --workspace` just built (a bin of a package with integration tests,
    // and every example): building them again with `-p` would resolve other features
    // and recompile their dependencies.
    let debug = wasm::target_dir(root).join("debug");
    let env = [
        (
            "SPLITFEAT_CLOUD_BIN".to_string(),
            debug.join("splitfeat-cloud").display().to_string(),
        ),
        (
            "SPLITFEAT_EXAMPLES_DIR".to_string(),
            debug.join("examples").display().to_string(),
        ),
    ];
    let tests = root.join("tests");
    run(&tests, "npm", &["ci", "--no-audit", "--no-fund"])?;
    process::run_env(&tests, "npm", &["test"], &env)
}
