//! Module weights as burnpack bytes: the one format edge and head weights travel in,
//! in the browser (fetched bytes), on the server and in checkpoints.

use burn::module::Module;
use burn::store::{ModuleRecord, RecordError};
use burn::tensor::Bytes;

#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("weights are not a valid burnpack record: {0}")]
    Format(String),
    #[error("weights do not fit the architecture: {0}")]
    Mismatch(String),
}

impl From<RecordError> for WeightsError {
    fn from(e: RecordError) -> Self {
        match e {
            RecordError::Io(m) => WeightsError::Format(m),
            RecordError::Validation(m) => WeightsError::Mismatch(m),
        }
    }
}

/// Serialises a module's parameters and batch-norm running statistics.
///
/// Goes through `valid()`, which folds each running statistic's pending update into
/// its value first: a record taken from the training module directly would hold the
/// statistics of one step earlier.
pub fn module_to_bytes<M: Module>(module: &M) -> Result<Vec<u8>, WeightsError> {
    let bytes = module.valid().into_record().into_bytes()?;
    Ok(bytes.to_vec())
}

/// Loads parameters into a freshly initialised module of the same architecture.
/// Every tensor must be present and of the right shape.
pub fn load_module_bytes<M: Module>(module: M, bytes: &[u8]) -> Result<M, WeightsError> {
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))?;
    Ok(module.try_load_record(record)?)
}
