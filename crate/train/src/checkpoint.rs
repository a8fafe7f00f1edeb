//! Training checkpoints: one file holding the run state (JSON), the model record and
//! the optimizer record, written atomically.
//!
//! Layout: `b"SFCK1\n"`, u32 LE JSON length, JSON, u64 LE model length, model
//! (burnpack), u64 LE optimizer length, optimizer record.

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use splitfeat_core::model::ModelConfig;

use crate::fsutil::write_atomic;

const MAGIC: &[u8; 6] = b"SFCK1\n";

/// Everything that determines a run, so that `--resume` continues it exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    pub model: ModelConfig,
    pub lambda: f32,
    pub bits: u8,
    pub seed: u64,
    pub steps: u64,
    pub batch: usize,
    pub lr: f64,
    pub warmup: u64,
    pub final_lr_fraction: f64,
    /// Checkpoint the weights started from (lambda fine-tunes), if any.
    pub init_from: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointState {
    pub run: RunConfig,
    /// Number of optimizer steps completed.
    pub step: u64,
}

pub struct Checkpoint {
    pub state: CheckpointState,
    pub model: Vec<u8>,
    pub optimizer: Vec<u8>,
}

impl Checkpoint {
    pub fn save(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_vec(&self.state)?;
        let mut out = Vec::with_capacity(json.len() + self.model.len() + self.optimizer.len() + 32);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&u32::try_from(json.len())?.to_le_bytes());
        out.extend_from_slice(&json);
        for part in [&self.model, &self.optimizer] {
            out.extend_from_slice(&(part.len() as u64).to_le_bytes());
            out.extend_from_slice(part);
        }
        write_atomic(path, &out)
    }

    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).with_context(|| format!("reading checkpoint {}", path.display()))?;
        Self::parse(&bytes).with_context(|| format!("checkpoint {} is malformed", path.display()))
    }

    fn parse(bytes: &[u8]) -> Result<Self> {
        let rest = bytes.strip_prefix(MAGIC.as_slice()).context("not a splitfeat checkpoint (bad magic)")?;
        let (json, rest) = take(rest, 4, |b| u32::from_le_bytes(b.try_into().unwrap_or_default()) as u64)?;
        let state: CheckpointState = serde_json::from_slice(json).context("bad checkpoint state")?;
        let (model, rest) = take(rest, 8, |b| u64::from_le_bytes(b.try_into().unwrap_or_default()))?;
        let (optimizer, rest) = take(rest, 8, |b| u64::from_le_bytes(b.try_into().unwrap_or_default()))?;
        if !rest.is_empty() {
            bail!("{} trailing bytes", rest.len());
        }
        Ok(Self { state, model: model.to_vec(), optimizer: optimizer.to_vec() })
    }
}

/// Splits a length-prefixed part off the front of `bytes`.
fn take(bytes: &[u8], prefix: usize, len: impl Fn(&[u8]) -> u64) -> Result<(&[u8], &[u8])> {
    if bytes.len() < prefix {
        bail!("truncated length field");
    }
    let (head, rest) = bytes.split_at(prefix);
    let n = usize::try_from(len(head))?;
    if rest.len() < n {
        bail!("truncated: part of {n} bytes, {} left", rest.len());
    }
    Ok(rest.split_at(n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use splitfeat_core::model::Preset;

    fn sample() -> Checkpoint {
        Checkpoint {
            state: CheckpointState {
                run: RunConfig {
                    model: Preset::Test.config(),
                    lambda: 0.5,
                    bits: 8,
                    seed: 3,
                    steps: 10,
                    batch: 2,
                    lr: 1e-3,
                    warmup: 2,
                    final_lr_fraction: 0.1,
                    init_from: None,
                },
                step: 4,
            },
            model: vec![1, 2, 3],
            optimizer: vec![9; 5],
        }
    }

    #[test]
    fn round_trip_and_every_truncation_is_an_error() {
        let dir = std::env::temp_dir().join(format!("splitfeat-ckpt-{}", std::process::id()));
        let path = dir.join("c.sfck");
        sample().save(&path).unwrap();
        let back = Checkpoint::load(&path).unwrap();
        assert_eq!(back.state.run, sample().state.run);
        assert_eq!(back.state.step, 4);
        assert_eq!(back.model, vec![1, 2, 3]);
        assert_eq!(back.optimizer, vec![9; 5]);
        let bytes = std::fs::read(&path).unwrap();
        for cut in 0..bytes.len() {
            assert!(Checkpoint::parse(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
