//! An assets directory on disk: `manifest.json` and the weight files it lists. Native
//! readers (the server, the trainer, xtask, examples) open the zoo here; the browser
//! fetches the same files and checks them with the same [`ModelEntry`] methods.

use std::path::{Path, PathBuf};

use super::{MANIFEST_FILE, Manifest, ModelEntry, WeightsFile, ZooError};
use crate::codec::prior::ModelTables;

/// A manifest read and checked from an assets directory.
#[derive(Debug, Clone)]
pub struct Zoo {
    dir: PathBuf,
    manifest: Manifest,
}

/// A model's weight files, read and verified against the manifest (sizes, sha256 and,
/// for the edge, the model id).
#[derive(Debug, Clone)]
pub struct ModelWeights {
    pub edge: Vec<u8>,
    pub heads: Vec<u8>,
}

impl Zoo {
    /// Reads and checks `dir/manifest.json`; weight files are read by [`Zoo::weights`].
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, ZooError> {
        let dir = dir.into();
        let path = dir.join(MANIFEST_FILE);
        let json = read(&path)?;
        let manifest = Manifest::parse(&json).map_err(|e| match e {
            ZooError::Manifest(why) => ZooError::Manifest(format!("{}: {why}", path.display())),
            other => other,
        })?;
        Ok(Self { dir, manifest })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn into_manifest(self) -> Manifest {
        self.manifest
    }

    /// The model whose id or name is `name_or_id` ([`Manifest::find`]).
    pub fn find(&self, name_or_id: &str) -> Result<&ModelEntry, ZooError> {
        self.manifest.find(name_or_id)
    }

    /// Where a weights file of the manifest lies (its path is confined to the
    /// directory by [`Manifest::parse`]).
    pub fn path(&self, file: &WeightsFile) -> PathBuf {
        self.dir
            .join(file.path.strip_prefix("./").unwrap_or(&file.path))
    }

    /// Reads both weight files of `entry` and verifies them.
    pub fn weights(&self, entry: &ModelEntry) -> Result<ModelWeights, ZooError> {
        Ok(ModelWeights {
            edge: self.edge(entry)?,
            heads: self.heads(entry)?,
        })
    }

    /// The edge weights of `entry`, verified (size, sha256 and model id).
    pub fn edge(&self, entry: &ModelEntry) -> Result<Vec<u8>, ZooError> {
        let edge = read(&self.path(&entry.edge))?;
        entry.verify_edge(&edge)?;
        Ok(edge)
    }

    /// The prior tables of `entry`, verified and checked
    /// ([`ModelEntry::verify_tables`]); `None` when the model ships none.
    pub fn tables(&self, entry: &ModelEntry) -> Result<Option<ModelTables>, ZooError> {
        Ok(self.tables_file(entry)?.map(|(tables, _)| tables))
    }

    /// As [`Zoo::tables`], with the file's bytes (for copying the zoo elsewhere).
    pub fn tables_file(
        &self,
        entry: &ModelEntry,
    ) -> Result<Option<(ModelTables, Vec<u8>)>, ZooError> {
        let Some(file) = &entry.prior else {
            return Ok(None);
        };
        let bytes = read(&self.path(file))?;
        Ok(Some((entry.verify_tables(&bytes)?, bytes)))
    }

    /// The heads weights of `entry`, verified (size and sha256).
    pub fn heads(&self, entry: &ModelEntry) -> Result<Vec<u8>, ZooError> {
        let heads = read(&self.path(&entry.heads))?;
        entry.heads.verify(&heads)?;
        Ok(heads)
    }
}

fn read(path: &Path) -> Result<Vec<u8>, ZooError> {
    std::fs::read(path).map_err(|e| {
        let path = path.display().to_string();
        if e.kind() == std::io::ErrorKind::NotFound {
            ZooError::Missing { path }
        } else {
            ZooError::Io {
                path,
                error: e.to_string(),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Preset;
    use crate::zoo::untrained::{UntrainedModel, write_assets};
    use burn::prelude::Device;

    #[test]
    fn opens_finds_and_verifies_and_reports_what_is_wrong() {
        let dir = std::env::temp_dir().join(format!("splitfeat-zoo-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let device = Device::flex();
        let config = Preset::Test.config();
        let models = ["a", "b"].map(|n| UntrainedModel::new(n, 0.0, &config, &device).unwrap());
        write_assets(&dir, &models).unwrap();

        let zoo = Zoo::open(&dir).unwrap();
        assert_eq!(zoo.manifest().models.len(), 2);
        let b = zoo.find("b").unwrap();
        assert_eq!(zoo.find(&b.id.to_string()).unwrap().name, "b");
        let weights = zoo.weights(b).unwrap();
        assert_eq!(weights.edge, models[1].edge);
        assert_eq!(weights.heads, models[1].heads);

        // A weights file changed on disk is caught, and named.
        let heads_path = zoo.path(&b.heads);
        let mut heads = std::fs::read(&heads_path).unwrap();
        heads[0] ^= 1;
        std::fs::write(&heads_path, &heads).unwrap();
        match zoo.weights(b) {
            Err(ZooError::HashMismatch { path, .. }) => assert_eq!(path, b.heads.path),
            other => panic!("{other:?}"),
        }
        std::fs::remove_file(&heads_path).unwrap();
        assert!(matches!(zoo.weights(b), Err(ZooError::Missing { .. })));
        assert_eq!(zoo.edge(b).unwrap(), models[1].edge);

        std::fs::write(dir.join(MANIFEST_FILE), b"{ not json").unwrap();
        match Zoo::open(&dir) {
            Err(ZooError::Manifest(why)) => assert!(why.contains(MANIFEST_FILE), "{why}"),
            other => panic!("{other:?}"),
        }
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(Zoo::open(&dir), Err(ZooError::Missing { .. })));
    }

    #[test]
    fn prior_tables_travel_with_the_model_and_bad_ones_are_named() {
        let dir = std::env::temp_dir().join(format!("splitfeat-zoo-prior-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let device = Device::flex();
        let config = Preset::Test.config();
        let with = UntrainedModel::new("with", 0.1, &config, &device)
            .unwrap()
            .with_prior(&device)
            .unwrap();
        let without = UntrainedModel::new("without", 0.0, &config, &device).unwrap();
        write_assets(&dir, &[with.clone(), without]).unwrap();

        let zoo = Zoo::open(&dir).unwrap();
        let entry = zoo.find("with").unwrap().clone();
        assert_eq!(entry.files().count(), 3);
        let file = entry.prior.clone().unwrap();
        assert_eq!(file.path, "models/with/prior.json");
        // The file is the tables the model's prior makes: one set per depth of a
        // min-max model, each with a table per bottleneck channel.
        let tables = zoo.tables(&entry).unwrap().unwrap();
        assert_eq!(tables.depths().len(), 7);
        let json = std::fs::read(zoo.path(&file)).unwrap();
        assert_eq!(Some(&json), with.prior.as_ref());
        assert_eq!(entry.verify_tables(&json).unwrap(), tables);
        let plain = zoo.find("without").unwrap();
        assert_eq!(zoo.tables(plain).unwrap(), None);
        assert!(matches!(
            plain.verify_tables(&json),
            Err(ZooError::NoTables { model }) if model == "without"
        ));

        // Tampered bytes fail the hash; well-hashed bytes that are not this model's
        // tables (another channel count, not JSON) fail the check, naming the file.
        let mut tampered = json.clone();
        tampered[2] ^= 1;
        assert!(matches!(
            entry.verify_tables(&tampered),
            Err(ZooError::HashMismatch { .. })
        ));
        let other_channels =
            ModelTables::from(crate::codec::prior::PriorTables::from_probabilities(&[
                vec![0.5, 0.5],
            ]))
            .to_json()
            .unwrap();
        for bytes in [other_channels, b"{\"any_depth\": 3}".to_vec()] {
            let mut lying = entry.clone();
            lying.prior = Some(WeightsFile::describe(file.path.clone(), &bytes));
            match lying.verify_tables(&bytes) {
                Err(ZooError::Tables { path, error }) => {
                    assert_eq!(path, file.path);
                    assert!(
                        matches!(error, crate::codec::CodecError::BadTables(_)),
                        "{error}"
                    );
                }
                other => panic!("{other:?}"),
            }
        }
        std::fs::remove_file(zoo.path(&file)).unwrap();
        assert!(matches!(zoo.tables(&entry), Err(ZooError::Missing { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
