//! Builds the browser edge: `crate/web` for `wasm32-unknown-unknown`, then its
//! JavaScript bindings through the `wasm-bindgen-cli-support` library (`--target web`
//! output) into `www/pkg/`, which the page imports as `./pkg/splitfeat_web.js`.
//!
//! wasm-bindgen refuses a module made by another version of the `wasm-bindgen` crate,
//! so the library's version must equal the one in Cargo.lock; [`build_wasm`] checks
//! that first and says how to fix a mismatch.
//!
//! Release builds add fat LTO and one codegen unit (measured in docs/results-web.md);
//! `wasm-opt` is not run: it shrank the raw module but grew the gzip'd one.
//!
//! The wasm32 rustflags (`+simd128`, the getrandom backend, `web_sys_unstable_apis`)
//! come from `.cargo/config.toml`; a `RUSTFLAGS` in the environment would replace
//! them, so it is not passed on (use `CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS`).

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};

const TARGET: &str = "wasm32-unknown-unknown";
const PACKAGE: &str = "splitfeat-web";
/// File stem of the cdylib (the package name with `_`).
const STEM: &str = "splitfeat_web";

/// Installs the wasm32 standard library when the toolchain lacks it. rustup installs
/// rust-toolchain.toml's `targets` only when it installs the toolchain itself, so a
/// toolchain that was already there (a CI image, an earlier checkout) may have none.
fn ensure_target(root: &Path) -> Result<()> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| OsString::from("rustc"));
    let out = Command::new(rustc)
        .current_dir(root)
        .args(["--print", "sysroot"])
        .output()
        .context("running rustc --print sysroot")?;
    ensure!(out.status.success(), "rustc --print sysroot failed");
    let sysroot = PathBuf::from(String::from_utf8(out.stdout)?.trim());
    if sysroot.join("lib/rustlib").join(TARGET).is_dir() {
        return Ok(());
    }
    eprintln!("xtask: the toolchain has no {TARGET} standard library; rustup target add {TARGET}");
    let status = Command::new("rustup")
        .current_dir(root)
        .args(["target", "add", TARGET])
        .status();
    match status {
        Ok(s) if s.success() => Ok(()),
        _ => bail!(
            "the {TARGET} target is missing from the toolchain in {} and `rustup target add {TARGET}` failed; install it and run again",
            sysroot.display()
        ),
    }
}

/// Builds crate/web for wasm32 (`release`: the release profile) and writes the
/// bindings into `www/pkg/` (replacing what was there). Returns that directory.
pub fn build_wasm(release: bool) -> Result<PathBuf> {
    let root = workspace_root();
    check_bindgen_versions(&root.join("Cargo.lock"))?;
    ensure_target(&root)?;

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args(["build", "-p", PACKAGE, "--lib", "--target", TARGET]);
    if release {
        // Fat LTO with one codegen unit: 27% smaller raw and 7% smaller gzip than the
        // plain release profile, same speed (docs/results-web.md). `--config` applies it
        // to this build alone, not to the native release builds.
        cmd.args([
            "--release",
            "--config",
            "profile.release.lto=\"fat\"",
            "--config",
            "profile.release.codegen-units=1",
        ]);
    }
    for var in ["RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS"] {
        if std::env::var_os(var).is_some() {
            eprintln!(
                "xtask: ignoring {var} for the wasm32 build (it would replace .cargo/config.toml's wasm32 flags)"
            );
            cmd.env_remove(var);
        }
    }
    eprintln!(
        "xtask: building {PACKAGE} for {TARGET} ({})",
        if release { "release" } else { "debug" }
    );
    let status = cmd.status().context("running cargo")?;
    ensure!(
        status.success(),
        "cargo build of {PACKAGE} for {TARGET} failed ({status})"
    );

    let profile_dir = if release { "release" } else { "debug" };
    let wasm = target_dir(&root)
        .join(TARGET)
        .join(profile_dir)
        .join(format!("{STEM}.wasm"));
    ensure!(
        wasm.is_file(),
        "{} is missing after the build",
        wasm.display()
    );

    let out = root.join("www").join("pkg");
    if out.exists() {
        std::fs::remove_dir_all(&out).with_context(|| format!("removing {}", out.display()))?;
    }
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let mut bindgen = wasm_bindgen_cli_support::Bindgen::new();
    bindgen
        .input_path(&wasm)
        .web(true)?
        // As the CLI's `--target web`: `init()` without arguments finds the module
        // next to the JS file.
        .omit_default_module_path(false)
        .typescript(true)
        .debug(!release)
        .keep_debug(!release)
        .remove_name_section(release)
        .remove_producers_section(release);
    bindgen
        .generate(&out)
        .with_context(|| format!("wasm-bindgen on {}", wasm.display()))?;

    let bound = out.join(format!("{STEM}_bg.wasm"));
    let bytes = std::fs::read(&bound).with_context(|| format!("reading {}", bound.display()))?;
    eprintln!(
        "xtask: {} ({}, {} gzip -9; cargo output {})",
        rel(&root, &bound),
        mib(bytes.len() as u64),
        mib(gzip_len(&bytes)?),
        mib(std::fs::metadata(&wasm)?.len()),
    );
    Ok(out)
}

