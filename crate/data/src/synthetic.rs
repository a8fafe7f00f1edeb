//! Synthetic scenes as a dataset, single renders, drive sequences and batches.

use rayon::prelude::*;

use crate::render::View;
use crate::rng::derive;
use crate::scene::World;
use crate::{DataError, Dataset, Sample, Split};

/// Largest accepted width or height of a rendered sample.
pub const MAX_SIDE: u32 = 4096;

/// How far the camera moves between two frames of a drive sequence, metres
/// (10 m/s at 25 frames/s).
pub const DRIVE_STEP_M: f32 = 0.4;

fn check_size(width: u32, height: u32) -> Result<(), DataError> {
    if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
        return Err(DataError::InvalidSize {
            width,
            height,
            max: MAX_SIDE,
        });
    }
    Ok(())
}

/// Renders the scene of `seed` at `width` x `height`. The same seed gives the same
/// bytes on every platform; the scene's geometry is resolution-independent.
pub fn render_scene(seed: u64, width: u32, height: u32) -> Result<Sample, DataError> {
    check_size(width, height)?;
    let world = World::new(seed);
    Ok(View::new(&world, width, height, 0.0, 0.0).render(seed))
}

/// Frame `frame_index` of a camera driving forward down the street of
/// `sequence_seed` at [`DRIVE_STEP_M`] per frame. Frame 0 shows the same street as
/// `render_scene(sequence_seed, ..)`; consecutive frames change smoothly.
pub fn drive_frame(
    sequence_seed: u64,
    frame_index: u32,
    width: u32,
    height: u32,
) -> Result<Sample, DataError> {
    check_size(width, height)?;
    let world = World::new(sequence_seed);
    let pos_z = frame_index as f32 * DRIVE_STEP_M;
    // The lead vehicle drifts slowly back and forth: a triangle wave of 8 m over
    // 400 frames, so its motion differs from the street's.
    let phase = (frame_index % 400) as f32 / 400.0;
    let lead_offset = 8.0 * (1.0 - (2.0 * phase - 1.0).abs());
    let noise_seed = if frame_index == 0 {
        sequence_seed
    } else {
        derive(sequence_seed, frame_index as u64)
    };
    Ok(View::new(&world, width, height, pos_z, lead_offset).render(noise_seed))
}

/// The camera of a synthetic scene at a given size: what converts its disparity to
/// depth and places its horizon.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct CameraInfo {
    /// Focal length in pixels ([`crate::FOCAL_PER_WIDTH`] times the width).
    pub focal_px: f32,
    pub baseline_m: f32,
    /// Image row of the horizon (pixel centres are at `r + 0.5`).
    pub horizon_row: f32,
    pub camera_height_m: f32,
}

impl CameraInfo {
    /// Depth in metres of a pixel with disparity `d`, `None` when invalid.
    pub fn depth_m(&self, d: f32) -> Option<f32> {
        (d > 0.0).then(|| self.focal_px * self.baseline_m / d)
    }

    /// Disparity of the ground plane at image row coordinate `row` (0 above the horizon).
    pub fn ground_disparity(&self, row: f32) -> f32 {
        (self.baseline_m / self.camera_height_m * (row - self.horizon_row)).max(0.0)
    }
}

/// The camera of the scene (or drive sequence) of `seed` at `width` x `height`.
pub fn camera_info(seed: u64, width: u32, height: u32) -> CameraInfo {
    let world = World::new(seed);
    let cam = crate::camera::Camera::new(
        width,
        height,
        world.horizon_frac,
        world.cam_height,
        world.sin_yaw,
        0.0,
        0.0,
    );
    CameraInfo {
        focal_px: cam.focal,
        baseline_m: crate::BASELINE_M,
        horizon_row: cam.horizon,
        camera_height_m: cam.height_m,
    }
}

/// Renders several scenes in parallel (rayon), in the order of `seeds`.
pub fn render_batch(seeds: &[u64], width: u32, height: u32) -> Result<Vec<Sample>, DataError> {
    check_size(width, height)?;
    seeds
        .par_iter()
        .map(|&s| render_scene(s, width, height))
        .collect()
}

/// The synthetic scenes of a split: sample `i` is the scene of `split.seed(i)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyntheticDataset {
    pub split: Split,
    pub len: usize,
    pub width: u32,
    pub height: u32,
}

impl SyntheticDataset {
    /// Checks that the split holds `len` scenes and that the size is renderable.
    pub fn new(split: Split, len: usize, width: u32, height: u32) -> Result<Self, DataError> {
        check_size(width, height)?;
        if let Some(max) = split.max_len().filter(|&m| len > m) {
            return Err(DataError::SplitTooSmall {
                split,
                max,
                requested: len,
            });
        }
        Ok(SyntheticDataset {
            split,
            len,
            width,
            height,
        })
    }

    /// The whole fixed validation set (1000 scenes).
    pub fn val(width: u32, height: u32) -> Result<Self, DataError> {
        Self::new(
            Split::Val,
            Split::Val.max_len().unwrap_or(1000),
            width,
            height,
        )
    }
}

impl Dataset for SyntheticDataset {
    fn len(&self) -> usize {
        self.len
    }

    fn get(&self, index: usize) -> Result<Sample, DataError> {
        let out_of_range = || DataError::IndexOutOfRange {
            index,
            len: self.len,
        };
        if index >= self.len {
            return Err(out_of_range());
        }
        let seed = self.split.seed(index).ok_or_else(out_of_range)?;
        render_scene(seed, self.width, self.height)
    }
}
