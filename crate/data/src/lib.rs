//! splitfeat-data: the samples the model trains and is evaluated on.
//!
//! Two sources share one [`Dataset`] API and one [`Sample`] format:
//! - [`SyntheticDataset`]: procedural street scenes rendered from a `u64` seed
//!   ([`render_scene`]), plus a forward-driving sequence mode ([`drive_frame`]);
//! - [`CityscapesDataset`]: the Cityscapes directory layout, for users who have it.
//!
//! Every sample carries RGB, per-pixel Cityscapes trainIds (255 = ignore) and a
//! disparity map in pixels of the sample's own width (0 = invalid). See `docs/data.md`.

mod camera;
pub mod cityscapes;
mod error;
pub mod image;
mod noise;
mod render;
mod rng;
mod scene;
pub mod stats;
mod synthetic;

pub use camera::{BASELINE_M, FOCAL_PER_WIDTH};
pub use cityscapes::CityscapesDataset;
pub use error::DataError;
pub use synthetic::{
    CameraInfo, DRIVE_STEP_M, MAX_SIDE, SyntheticDataset, camera_info, drive_frame, render_batch,
    render_scene,
};

use rayon::prelude::*;

/// Default sample height of the `tiny` model preset.
pub const DEFAULT_HEIGHT: u32 = 128;
/// Default sample width of the `tiny` model preset.
pub const DEFAULT_WIDTH: u32 = 256;

/// One training or evaluation sample. All maps are row-major, `height` rows of
/// `width` pixels; values are not normalised (the model decides that).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub width: u32,
    pub height: u32,
    /// RGB bytes, interleaved (HWC), `3 * width * height` values.
    pub rgb: Vec<u8>,
    /// Cityscapes trainIds (0..=18) or [`splitfeat_core::classes::IGNORE_LABEL`].
    pub labels: Vec<u8>,
    /// Disparity in pixels at this sample's width; 0 marks an invalid pixel.
    pub disparity: Vec<f32>,
}

impl Sample {
    /// Number of pixels (`width * height`).
    pub fn pixels(&self) -> usize {
        self.width as usize * self.height as usize
    }

    /// RGB, labels and disparity of `samples` each packed one sample after another:
    /// the layout of `splitfeat_core::multitask::Batch::from_packed` and of the
    /// evaluator's batches.
    pub fn pack(samples: &[Sample]) -> (Vec<u8>, Vec<u8>, Vec<f32>) {
        let rgb = samples.iter().flat_map(|s| s.rgb.iter().copied()).collect();
        let labels = samples
            .iter()
            .flat_map(|s| s.labels.iter().copied())
            .collect();
        let disparity = samples
            .iter()
            .flat_map(|s| s.disparity.iter().copied())
            .collect();
        (rgb, labels, disparity)
    }
}

/// Which disjoint part of the data a sample belongs to.
///
/// For synthetic data each split is a range of scene seeds; for Cityscapes it is the
/// directory of the same name (`train`, `val`, `test`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    /// Seeds `1_000_000..`, unbounded.
    Train,
    /// Seeds `0..1000`: the fixed validation set, the project's benchmark (its first
    /// 200 scenes were the whole set before it grew; they are unchanged).
    Val,
    /// Seeds `1000..1_000_000`.
    Test,
}

impl Split {
    /// First synthetic seed of the split.
    pub const fn first_seed(self) -> u64 {
        match self {
            Split::Train => 1_000_000,
            Split::Val => 0,
            Split::Test => 1000,
        }
    }

    /// Number of synthetic scenes in the split, `None` when unbounded.
    pub const fn max_len(self) -> Option<usize> {
        match self {
            Split::Train => None,
            Split::Val => Some(1000),
            Split::Test => Some(1_000_000 - 1000),
        }
    }

    /// Seed of the `index`-th synthetic scene of the split, `None` past its end.
    pub fn seed(self, index: usize) -> Option<u64> {
        match self.max_len() {
            Some(max) if index >= max => None,
            _ => self.first_seed().checked_add(index as u64),
        }
    }

    /// Directory name of the split in the Cityscapes layout.
    pub const fn dir_name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
        }
    }
}

impl std::fmt::Display for Split {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.dir_name())
    }
}

impl std::str::FromStr for Split {
    type Err = DataError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "train" => Ok(Split::Train),
            "val" => Ok(Split::Val),
            "test" => Ok(Split::Test),
            other => Err(DataError::UnknownSplit(other.to_owned())),
        }
    }
}

/// Number of threads that [`Dataset::get_many`] and [`render_batch`] spread work over.
pub fn worker_threads() -> usize {
    rayon::current_num_threads()
}

/// A finite, indexable source of samples, shared across worker threads.
pub trait Dataset: Send + Sync {
    fn len(&self) -> usize;

    fn get(&self, index: usize) -> Result<Sample, DataError>;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Loads several samples in parallel (rayon), in the order of `indices`.
    fn get_many(&self, indices: &[usize]) -> Result<Vec<Sample>, DataError> {
        indices.par_iter().map(|&i| self.get(i)).collect()
    }
}
