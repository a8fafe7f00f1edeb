//! The model zoo as data: `assets/manifest.json` lists every shipped model (id, preset,
//! lambda, architecture, weight files with sha256, evaluation results). The browser,
//! the server, the trainer's export and the tests all read it through these types;
//! [`Zoo`] opens an assets directory and reads verified weights, [`ModelId`] is a
//! model's identity, and [`untrained`] makes stand-in models for tests and tools.

mod dir;
mod id;
pub mod untrained;

pub use dir::{ModelWeights, Zoo};
pub use id::{BadModelId, ModelId};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::codec::CodecError;
use crate::codec::prior::ModelTables;
use crate::evaluate::EvalReport;
use crate::model::{ConfigError, ModelConfig};
use crate::quant::BitDepth;

pub const MANIFEST_FILE: &str = "manifest.json";
pub const MANIFEST_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    pub models: Vec<ModelEntry>,
}

/// One shipped model: an edge and its heads, trained together at one lambda.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelEntry {
    /// The edge weights' id (16 hex digits in JSON).
    pub id: ModelId,
    pub name: String,
    pub lambda: f32,
    /// The bit depth the model was trained and is deployed at.
    pub bits: BitDepth,
    pub config: ModelConfig,
    pub edge: WeightsFile,
    pub heads: WeightsFile,
    /// The `prior` codec's tables (`ModelTables` as JSON), for a model trained with a
    /// learned prior whose tables are shipped; absent otherwise. Edge and cloud both
    /// load them: the tables are part of the model, not of the stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prior: Option<WeightsFile>,
    /// Training steps of the weights (for the record).
    #[serde(default)]
    pub train_steps: u64,
    /// Evaluation results (the output of `splitfeat eval`), if evaluated.
    #[serde(default)]
    pub eval: Option<EvalReport>,
    /// A short evaluation (a few validation scenes) that the zoo test repeats to show
    /// that the shipped weights still give the shipped numbers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<EvalReport>,
}

/// A weights file relative to the assets directory, with its size and sha256.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeightsFile {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ZooError {
    #[error("manifest is not valid: {0}")]
    Manifest(String),
    #[error("manifest version {0} is not supported (expected {MANIFEST_VERSION})")]
    Version(u32),
    #[error("no model {0:?} in the manifest")]
    UnknownModel(String),
    #[error("{path}: sha256 is {found}, manifest says {expected}")]
    HashMismatch {
        path: String,
        expected: String,
        found: String,
    },
    #[error("{path}: {found} bytes, manifest says {expected}")]
    SizeMismatch {
        path: String,
        expected: u64,
        found: u64,
    },
    #[error("model {id}: the edge weights hash to model id {found}")]
    IdMismatch { id: ModelId, found: ModelId },
    #[error("{path}: {error}")]
    Io { path: String, error: String },
    #[error("{path}: no such file")]
    Missing { path: String },
    #[error("model {model:?}: {error}")]
    Config { model: String, error: ConfigError },
    #[error("model {model:?}: path {path:?} must be relative and stay inside the assets directory")]
    PathOutside { model: String, path: String },
    #[error("model {model:?} ships no prior tables")]
    NoTables { model: String },
    #[error("{path}: {error}")]
    Tables { path: String, error: CodecError },
}

