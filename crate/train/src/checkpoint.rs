//! Training checkpoints: one file holding the run state (JSON), the model record and
//! the optimizer record, written atomically and checksummed.
//!
//! Layout (format 2, written): `b"SFCK2\n"`, u32 LE JSON length, JSON, u64 LE model
//! length, model (burnpack), u64 LE optimizer length, optimizer record, then the
//! sha256 of everything before it (32 bytes). Format 1 (`b"SFCK1\n"`, the same
//! without the checksum) is still read. On load the checksum is verified first, then
//! every configuration value against its documented range.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use splitfeat_core::model::{ConfigError, ModelConfig};

use crate::fsutil::write_atomic;

/// Magic of the format written now (with a trailing sha256).
const MAGIC: &[u8; 6] = b"SFCK2\n";
/// Magic of the first format (no checksum), still read.
const MAGIC_V1: &[u8; 6] = b"SFCK1\n";
const CHECKSUM_LEN: usize = 32;

/// Why a checkpoint could not be loaded. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("cannot read checkpoint {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a splitfeat checkpoint (bad magic)", .path.display())]
    BadMagic { path: PathBuf },
    #[error("checkpoint {} is corrupted: sha256 of its content is {computed}, the file records {stored}", .path.display())]
    Checksum {
        path: PathBuf,
        stored: String,
        computed: String,
    },
    #[error("checkpoint {} is malformed: {detail}", .path.display())]
    Malformed { path: PathBuf, detail: String },
    #[error("checkpoint {}: configuration value out of range: {error}", .path.display())]
    Config { path: PathBuf, error: ConfigError },
}

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
    /// Bit depths of the Q-layer noise, one drawn per step (seeded); empty: `bits`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub noise_bits: Vec<u8>,
    /// The compressibility loss's unit is a step of a range that passes no gradient.
    #[serde(default)]
    pub detach_range: bool,
    /// lambda rises linearly from 0 over this many steps (0: full lambda from the start).
    #[serde(default)]
    pub lambda_ramp: u64,
    /// Fixed priority of each task (segmentation, disparity, reconstruction) on top of
    /// the uncertainty weights; all 1 (the default, not written) is plain uncertainty
    /// weighting.
    #[serde(
        default = "unit_priorities",
        skip_serializing_if = "is_unit_priorities"
    )]
    pub task_priorities: [f32; 3],
}

fn unit_priorities() -> [f32; 3] {
    [1.0; 3]
}

