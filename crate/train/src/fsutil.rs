//! Atomic file writes: a checkpoint or model file is either the old one or the new one,
//! never a torn mix, even if the process is killed mid-write.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

/// Writes `bytes` to `path` via a temporary file in the same directory, fsync and
/// rename. Temporary files of `path` left by processes that no longer run (killed
/// mid-write) are removed first.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = path
        .file_name()
        .context("path has no file name")?
        .to_string_lossy();
    remove_stale_temp_files(dir, &name);
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| -> Result<()> {
        let mut f = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(bytes)
            .with_context(|| format!("writing {}", tmp.display()))?;
        f.sync_all()
            .with_context(|| format!("syncing {}", tmp.display()))?;
        fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
        // Persist the rename itself.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Removes `dir/.NAME.tmp-PID` files whose PID is not a running process. Best
/// effort: a file that cannot be listed or removed is left; where liveness cannot be
/// told (no `/proc`), nothing is removed.
pub fn remove_stale_temp_files(dir: &Path, name: &str) -> usize {
    let prefix = format!(".{name}.tmp-");
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(pid) = file_name
            .to_str()
            .and_then(|f| f.strip_prefix(&prefix))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id()
            && pid_alive(pid) == Some(false)
            && fs::remove_file(entry.path()).is_ok()
        {
            removed += 1;
        }
    }
    removed
}

/// Whether process `pid` exists, where the system says (Linux: `/proc`).
fn pid_alive(pid: u32) -> Option<bool> {
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return None;
    }
    Some(proc.join(pid.to_string()).exists())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temporary_file() {
        let dir = std::env::temp_dir().join(format!("splitfeat-fsutil-{}", std::process::id()));
        let path = dir.join("a.bin");
        write_atomic(&path, b"first").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        let entries: Vec<_> = fs::read_dir(&dir).unwrap().collect();
        assert_eq!(entries.len(), 1);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn temp_files_of_dead_processes_are_removed() {
        let dir =
            std::env::temp_dir().join(format!("splitfeat-fsutil-stale-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        if pid_alive(1) != Some(true) {
            return; // no /proc: liveness unknown, nothing is removed
        }
        // PIDs never exceed 2^22 on Linux, so this one is dead.
        let dead = dir.join(".c.sfck.tmp-999999999");
        let live = dir.join(".c.sfck.tmp-1");
        let other = dir.join(".d.sfck.tmp-999999999");
        for f in [&dead, &live, &other] {
            fs::write(f, b"partial").unwrap();
        }
        write_atomic(&dir.join("c.sfck"), b"new").unwrap();
        assert!(!dead.exists(), "stale temp file of a dead run left");
        assert!(live.exists(), "a running process's temp file removed");
        assert!(other.exists(), "another file's temp file removed");
        assert_eq!(fs::read(dir.join("c.sfck")).unwrap(), b"new");
        fs::remove_dir_all(&dir).unwrap();
    }
}