/// Whether a manifest path stays inside the assets directory: relative, `/`-separated,
/// with no empty, `.` or `..` component, no backslash and no drive or scheme colon.
pub fn is_confined_path(path: &str) -> bool {
    // One leading "./" is allowed (the page and `dist` strip it).
    let path = path.strip_prefix("./").unwrap_or(path);
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains(['\\', ':', '\0'])
        && path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Manifest {
    pub fn parse(json: &[u8]) -> Result<Self, ZooError> {
        let m: Manifest =
            serde_json::from_slice(json).map_err(|e| ZooError::Manifest(e.to_string()))?;
        if m.version != MANIFEST_VERSION {
            return Err(ZooError::Version(m.version));
        }
        let mut ids = std::collections::BTreeSet::new();
        if let Some(twice) = m.models.iter().find(|e| !ids.insert(e.id)) {
            return Err(ZooError::Manifest(format!(
                "model id {} is listed twice",
                twice.id
            )));
        }
        for e in &m.models {
            e.config.check_ranges().map_err(|error| ZooError::Config {
                model: e.name.clone(),
                error,
            })?;
            e.config
                .validate()
                .map_err(|msg| ZooError::Manifest(format!("model {}: {msg}", e.id)))?;
            for path in e.files().map(|f| &f.path) {
                if !is_confined_path(path) {
                    return Err(ZooError::PathOutside {
                        model: e.name.clone(),
                        path: path.clone(),
                    });
                }
            }
        }
        Ok(m)
    }

    /// The model whose id or name is `name_or_id` (ids are checked first). Every
    /// reader that takes a model from a user (CLI flags, server `--model`) uses this.
    pub fn find(&self, name_or_id: &str) -> Result<&ModelEntry, ZooError> {
        let by_id = name_or_id
            .parse::<ModelId>()
            .ok()
            .and_then(|id| self.get(id));
        by_id
            .or_else(|| self.models.iter().find(|m| m.name == name_or_id))
            .ok_or_else(|| ZooError::UnknownModel(name_or_id.to_string()))
    }

    /// The model with this id.
    pub fn get(&self, id: ModelId) -> Option<&ModelEntry> {
        self.models.iter().find(|m| m.id == id)
    }

    /// Puts the models in the zoo's order ([`ModelEntry::lambda_order`]).
    pub fn sort_by_lambda(&mut self) {
        self.models.sort_by(ModelEntry::lambda_order);
    }
}

impl WeightsFile {
    pub fn describe(path: String, bytes: &[u8]) -> Self {
        Self {
            path,
            bytes: bytes.len() as u64,
            sha256: sha256_hex(bytes),
        }
    }

    /// Checks that `bytes` are this file's content.
    pub fn verify(&self, bytes: &[u8]) -> Result<(), ZooError> {
        if bytes.len() as u64 != self.bytes {
            return Err(ZooError::SizeMismatch {
                path: self.path.clone(),
                expected: self.bytes,
                found: bytes.len() as u64,
            });
        }
        let found = sha256_hex(bytes);
        if found != self.sha256 {
            return Err(ZooError::HashMismatch {
                path: self.path.clone(),
                expected: self.sha256.clone(),
                found,
            });
        }
        Ok(())
    }
}

impl ModelEntry {
    /// The zoo's order, everywhere models are listed: increasing lambda (the page's
    /// slider), then name.
    pub fn lambda_order(a: &Self, b: &Self) -> std::cmp::Ordering {
        a.lambda
            .total_cmp(&b.lambda)
            .then_with(|| a.name.cmp(&b.name))
    }

    /// The model's files: edge, heads and, when shipped, the prior tables.
    pub fn files(&self) -> impl Iterator<Item = &WeightsFile> {
        [&self.edge, &self.heads]
            .into_iter()
            .chain(self.prior.as_ref())
    }

    /// Verifies the edge weights against the manifest and against the model id.
    pub fn verify_edge(&self, bytes: &[u8]) -> Result<(), ZooError> {
        self.edge.verify(bytes)?;
        let found = ModelId::of_edge(bytes);
        if found != self.id {
            return Err(ZooError::IdMismatch { id: self.id, found });
        }
        Ok(())
    }

    /// The model's prior tables from the bytes of its `prior` file: verified against
    /// the manifest (size, sha256), parsed and checked against the bottleneck's channels.
    pub fn verify_tables(&self, bytes: &[u8]) -> Result<ModelTables, ZooError> {
        let file = self.prior.as_ref().ok_or_else(|| ZooError::NoTables {
            model: self.name.clone(),
        })?;
        file.verify(bytes)?;
        let channels = self.config.bottleneck_shape()[0];
        ModelTables::from_json(bytes, channels).map_err(|error| ZooError::Tables {
            path: file.path.clone(),
            error,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Preset;

    fn entry(edge: &[u8], heads: &[u8]) -> ModelEntry {
        ModelEntry {
            id: ModelId::of_edge(edge),
            name: "t".into(),
            lambda: 0.0,
            bits: BitDepth::EIGHT,
            config: Preset::Test.config(),
            edge: WeightsFile::describe("e.bpk".into(), edge),
            heads: WeightsFile::describe("h.bpk".into(), heads),
            prior: None,
            train_steps: 1,
            eval: None,
            check: None,
        }
    }

    #[test]
    fn find_takes_an_id_or_a_name_ids_first() {
        let a = entry(b"edge a", b"heads");
        let mut b = entry(b"edge b", b"heads");
        // A model named like another's id: the id wins.
        b.name = a.id.to_string();
        let manifest = Manifest {
            version: MANIFEST_VERSION,
            models: vec![a.clone(), b.clone()],
        };
        assert_eq!(manifest.find(&a.id.to_string()).unwrap().id, a.id);
        assert_eq!(manifest.find(&b.id.to_string()).unwrap().id, b.id);
        assert_eq!(manifest.get(b.id).unwrap().name, a.id.to_string());
        let mut named = manifest.clone();
        named.models[1].name = "tiny-l0.01".into();
        assert_eq!(named.find("tiny-l0.01").unwrap().id, b.id);
        assert!(matches!(named.find("nope"), Err(ZooError::UnknownModel(n)) if n == "nope"));
    }

    #[test]
    fn verification_catches_tampering_and_round_trips() {
        let e = entry(b"edge", b"heads");
        e.verify_edge(b"edge").unwrap();
        e.heads.verify(b"heads").unwrap();
        assert!(matches!(
            e.verify_edge(b"edgE"),
            Err(ZooError::HashMismatch { .. })
        ));
        assert!(matches!(
            e.heads.verify(b"head"),
            Err(ZooError::SizeMismatch { .. })
        ));
        let mut wrong_id = e.clone();
        wrong_id.id = ModelId::from_bytes([0; 8]);
        assert!(matches!(
            wrong_id.verify_edge(b"edge"),
            Err(ZooError::IdMismatch { .. })
        ));
        let m = Manifest {
            version: MANIFEST_VERSION,
            models: vec![e.clone()],
        };
        let parsed = Manifest::parse(&serde_json::to_vec(&m).unwrap()).unwrap();
        assert_eq!(parsed, m);
        assert_eq!(parsed.get(e.id).unwrap().id, ModelId::of_edge(b"edge"));
        assert!(matches!(
            parsed.find("nope"),
            Err(ZooError::UnknownModel(_))
        ));
        let mut bad_id = serde_json::to_value(&m).unwrap();
        bad_id["models"][0]["id"] = "not-an-id".into();
        assert!(matches!(
            Manifest::parse(&serde_json::to_vec(&bad_id).unwrap()),
            Err(ZooError::Manifest(_))
        ));
        assert!(matches!(Manifest::parse(b"{"), Err(ZooError::Manifest(_))));
        let mut bad_bits = serde_json::to_value(&m).unwrap();
        bad_bits["models"][0]["bits"] = 17.into();
        match Manifest::parse(&serde_json::to_vec(&bad_bits).unwrap()) {
            Err(ZooError::Manifest(msg)) => assert!(msg.contains("bit depth 17"), "{msg}"),
            other => panic!("{other:?}"),
        }
        let mut zero = m.clone();
        zero.models[0].config.head_channels[0] = 0;
        match Manifest::parse(&serde_json::to_vec(&zero).unwrap()) {
            Err(ZooError::Config { model, error }) => assert_eq!(
                (model.as_str(), error.field.as_str()),
                ("t", "head_channels[0]")
            ),
            other => panic!("{other:?}"),
        }
        for path in [
            "../x.bpk",
            "/etc/passwd",
            "models/../../x",
            "a//b",
            "./../a",
            "././a",
            "C:/x",
            "a\\..\\b",
            "",
            "./",
        ] {
            let mut outside = m.clone();
            outside.models[0].heads.path = path.into();
            assert!(
                matches!(
                    Manifest::parse(&serde_json::to_vec(&outside).unwrap()),
                    Err(ZooError::PathOutside { .. })
                ),
                "{path:?}"
            );
            let mut prior_outside = m.clone();
            prior_outside.models[0].prior = Some(WeightsFile::describe(path.into(), b"{}"));
            assert!(
                matches!(
                    Manifest::parse(&serde_json::to_vec(&prior_outside).unwrap()),
                    Err(ZooError::PathOutside { .. })
                ),
                "prior {path:?}"
            );
        }
        assert!(is_confined_path("models/tiny-l0/edge.bpk"));
        assert!(is_confined_path("./models/tiny-l0/edge.bpk"));
        let mut twice = m.clone();
        twice.models.push(e.clone());
        match Manifest::parse(&serde_json::to_vec(&twice).unwrap()) {
            Err(ZooError::Manifest(why)) => assert!(why.contains("listed twice"), "{why}"),
            other => panic!("{other:?}"),
        }
        let mut v2 = m;
        v2.version = 2;
        assert!(matches!(
            Manifest::parse(&serde_json::to_vec(&v2).unwrap()),
            Err(ZooError::Version(2))
        ));
    }
}