/// The workspace root (this file is in crate/xtask/src).
fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    here.canonicalize().unwrap_or(here)
}

/// `CARGO_TARGET_DIR` (relative to the root) or `<root>/target`.
pub fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}

/// Errors unless Cargo.lock holds one `wasm-bindgen` and one `wasm-bindgen-cli-support`
/// of the same version.
fn check_bindgen_versions(lock: &Path) -> Result<()> {
    let text =
        std::fs::read_to_string(lock).with_context(|| format!("reading {}", lock.display()))?;
    let lib = locked_versions(&text, "wasm-bindgen");
    let cli = locked_versions(&text, "wasm-bindgen-cli-support");
    match (lib.as_slice(), cli.as_slice()) {
        ([lib], [cli]) if lib == cli => Ok(()),
        ([lib], [cli]) => bail!(
            "Cargo.lock has wasm-bindgen {lib} but wasm-bindgen-cli-support {cli}; pin both to the same \
             version in the root Cargo.toml ([workspace.dependencies]) and run `cargo update -p wasm-bindgen`"
        ),
        _ => bail!(
            "Cargo.lock should hold exactly one wasm-bindgen ({lib:?}) and one wasm-bindgen-cli-support ({cli:?})"
        ),
    }
}

/// Versions of the package `name` in a Cargo.lock.
fn locked_versions(lock: &str, name: &str) -> Vec<String> {
    let wanted = format!("name = \"{name}\"");
    let mut lines = lock.lines();
    let mut out = Vec::new();
    while let Some(line) = lines.next() {
        if line.trim() == wanted
            && let Some(v) = lines
                .next()
                .and_then(|l| l.trim().strip_prefix("version = "))
        {
            out.push(v.trim_matches('"').to_string());
        }
    }
    out
}

/// Size of `bytes` after `gzip -9`.
pub(crate) fn gzip_len(bytes: &[u8]) -> Result<u64> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(bytes)?;
    Ok(gz.finish()?.len() as u64)
}

fn mib(bytes: u64) -> String {
    format!("{:.2} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn rel(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_versions_are_read_and_compared() {
        let lock = "[[package]]\nname = \"wasm-bindgen\"\nversion = \"0.2.130\"\n\n[[package]]\n\
                    name = \"wasm-bindgen-cli-support\"\nversion = \"0.2.130\"\n";
        assert_eq!(locked_versions(lock, "wasm-bindgen"), ["0.2.130"]);
        assert_eq!(
            locked_versions(lock, "wasm-bindgen-shared"),
            Vec::<String>::new()
        );
        let dir = std::env::temp_dir().join(format!("xtask-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("Cargo.lock");
        std::fs::write(&path, lock).unwrap();
        check_bindgen_versions(&path).unwrap();
        std::fs::write(&path, lock.replacen("0.2.130", "0.2.129", 1)).unwrap();
        assert!(
            check_bindgen_versions(&path)
                .unwrap_err()
                .to_string()
                .contains("0.2.129")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_workspace_lock_pins_matching_versions() {
        check_bindgen_versions(&workspace_root().join("Cargo.lock")).unwrap();
    }
}
