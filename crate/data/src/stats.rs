//! Summary statistics of a set of samples: class pixel frequencies and disparity range.

use splitfeat_core::classes::NUM_CLASSES;

use crate::Sample;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Stats {
    pub samples: usize,
    pub pixels: u64,
    /// Pixels per trainId.
    pub class_pixels: [u64; NUM_CLASSES],
    /// Samples in which each trainId appears at all.
    pub class_samples: [usize; NUM_CLASSES],
    pub ignore_pixels: u64,
    /// Pixels with a valid (non-zero) disparity.
    pub valid_disparity: u64,
    pub disparity_min: f32,
    pub disparity_max: f32,
    pub disparity_sum: f64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            samples: 0,
            pixels: 0,
            class_pixels: [0; NUM_CLASSES],
            class_samples: [0; NUM_CLASSES],
            ignore_pixels: 0,
            valid_disparity: 0,
            disparity_min: f32::INFINITY,
            disparity_max: 0.0,
            disparity_sum: 0.0,
        }
    }
}

impl Stats {
    pub fn of(samples: &[Sample]) -> Self {
        let mut s = Stats::default();
        for x in samples {
            s.add(x);
        }
        s
    }

    pub fn add(&mut self, s: &Sample) {
        let mut seen = [false; NUM_CLASSES];
        for &l in &s.labels {
            match self.class_pixels.get_mut(l as usize) {
                Some(n) => {
                    *n += 1;
                    seen[l as usize] = true;
                }
                None => self.ignore_pixels += 1,
            }
        }
        for (n, seen) in self.class_samples.iter_mut().zip(seen) {
            *n += usize::from(seen);
        }
        for &d in &s.disparity {
            if d > 0.0 && d.is_finite() {
                self.valid_disparity += 1;
                self.disparity_min = self.disparity_min.min(d);
                self.disparity_max = self.disparity_max.max(d);
                self.disparity_sum += d as f64;
            }
        }
        self.samples += 1;
        self.pixels += s.labels.len() as u64;
    }

    /// Fraction of all pixels labelled `train_id`.
    pub fn class_fraction(&self, train_id: usize) -> f64 {
        self.class_pixels
            .get(train_id)
            .map_or(0.0, |&n| n as f64 / self.pixels.max(1) as f64)
    }

    /// Mean of the valid disparities (0 if none).
    pub fn disparity_mean(&self) -> f64 {
        if self.valid_disparity == 0 {
            0.0
        } else {
            self.disparity_sum / self.valid_disparity as f64
        }
    }
}
