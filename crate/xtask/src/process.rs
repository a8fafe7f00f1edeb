//! Running child processes with the command echoed and failures reported clearly.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

/// Runs `program args` in `dir`, inheriting stdio; errors if it fails.
pub fn run(dir: &Path, program: &str, args: &[&str]) -> Result<()> {
    run_env(dir, program, args, &[])
}

/// [`run`] with extra environment variables.
pub fn run_env(dir: &Path, program: &str, args: &[&str], env: &[(String, String)]) -> Result<()> {
    eprintln!("xtask: {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(dir)
        .status()
        .with_context(|| format!("could not start {program}"))?;
    if !status.success() {
        bail!("{program} {} failed ({status})", args.join(" "));
    }
    Ok(())
}

/// Runs cargo (the one that runs xtask) with `args`.
pub fn cargo(dir: &Path, args: &[&str]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run(dir, &cargo, args)
}