fn is_unit_priorities(p: &[f32; 3]) -> bool {
    *p == unit_priorities()
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

/// Documented ranges of the run settings in a checkpoint (docs/ARCHITECTURE.md,
/// "Limits").
pub mod run_limits {
    /// Samples per step.
    pub const BATCH: std::ops::RangeInclusive<usize> = 1..=1024;
    /// Peak learning rate (exclusive of 0).
    pub const MAX_LR: f64 = 10.0;
    /// Largest lambda (weight of the compressibility loss).
    pub const MAX_LAMBDA: f32 = 1e6;
    /// Largest task priority (priorities are positive).
    pub const MAX_TASK_PRIORITY: f32 = 1e3;
}

impl RunConfig {
    /// Checks every value against its documented range, naming the first field out
    /// of range (`model.stem_channels`, `batch`, `lr`, ...).
    pub fn validate(&self) -> Result<(), ConfigError> {
        use run_limits::*;
        self.model.check_ranges().map_err(|e| e.within("model"))?;
        self.model
            .validate()
            .map_err(|message| ConfigError::new("model", message))?;
        if !(self.lambda.is_finite() && (0.0..=MAX_LAMBDA).contains(&self.lambda)) {
            return Err(ConfigError::new(
                "lambda",
                format!("{} is outside 0..={MAX_LAMBDA}", self.lambda),
            ));
        }
        if let Some(p) = self
            .task_priorities
            .iter()
            .find(|p| !(p.is_finite() && **p > 0.0 && **p <= MAX_TASK_PRIORITY))
        {
            return Err(ConfigError::new(
                "task_priorities",
                format!("{p} is outside (0, {MAX_TASK_PRIORITY}]"),
            ));
        }
        splitfeat_core::quant::check_bits(self.bits)
            .map_err(|e| ConfigError::new("bits", e.to_string()))?;
        for &b in &self.noise_bits {
            splitfeat_core::quant::check_bits(b)
                .map_err(|e| ConfigError::new("noise_bits", e.to_string()))?;
        }
        if self.steps == 0 {
            return Err(ConfigError::new("steps", "0; a run has at least one step"));
        }
        if !BATCH.contains(&self.batch) {
            return Err(ConfigError::new(
                "batch",
                format!(
                    "{} is outside {}..={}",
                    self.batch,
                    BATCH.start(),
                    BATCH.end()
                ),
            ));
        }
        if !(self.lr.is_finite() && self.lr > 0.0 && self.lr <= MAX_LR) {
            return Err(ConfigError::new(
                "lr",
                format!("{} is not a finite value in (0, {MAX_LR}]", self.lr),
            ));
        }
        if !(self.final_lr_fraction.is_finite() && (0.0..=1.0).contains(&self.final_lr_fraction)) {
            return Err(ConfigError::new(
                "final_lr_fraction",
                format!("{} is outside 0..=1", self.final_lr_fraction),
            ));
        }
        Ok(())
    }
}

impl Checkpoint {
    /// Writes the checkpoint (format 2) atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_vec(&self.state)?;
        let mut out = Vec::with_capacity(json.len() + self.model.len() + self.optimizer.len() + 64);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&u32::try_from(json.len())?.to_le_bytes());
        out.extend_from_slice(&json);
        for part in [&self.model, &self.optimizer] {
            out.extend_from_slice(&(part.len() as u64).to_le_bytes());
            out.extend_from_slice(part);
        }
        let digest = Sha256::digest(&out);
        out.extend_from_slice(&digest);
        write_atomic(path, &out)
    }

    /// Reads, verifies (checksum, then every configuration value) and parses a
    /// checkpoint of format 2 or 1.
    pub fn load(path: &Path) -> Result<Self, CheckpointError> {
        let bytes = std::fs::read(path).map_err(|source| CheckpointError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&bytes, path)
    }

    fn parse(bytes: &[u8], path: &Path) -> Result<Self, CheckpointError> {
        let malformed = |detail: String| CheckpointError::Malformed {
            path: path.to_path_buf(),
            detail,
        };
        let body = if let Some(rest) = bytes.strip_prefix(MAGIC.as_slice()) {
            if rest.len() < CHECKSUM_LEN {
                return Err(malformed("truncated before its checksum".into()));
            }
            let (content, stored) = bytes.split_at(bytes.len() - CHECKSUM_LEN);
            let computed = Sha256::digest(content);
            if computed.as_slice() != stored {
                return Err(CheckpointError::Checksum {
                    path: path.to_path_buf(),
                    stored: hex::encode(stored),
                    computed: hex::encode(computed),
                });
            }
            &content[MAGIC.len()..]
        } else if let Some(rest) = bytes.strip_prefix(MAGIC_V1.as_slice()) {
            rest
        } else {
            return Err(CheckpointError::BadMagic {
                path: path.to_path_buf(),
            });
        };
        let (json, rest) = take(body, 4, |b| {
            u32::from_le_bytes(b.try_into().unwrap_or_default()) as u64
        })
        .map_err(malformed)?;
        let state: CheckpointState = serde_json::from_slice(json)
            .map_err(|e| malformed(format!("bad checkpoint state: {e}")))?;
        state
            .run
            .validate()
            .map_err(|error| CheckpointError::Config {
                path: path.to_path_buf(),
                error,
            })?;
        let (model, rest) = take(rest, 8, |b| {
            u64::from_le_bytes(b.try_into().unwrap_or_default())
        })
        .map_err(malformed)?;
        let (optimizer, rest) = take(rest, 8, |b| {
            u64::from_le_bytes(b.try_into().unwrap_or_default())
        })
        .map_err(malformed)?;
        if !rest.is_empty() {
            return Err(malformed(format!("{} trailing bytes", rest.len())));
        }
        Ok(Self {
            state,
            model: model.to_vec(),
            optimizer: optimizer.to_vec(),
        })
    }
}

