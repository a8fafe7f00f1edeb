use std::path::PathBuf;

/// Everything that can go wrong while producing, loading or writing samples.
/// Errors about a file name that file.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a readable PNG: {source}", path.display())]
    Decode {
        path: PathBuf,
        #[source]
        source: png::DecodingError,
    },
    #[error("{}: cannot encode PNG: {source}", path.display())]
    Encode {
        path: PathBuf,
        #[source]
        source: png::EncodingError,
    },
    #[error("{}: expected {expected}, found {found}", path.display())]
    Format {
        path: PathBuf,
        expected: &'static str,
        found: String,
    },
    #[error(
        "{}: size {found_width}x{found_height} differs from its image's {width}x{height}",
        path.display()
    )]
    SizeMismatch {
        path: PathBuf,
        width: u32,
        height: u32,
        found_width: u32,
        found_height: u32,
    },
    #[error("{}: missing (expected next to {})", path.display(), image.display())]
    MissingFile { path: PathBuf, image: PathBuf },
    #[error("{}: no *_leftImg8bit.png images found", path.display())]
    Empty { path: PathBuf },
    #[error("invalid sample size {width}x{height}: each side must be 1..={max}")]
    InvalidSize { width: u32, height: u32, max: u32 },
    #[error("buffer of {found} bytes does not hold a {width}x{height} image ({expected} bytes)")]
    BufferLength {
        width: u32,
        height: u32,
        expected: usize,
        found: usize,
    },
    #[error("index {index} out of range for a dataset of {len} samples")]
    IndexOutOfRange { index: usize, len: usize },
    #[error("split {split} holds {max} synthetic scenes, {requested} requested")]
    SplitTooSmall {
        split: crate::Split,
        max: usize,
        requested: usize,
    },
    #[error("unknown split `{0}` (expected train, val or test)")]
    UnknownSplit(String),
}

impl DataError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            source,
        }
    }
}
