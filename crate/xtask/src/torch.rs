//! LibTorch for the trainer's opt-in `tch` device: a Python virtual environment with
//! PyPI's `torch` wheel (which carries libtorch), and the environment under which
//! `splitfeat-train --features tch` builds and runs against it.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::process::run;

/// burn 0.22's `tch` 0.22 binds libtorch 2.9; newer wheels need C++20 headers that its
/// shim does not compile against.
pub const TORCH_VERSION: &str = "2.9.1";

/// Default place of the environment, relative to the workspace root (git-ignored).
pub const DEFAULT_VENV: &str = ".venv-torch";

fn python(venv: &Path) -> PathBuf {
    venv.join("bin/python")
}

/// libtorch's shared libraries inside the environment.
pub fn torch_lib_dir(venv: &Path) -> Result<PathBuf> {
    let out = Command::new(python(venv))
        .args([
            "-c",
            "import os, torch; print(os.path.join(os.path.dirname(torch.__file__), 'lib'))",
        ])
        .output()
        .with_context(|| format!("running {}", python(venv).display()))?;
    if !out.status.success() {
        bail!(
            "{} has no working torch ({}); run `cargo xtask torch-setup`",
            venv.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(PathBuf::from(String::from_utf8(out.stdout)?.trim()))
}

/// The variables that build `--features tch` against the environment's libtorch and
/// let the binary find it at run time.
pub fn torch_env(venv: &Path) -> Result<Vec<(String, String)>> {
    let lib = torch_lib_dir(venv)?;
    let bin = venv.join("bin");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let ld = match std::env::var("LD_LIBRARY_PATH") {
        Ok(old) if !old.is_empty() => format!("{}:{old}", lib.display()),
        _ => lib.display().to_string(),
    };
    Ok(vec![
        ("PATH".into(), path),
        ("LIBTORCH_USE_PYTORCH".into(), "1".into()),
        ("LIBTORCH_BYPASS_VERSION_CHECK".into(), "1".into()),
        ("LD_LIBRARY_PATH".into(), ld),
    ])
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .flatten()
            .map(|e| match e.metadata() {
                Ok(m) if m.is_dir() => dir_size(&e.path()),
                Ok(m) => m.len(),
                Err(_) => 0,
            })
            .sum()
    })
}

/// Creates the environment (if absent) and installs torch into it.
pub fn setup(venv: &Path) -> Result<()> {
    if !python(venv).exists() {
        run(
            Path::new("."),
            "python3",
            &["-m", "venv", &venv.to_string_lossy()],
        )?;
    }
    let pip = venv.join("bin/pip");
    let spec = format!("torch=={TORCH_VERSION}");
    eprintln!(
        "xtask: installing {spec} (about 7 GB with the CUDA libraries PyPI's wheel depends on)"
    );
    run(
        Path::new("."),
        &pip.to_string_lossy(),
        &["install", "--quiet", &spec],
    )?;
    let lib = torch_lib_dir(venv)?;
    eprintln!(
        "xtask: {} holds torch {TORCH_VERSION}: {:.1} GB on disk; libtorch in {}",
        venv.display(),
        dir_size(venv) as f64 / 1e9,
        lib.display()
    );
    eprintln!(
        "xtask: train with it: cargo xtask zoo --device tch, or by hand after `eval \"$(cargo xtask torch-env)\"`:"
    );
    eprintln!(
        "       cargo run --release -p splitfeat-train --features tch -- train --device tch ..."
    );
    Ok(())
}

/// `export` lines for a shell, so a person can build and run with `--features tch`.
pub fn print_env(venv: &Path) -> Result<()> {
    for (k, v) in torch_env(venv)? {
        println!("export {k}='{v}'");
    }
    Ok(())
}