/// Splits a length-prefixed part off the front of `bytes`.
fn take(bytes: &[u8], prefix: usize, len: impl Fn(&[u8]) -> u64) -> Result<(&[u8], &[u8]), String> {
    if bytes.len() < prefix {
        return Err("truncated length field".into());
    }
    let (head, rest) = bytes.split_at(prefix);
    let n = len(head);
    match usize::try_from(n) {
        Ok(n) if n <= rest.len() => Ok(rest.split_at(n)),
        _ => Err(format!("truncated: part of {n} bytes, {} left", rest.len())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use splitfeat_core::model::Preset;

    /// The run settings of a small run, from JSON so that fields added later with
    /// defaults need no change here.
    fn run() -> RunConfig {
        serde_json::from_value(serde_json::json!({
            "model": Preset::Test.config(),
            "lambda": 0.5,
            "bits": 8,
            "seed": 3,
            "steps": 10,
            "batch": 2,
            "lr": 1e-3,
            "warmup": 2,
            "final_lr_fraction": 0.1,
            "init_from": null,
        }))
        .unwrap()
    }

    fn sample() -> Checkpoint {
        Checkpoint {
            state: CheckpointState {
                run: run(),
                step: 4,
            },
            model: vec![1, 2, 3],
            optimizer: vec![9; 5],
        }
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("splitfeat-ckpt-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn round_trip_and_every_truncation_is_an_error() {
        let dir = temp_dir("trunc");
        let path = dir.join("c.sfck");
        sample().save(&path).unwrap();
        let back = Checkpoint::load(&path).unwrap();
        assert_eq!(back.state.run, sample().state.run);
        assert_eq!(back.state.step, 4);
        assert_eq!(back.model, vec![1, 2, 3]);
        assert_eq!(back.optimizer, vec![9; 5]);
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes.starts_with(MAGIC));
        for cut in 0..bytes.len() {
            assert!(
                Checkpoint::parse(&bytes[..cut], &path).is_err(),
                "cut at {cut}"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn every_bit_flip_is_detected_and_names_the_file() {
        let dir = temp_dir("flip");
        let path = dir.join("c.sfck");
        sample().save(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        for i in 0..bytes.len() {
            for bit in [0, 3, 7] {
                let mut bad = bytes.clone();
                bad[i] ^= 1 << bit;
                let err = Checkpoint::parse(&bad, &path)
                    .err()
                    .unwrap_or_else(|| panic!("flip at {i}.{bit} passed"));
                assert!(
                    err.to_string().contains(&path.display().to_string()),
                    "{err}"
                );
                // Past the magic, a flip is a checksum failure.
                if i >= MAGIC.len() {
                    assert!(
                        matches!(err, CheckpointError::Checksum { .. }),
                        "flip at {i}.{bit}: {err}"
                    );
                }
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A format-1 file (no checksum) as the first trainer wrote it.
    fn v1_bytes(state: &serde_json::Value, model: &[u8], optimizer: &[u8]) -> Vec<u8> {
        let json = serde_json::to_vec(state).unwrap();
        let mut out = MAGIC_V1.to_vec();
        out.extend_from_slice(&(json.len() as u32).to_le_bytes());
        out.extend_from_slice(&json);
        for part in [model, optimizer] {
            out.extend_from_slice(&(part.len() as u64).to_le_bytes());
            out.extend_from_slice(part);
        }
        out
    }

    #[test]
    fn format_1_still_loads() {
        let path = Path::new("v1.sfck");
        let state = serde_json::to_value(&sample().state).unwrap();
        let back = Checkpoint::parse(&v1_bytes(&state, &[1, 2, 3], &[9; 5]), path).unwrap();
        assert_eq!(back.state.run, sample().state.run);
        assert_eq!((back.model, back.optimizer), (vec![1, 2, 3], vec![9; 5]));
    }

    #[test]
    fn the_shipped_base_checkpoint_loads() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/checkpoints/tiny-base.sfck");
        if !path.exists() {
            return;
        }
        let ckpt = Checkpoint::load(&path).unwrap();
        assert_eq!(ckpt.state.run.model.preset, Preset::Tiny);
        assert!(!ckpt.model.is_empty() && !ckpt.optimizer.is_empty());
    }

    #[test]
    fn configuration_values_out_of_range_are_named() {
        let path = Path::new("bad.sfck");
        let cases: [(&str, serde_json::Value, &str); 9] = [
            ("batch", serde_json::json!(0), "batch"),
            ("lr", serde_json::json!(-1.0), "lr"),
            ("lr", serde_json::json!(0.0), "lr"),
            ("steps", serde_json::json!(0), "steps"),
            ("bits", serde_json::json!(0), "bits"),
            ("lambda", serde_json::json!(-0.5), "lambda"),
            (
                "final_lr_fraction",
                serde_json::json!(2.0),
                "final_lr_fraction",
            ),
            ("batch", serde_json::json!(1u64 << 40), "batch"),
            ("lr", serde_json::json!(1e300), "lr"),
        ];
        let good = serde_json::to_value(&sample().state).unwrap();
        for (key, value, field) in cases {
            let mut state = good.clone();
            state["run"][key] = value.clone();
            match Checkpoint::parse(&v1_bytes(&state, &[1], &[2]), path) {
                Err(CheckpointError::Config { error, .. }) => {
                    assert_eq!(error.field, field, "{key}={value}")
                }
                other => panic!("{key}={value}: {:?}", other.err()),
            }
        }
        let model_cases: [(&str, serde_json::Value, &str); 4] = [
            ("stem_channels", serde_json::json!(0), "model.stem_channels"),
            (
                "stem_channels",
                serde_json::json!(1u64 << 40),
                "model.stem_channels",
            ),
            ("input_height", serde_json::json!(0), "model.input_height"),
            (
                "head_channels",
                serde_json::json!([0, 8]),
                "model.head_channels[0]",
            ),
        ];
        for (key, value, field) in model_cases {
            let mut state = good.clone();
            state["run"]["model"][key] = value.clone();
            // Through the checksummed format too: the checksum is sound, the value not.
            let mut ckpt = sample();
            ckpt.state = serde_json::from_value(state.clone()).unwrap();
            let dir = temp_dir(&format!("cfg-{key}"));
            let file = dir.join("c.sfck");
            ckpt.save(&file).unwrap();
            match Checkpoint::load(&file) {
                Err(e @ CheckpointError::Config { .. }) => {
                    assert!(e.to_string().contains(&file.display().to_string()), "{e}");
                    let CheckpointError::Config { error, .. } = e else {
                        unreachable!()
                    };
                    assert_eq!(error.field, field, "{key}={value}");
                }
                other => panic!("{key}={value}: {:?}", other.err()),
            }
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }
}
