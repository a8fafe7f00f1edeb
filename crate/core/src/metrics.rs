//! Task metrics (segmentation mIoU, disparity RMSE, reconstruction PSNR) and the
//! Bjontegaard delta between two rate-quality curves.
//!
//! Every accumulator is mergeable, so evaluation can run in parallel chunks.

use serde::{Deserialize, Serialize};

use crate::classes::IGNORE_LABEL;

/// Why a metric could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricsError {
    #[error("prediction has {pred} elements, target has {target}")]
    LengthMismatch { pred: usize, target: usize },
    #[error("label {label} is neither a class below {classes} nor the ignore label")]
    LabelOutOfRange { label: u8, classes: usize },
    #[error("cannot merge a {other}-class matrix into a {this}-class one")]
    ClassCountMismatch { this: usize, other: usize },
    #[error("no elements to compare")]
    Empty,
    #[error("a rate-quality curve needs at least {min} points, got {got}")]
    TooFewPoints { got: usize, min: usize },
    #[error("a curve needs at least 4 distinct values of the fitted variable")]
    Degenerate,
    #[error("non-finite rate or quality in a curve")]
    NonFinite,
    #[error("rate {0} is not positive")]
    NonPositiveRate(f64),
    #[error("the two curves do not overlap")]
    NoOverlap,
}

/// Confusion matrix over `n` classes; rows are the target class, columns the
/// predicted one. Target pixels equal to [`IGNORE_LABEL`] (255) are skipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfusionMatrix {
    classes: usize,
    counts: Vec<u64>,
}

impl ConfusionMatrix {
    pub fn new(classes: usize) -> Self {
        Self {
            classes,
            counts: vec![0; classes * classes],
        }
    }

    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Pixels of target class `target` predicted as `pred` (0 outside the matrix).
    pub fn get(&self, target: usize, pred: usize) -> u64 {
        if target < self.classes && pred < self.classes {
            self.counts[target * self.classes + pred]
        } else {
            0
        }
    }

    /// Counts all non-ignored pixels. Errors, without counting anything, on a
    /// length mismatch or a label (target other than 255, or prediction) outside
    /// `0..n`.
    pub fn update(&mut self, pred: &[u8], target: &[u8]) -> Result<(), MetricsError> {
        if pred.len() != target.len() {
            return Err(MetricsError::LengthMismatch {
                pred: pred.len(),
                target: target.len(),
            });
        }
        let n = self.classes;
        let out_of_range = |label: u8| MetricsError::LabelOutOfRange { label, classes: n };
        for (&p, &t) in pred.iter().zip(target) {
            if t == IGNORE_LABEL {
                continue;
            }
            if usize::from(t) >= n {
                return Err(out_of_range(t));
            }
            if usize::from(p) >= n {
                return Err(out_of_range(p));
            }
        }
        for (&p, &t) in pred.iter().zip(target) {
            if t != IGNORE_LABEL {
                self.counts[usize::from(t) * n + usize::from(p)] += 1;
            }
        }
        Ok(())
    }

    /// Adds another matrix's counts.
    pub fn merge(&mut self, other: &ConfusionMatrix) -> Result<(), MetricsError> {
        if other.classes != self.classes {
            return Err(MetricsError::ClassCountMismatch {
                this: self.classes,
                other: other.classes,
            });
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        Ok(())
    }

    /// Number of counted pixels.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// IoU of each class, `TP / (TP + FP + FN)`; `None` for a class that appears in
    /// neither target nor prediction.
    pub fn iou_per_class(&self) -> Vec<Option<f64>> {
        let n = self.classes;
        (0..n)
            .map(|c| {
                let tp = self.get(c, c);
                let row: u64 = (0..n).map(|p| self.get(c, p)).sum();
                let col: u64 = (0..n).map(|t| self.get(t, c)).sum();
                let union = row + col - tp;
                (union > 0).then(|| tp as f64 / union as f64)
            })
            .collect()
    }

    /// Mean IoU over the classes that have one; `None` when no class appears.
    pub fn mean_iou(&self) -> Option<f64> {
        let ious: Vec<f64> = self.iou_per_class().into_iter().flatten().collect();
        (!ious.is_empty()).then(|| ious.iter().sum::<f64>() / ious.len() as f64)
    }

    /// Fraction of counted pixels predicted correctly; `None` when none counted.
    pub fn pixel_accuracy(&self) -> Option<f64> {
        let total = self.total();
        let correct: u64 = (0..self.classes).map(|c| self.get(c, c)).sum();
        (total > 0).then(|| correct as f64 / total as f64)
    }
}

/// Root-mean-square error over valid pixels, where valid means `target > 0` (the
/// Cityscapes disparity convention: 0 marks pixels without ground truth).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct RmseAccumulator {
    pub sum_sq: f64,
    pub count: u64,
}

impl RmseAccumulator {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the squared errors of the valid pixels.
    pub fn update(&mut self, pred: &[f32], target: &[f32]) -> Result<(), MetricsError> {
        if pred.len() != target.len() {
            return Err(MetricsError::LengthMismatch {
                pred: pred.len(),
                target: target.len(),
            });
        }
        for (&p, &t) in pred.iter().zip(target) {
            if t > 0.0 {
                let d = f64::from(p) - f64::from(t);
                self.sum_sq += d * d;
                self.count += 1;
            }
        }
        Ok(())
    }

    pub fn merge(&mut self, other: &RmseAccumulator) {
        self.sum_sq += other.sum_sq;
        self.count += other.count;
    }

    /// `sqrt(sum_sq / count)`; `None` before any valid pixel.
    pub fn rmse(&self) -> Option<f64> {
        (self.count > 0).then(|| (self.sum_sq / self.count as f64).sqrt())
    }
}

/// PSNR in dB from a mean squared error: `10 log10(peak^2 / mse)`; infinite for
/// `mse == 0`.
pub fn psnr_from_mse(mse: f64, peak: f64) -> f64 {
    10.0 * (peak * peak / mse).log10()
}

fn mse<T: Copy>(a: &[T], b: &[T], to_f64: impl Fn(T) -> f64) -> Result<f64, MetricsError> {
    if a.len() != b.len() {
        return Err(MetricsError::LengthMismatch {
            pred: a.len(),
            target: b.len(),
        });
    }
    if a.is_empty() {
        return Err(MetricsError::Empty);
    }
    let sum: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| {
            let d = to_f64(x) - to_f64(y);
            d * d
        })
        .sum();
    Ok(sum / a.len() as f64)
}

/// PSNR of 8-bit images, peak 255. Identical images give `f64::INFINITY`.
pub fn psnr_u8(pred: &[u8], target: &[u8]) -> Result<f64, MetricsError> {
    Ok(psnr_from_mse(mse(pred, target, f64::from)?, 255.0))
}

/// PSNR of images with values in [0, 1], peak 1 (values are not clamped).
/// Identical images give `f64::INFINITY`.
pub fn psnr_unit(pred: &[f32], target: &[f32]) -> Result<f64, MetricsError> {
    Ok(psnr_from_mse(mse(pred, target, f64::from)?, 1.0))
}

/// One operating point of a rate-quality curve. Rate in any positive unit (bytes,
/// bits per element) as long as both curves use the same.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RdPoint {
    pub rate: f64,
    pub quality: f64,
}

/// Fewest points for a cubic fit.
pub const BD_MIN_POINTS: usize = 4;

/// Bjontegaard delta rate of `test` against `reference`, in percent: the average
/// rate difference at equal quality. Negative means `test` needs fewer bits.
///
/// The VCEG-M33 method: for each curve, fit `log10(rate)` as a cubic polynomial of
/// quality by least squares (numpy `polyfit(quality, log10(rate), 3)`), integrate
/// both over the overlapping quality interval, and return
/// `(10^(mean difference) - 1) * 100`. Not the piecewise-cubic (PCHIP) variant of
/// later common test conditions.
///
/// Quality must be "higher is better" (mIoU, PSNR); for an error such as RMSE pass
/// its negation.
pub fn bd_rate(reference: &[RdPoint], test: &[RdPoint]) -> Result<f64, MetricsError> {
    check_curve(reference)?;
    check_curve(test)?;
    let fit = |c: &[RdPoint]| {
        let x: Vec<f64> = c.iter().map(|p| p.quality).collect();
        let y: Vec<f64> = c.iter().map(|p| p.rate.log10()).collect();
        Cubic::fit(&x, &y)
    };
    let mean_diff = mean_difference(&fit(reference)?, &fit(test)?)?;
    Ok((10f64.powf(mean_diff) - 1.0) * 100.0)
}

/// Bjontegaard delta quality of `test` against `reference` (e.g. BD-PSNR in dB,
/// BD-mIoU): the average quality difference at equal rate. Positive means `test` is
/// better.
///
/// Fits quality as a cubic polynomial of `log10(rate)` per curve and averages the
/// difference over the overlapping log-rate interval (VCEG-M33). For "lower is
/// better" metrics pass the negated quality (the result is then the negated delta).
pub fn bd_quality(reference: &[RdPoint], test: &[RdPoint]) -> Result<f64, MetricsError> {
    check_curve(reference)?;
    check_curve(test)?;
    let fit = |c: &[RdPoint]| {
        let x: Vec<f64> = c.iter().map(|p| p.rate.log10()).collect();
        let y: Vec<f64> = c.iter().map(|p| p.quality).collect();
        Cubic::fit(&x, &y)
    };
    mean_difference(&fit(reference)?, &fit(test)?)
}

/// The efficient frontier of a rate-quality curve: its points by increasing rate, each
/// kept only if its quality beats every cheaper point's. A dropped point costs more
/// than another without being better, so no one would operate there. On the frontier
/// both rate and quality increase strictly, so each is a function of the other even
/// where the raw curve is flat (accuracy saturating towards high rates).
pub fn rd_frontier(curve: &[RdPoint]) -> Vec<RdPoint> {
    let mut sorted = curve.to_vec();
    sorted.sort_by(|a, b| {
        a.rate
            .total_cmp(&b.rate)
            .then(b.quality.total_cmp(&a.quality))
    });
    let mut out: Vec<RdPoint> = Vec::with_capacity(sorted.len());
    for p in sorted {
        if out
            .last()
            .is_none_or(|last| p.quality > last.quality && p.rate > last.rate)
        {
            out.push(p);
        }
    }
    out
}

/// Bjontegaard delta rate, in percent, over the two curves' efficient frontiers
/// ([`rd_frontier`]) with `log10(rate)` interpolated linearly in quality between
/// frontier points, averaged over the overlapping quality interval.
///
/// The cubic fit of [`bd_rate`] assumes a smooth, strictly increasing curve. Task
/// accuracy against rate is flat near the top (8, 7 and 6 bits give the same mIoU),
/// and a least-squares cubic of log-rate against such a curve swings far outside the
/// data; this variant only interpolates between measured operating points. Needs two
/// frontier points per curve.
pub fn bd_rate_piecewise(reference: &[RdPoint], test: &[RdPoint]) -> Result<f64, MetricsError> {
    let xy = |p: &RdPoint| (p.quality, p.rate.log10());
    let mean_diff =
        mean_piecewise_difference(&frontier_xy(reference, xy)?, &frontier_xy(test, xy)?)?;
    Ok((10f64.powf(mean_diff) - 1.0) * 100.0)
}

/// Bjontegaard delta quality over the efficient frontiers, quality interpolated
/// linearly in `log10(rate)`; the companion of [`bd_rate_piecewise`].
pub fn bd_quality_piecewise(reference: &[RdPoint], test: &[RdPoint]) -> Result<f64, MetricsError> {
    let xy = |p: &RdPoint| (p.rate.log10(), p.quality);
    mean_piecewise_difference(&frontier_xy(reference, xy)?, &frontier_xy(test, xy)?)
}

/// [`bd_rate_piecewise`] with `log10(rate)` interpolated by a monotone piecewise-cubic
/// Hermite (PCHIP, Fritsch-Carlson) through the frontier points instead of straight
/// lines, integrated numerically over the overlap: the cross-check the common test
/// conditions of later video coding standards use.
pub fn bd_rate_pchip(reference: &[RdPoint], test: &[RdPoint]) -> Result<f64, MetricsError> {
    let xy = |p: &RdPoint| (p.quality, p.rate.log10());
    let (r, t) = (frontier_xy(reference, xy)?, frontier_xy(test, xy)?);
    for c in [&r, &t] {
        if c.len() < 2 {
            return Err(MetricsError::TooFewPoints {
                got: c.len(),
                min: 2,
            });
        }
    }
    let (lo, hi) = overlap(&r, &t)?;
    let (pr, pt) = (Pchip::new(&r), Pchip::new(&t));
    const STEPS: usize = 2000;
    let h = (hi - lo) / STEPS as f64;
    // Composite Simpson's rule over an even number of intervals.
    let f = |x: f64| pt.at(x) - pr.at(x);
    let mut sum = f(lo) + f(hi);
    for i in 1..STEPS {
        sum += f(lo + i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
    }
    let mean = sum * h / 3.0 / (hi - lo);
    Ok((10f64.powf(mean) - 1.0) * 100.0)
}

/// The quality interval over which the two frontiers' BD-rate is averaged: from the
/// higher of their lowest qualities to the lower of their highest.
pub fn bd_overlap(reference: &[RdPoint], test: &[RdPoint]) -> Result<(f64, f64), MetricsError> {
    let xy = |p: &RdPoint| (p.quality, p.rate.log10());
    overlap(&frontier_xy(reference, xy)?, &frontier_xy(test, xy)?)
}

fn overlap(reference: &[(f64, f64)], test: &[(f64, f64)]) -> Result<(f64, f64), MetricsError> {
    let (Some(r0), Some(r1), Some(t0), Some(t1)) = (
        reference.first(),
        reference.last(),
        test.first(),
        test.last(),
    ) else {
        return Err(MetricsError::TooFewPoints { got: 0, min: 2 });
    };
    let (lo, hi) = (r0.0.max(t0.0), r1.0.min(t1.0));
    if hi <= lo {
        Err(MetricsError::NoOverlap)
    } else {
        Ok((lo, hi))
    }
}

/// Monotone piecewise-cubic Hermite interpolant through points with strictly
/// increasing x (Fritsch & Carlson 1980, the slopes SciPy's `PchipInterpolator` uses).
struct Pchip {
    x: Vec<f64>,
    y: Vec<f64>,
    slope: Vec<f64>,
}

impl Pchip {
    fn new(points: &[(f64, f64)]) -> Self {
        let n = points.len();
        let x: Vec<f64> = points.iter().map(|p| p.0).collect();
        let y: Vec<f64> = points.iter().map(|p| p.1).collect();
        let h: Vec<f64> = (0..n - 1).map(|i| x[i + 1] - x[i]).collect();
        let d: Vec<f64> = (0..n - 1).map(|i| (y[i + 1] - y[i]) / h[i]).collect();
        let mut slope = vec![0.0; n];
        if n == 2 {
            slope = vec![d[0]; 2];
        } else {
            for i in 1..n - 1 {
                if d[i - 1] * d[i] > 0.0 {
                    let (w1, w2) = (2.0 * h[i] + h[i - 1], h[i] + 2.0 * h[i - 1]);
                    slope[i] = (w1 + w2) / (w1 / d[i - 1] + w2 / d[i]);
                }
            }
            let end = |h0: f64, h1: f64, d0: f64, d1: f64| {
                let m = ((2.0 * h0 + h1) * d0 - h0 * d1) / (h0 + h1);
                if m.signum() != d0.signum() {
                    0.0
                } else if d0.signum() != d1.signum() && m.abs() > 3.0 * d0.abs() {
                    3.0 * d0
                } else {
                    m
                }
            };
            slope[0] = end(h[0], h[1], d[0], d[1]);
            slope[n - 1] = end(h[n - 2], h[n - 3], d[n - 2], d[n - 3]);
        }
        Self { x, y, slope }
    }

    fn at(&self, x: f64) -> f64 {
        let n = self.x.len();
        let i = self.x.partition_point(|&v| v <= x).clamp(1, n - 1) - 1;
        let h = self.x[i + 1] - self.x[i];
        let t = (x - self.x[i]) / h;
        let (t2, t3) = (t * t, t * t * t);
        (2.0 * t3 - 3.0 * t2 + 1.0) * self.y[i]
            + (t3 - 2.0 * t2 + t) * h * self.slope[i]
            + (-2.0 * t3 + 3.0 * t2) * self.y[i + 1]
            + (t3 - t2) * h * self.slope[i + 1]
    }
}

/// A checked curve's efficient frontier as `(x, y)` points.
fn frontier_xy(
    curve: &[RdPoint],
    xy: impl Fn(&RdPoint) -> (f64, f64),
) -> Result<Vec<(f64, f64)>, MetricsError> {
    check_points(curve, 2)?;
    Ok(rd_frontier(curve).iter().map(xy).collect())
}

/// Mean of `test(x) - reference(x)` over the overlap of their x ranges, each a
/// piecewise-linear function through points with strictly increasing x. Exact: the
/// difference is linear between the union of the breakpoints.
fn mean_piecewise_difference(
    reference: &[(f64, f64)],
    test: &[(f64, f64)],
) -> Result<f64, MetricsError> {
    for c in [reference, test] {
        if c.len() < 2 {
            return Err(MetricsError::TooFewPoints {
                got: c.len(),
                min: 2,
            });
        }
    }
    let lo = reference[0].0.max(test[0].0);
    let hi = reference[reference.len() - 1].0.min(test[test.len() - 1].0);
    if hi <= lo {
        return Err(MetricsError::NoOverlap);
    }
    let at = |c: &[(f64, f64)], x: f64| {
        let i = c.partition_point(|p| p.0 <= x).clamp(1, c.len() - 1);
        let ((x0, y0), (x1, y1)) = (c[i - 1], c[i]);
        y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    };
    let mut xs: Vec<f64> = reference
        .iter()
        .chain(test)
        .map(|p| p.0)
        .filter(|&x| x > lo && x < hi)
        .collect();
    xs.push(lo);
    xs.push(hi);
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    let diff = |x: f64| at(test, x) - at(reference, x);
    let area: f64 = xs
        .windows(2)
        .map(|w| 0.5 * (diff(w[0]) + diff(w[1])) * (w[1] - w[0]))
        .sum();
    Ok(area / (hi - lo))
}

fn check_points(curve: &[RdPoint], min: usize) -> Result<(), MetricsError> {
    if curve.len() < min {
        return Err(MetricsError::TooFewPoints {
            got: curve.len(),
            min,
        });
    }
    for p in curve {
        if !(p.rate.is_finite() && p.quality.is_finite()) {
            return Err(MetricsError::NonFinite);
        }
        if p.rate <= 0.0 {
            return Err(MetricsError::NonPositiveRate(p.rate));
        }
    }
    Ok(())
}

fn check_curve(curve: &[RdPoint]) -> Result<(), MetricsError> {
    check_points(curve, BD_MIN_POINTS)
}

/// Mean of `test - reference` over the overlap of their fitted x ranges.
fn mean_difference(reference: &Cubic, test: &Cubic) -> Result<f64, MetricsError> {
    let lo = reference.x_min.max(test.x_min);
    let hi = reference.x_max.min(test.x_max);
    // Both ranges come from finite, checked points, so no NaN reaches here.
    if hi <= lo {
        return Err(MetricsError::NoOverlap);
    }
    let diff = test.integral(lo, hi) - reference.integral(lo, hi);
    Ok(diff / (hi - lo))
}

/// Least-squares cubic `y = sum c_i t^i` in the normalized variable
/// `t = (x - center) / scale`, which keeps the fit well conditioned.
struct Cubic {
    coef: [f64; 4],
    center: f64,
    scale: f64,
    x_min: f64,
    x_max: f64,
}

impl Cubic {
    fn fit(x: &[f64], y: &[f64]) -> Result<Self, MetricsError> {
        let x_min = x.iter().copied().fold(f64::INFINITY, f64::min);
        let x_max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut distinct: Vec<f64> = x.to_vec();
        distinct.sort_by(f64::total_cmp);
        distinct.dedup();
        if distinct.len() < 4 || x_max <= x_min {
            return Err(MetricsError::Degenerate);
        }
        let center = 0.5 * (x_min + x_max);
        let scale = 0.5 * (x_max - x_min);
        // Householder QR of the Vandermonde matrix [1 t t^2 t^3], stored by
        // columns, with y carried along as a fifth column (it receives Q^T y).
        let t: Vec<f64> = x.iter().map(|&xi| (xi - center) / scale).collect();
        let mut cols: Vec<Vec<f64>> = (0..4)
            .map(|p| t.iter().map(|&ti| ti.powi(p)).collect())
            .collect();
        cols.push(y.to_vec());
        for j in 0..4 {
            let pivot = &cols[j];
            let norm = pivot[j..].iter().map(|e| e * e).sum::<f64>().sqrt();
            if norm == 0.0 {
                return Err(MetricsError::Degenerate);
            }
            let alpha = if pivot[j] > 0.0 { -norm } else { norm };
            let mut v: Vec<f64> = pivot[j..].to_vec();
            v[0] -= alpha;
            let vnorm2: f64 = v.iter().map(|e| e * e).sum();
            if vnorm2 == 0.0 {
                continue;
            }
            for col in cols.iter_mut().skip(j) {
                let dot: f64 = v.iter().zip(&col[j..]).map(|(a, b)| a * b).sum();
                let f = 2.0 * dot / vnorm2;
                for (c, vi) in col[j..].iter_mut().zip(&v) {
                    *c -= f * vi;
                }
            }
        }
        // Back-substitution with R[r][c] = cols[c][r] and Q^T y in cols[4].
        let mut coef = [0.0; 4];
        for j in (0..4).rev() {
            let s: f64 = (j + 1..4).map(|k| cols[k][j] * coef[k]).sum();
            let diag = cols[j][j];
            if diag.abs() < 1e-12 {
                return Err(MetricsError::Degenerate);
            }
            coef[j] = (cols[4][j] - s) / diag;
        }
        if coef.iter().any(|c| !c.is_finite()) {
            return Err(MetricsError::Degenerate);
        }
        Ok(Self {
            coef,
            center,
            scale,
            x_min,
            x_max,
        })
    }

    /// `integral_lo^hi y(x) dx`.
    fn integral(&self, lo: f64, hi: f64) -> f64 {
        let antiderivative = |x: f64| {
            let t = (x - self.center) / self.scale;
            self.coef
                .iter()
                .enumerate()
                .map(|(i, c)| c * t.powi(i as i32 + 1) / (i as f64 + 1.0))
                .sum::<f64>()
        };
        self.scale * (antiderivative(hi) - antiderivative(lo))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cubic_fit_reproduces_a_cubic() {
        let x = [1.0, 2.0, 3.0, 5.0, 8.0];
        let y: Vec<f64> = x
            .iter()
            .map(|&x| 2.0 - x + 0.5 * x * x - 0.1 * x * x * x)
            .collect();
        let c = Cubic::fit(&x, &y).unwrap();
        // integral_1^8 of the cubic, computed by hand from its antiderivative.
        let f = |x: f64| 2.0 * x - x * x / 2.0 + x.powi(3) / 6.0 - 0.1 * x.powi(4) / 4.0;
        assert!((c.integral(1.0, 8.0) - (f(8.0) - f(1.0))).abs() < 1e-9);
    }

    fn pts(p: &[(f64, f64)]) -> Vec<RdPoint> {
        p.iter()
            .map(|&(rate, quality)| RdPoint { rate, quality })
            .collect()
    }

    #[test]
    fn frontier_drops_points_that_cost_more_for_no_gain() {
        // (rate, quality): 300 is no better than 200, 150 ties 100's rate lower down.
        let curve = pts(&[
            (300.0, 0.5),
            (100.0, 0.2),
            (200.0, 0.5),
            (100.0, 0.1),
            (400.0, 0.6),
            (250.0, 0.4),
        ]);
        assert_eq!(
            rd_frontier(&curve),
            pts(&[(100.0, 0.2), (200.0, 0.5), (400.0, 0.6)])
        );
    }

    #[test]
    fn piecewise_bd_rate_by_hand() {
        // log10 rate goes 2 -> 3 over quality 0 -> 1 for the reference.
        let reference = pts(&[(100.0, 0.0), (1000.0, 1.0)]);
        // A tenth of the rate everywhere: -90 %.
        let tenth = pts(&[(10.0, 0.0), (100.0, 1.0)]);
        assert!((bd_rate_piecewise(&reference, &tenth).unwrap() - -90.0).abs() < 1e-9);
        // Flat at 100: the log difference falls linearly 0 -> -1, mean -0.5.
        let flat_rate = pts(&[(100.0, 0.0), (100.0 + 1e-9, 1.0)]);
        let expected = (10f64.powf(-0.5) - 1.0) * 100.0;
        assert!((bd_rate_piecewise(&reference, &flat_rate).unwrap() - expected).abs() < 1e-6);
        // Uniformly 0.8x the rate, over curves with several segments.
        let r = pts(&[
            (1000.0, 0.30),
            (2000.0, 0.40),
            (3000.0, 0.44),
            (5000.0, 0.45),
        ]);
        let t: Vec<RdPoint> = r
            .iter()
            .map(|p| RdPoint {
                rate: p.rate * 0.8,
                quality: p.quality,
            })
            .collect();
        assert!((bd_rate_piecewise(&r, &t).unwrap() - -20.0).abs() < 1e-9);
        // At equal rate the cheaper curve is better; quality difference integrates exactly.
        assert!(bd_quality_piecewise(&r, &t).unwrap() > 0.0);
        assert!(bd_quality_piecewise(&r, &r).unwrap().abs() < 1e-15);
    }

    #[test]
    fn piecewise_bd_rate_needs_overlap_and_points() {
        let a = pts(&[(100.0, 0.0), (200.0, 0.1)]);
        let b = pts(&[(100.0, 0.5), (200.0, 0.6)]);
        assert_eq!(bd_rate_piecewise(&a, &b), Err(MetricsError::NoOverlap));
        assert!(matches!(
            bd_rate_piecewise(&a, &a[..1]),
            Err(MetricsError::TooFewPoints { .. })
        ));
        // Two points that collapse to one on the frontier.
        let dominated = pts(&[(100.0, 0.5), (200.0, 0.5)]);
        assert!(matches!(
            bd_rate_piecewise(&a, &dominated),
            Err(MetricsError::TooFewPoints { .. })
        ));
        assert_eq!(
            bd_rate_piecewise(&a, &pts(&[(0.0, 0.0), (1.0, 1.0)])),
            Err(MetricsError::NonPositiveRate(0.0))
        );
    }

    #[test]
    fn pchip_bd_rate_agrees_with_piecewise_where_both_are_exact() {
        // A constant log-rate offset: every interpolant gives the same -20 %.
        let r = pts(&[
            (1000.0, 0.30),
            (2000.0, 0.40),
            (3000.0, 0.44),
            (5000.0, 0.45),
        ]);
        let t: Vec<RdPoint> = r
            .iter()
            .map(|p| RdPoint {
                rate: p.rate * 0.8,
                quality: p.quality,
            })
            .collect();
        assert!((bd_rate_pchip(&r, &t).unwrap() - -20.0).abs() < 1e-9);
        // Two points each: PCHIP is the straight line, as the piecewise measure.
        let reference = pts(&[(100.0, 0.0), (1000.0, 1.0)]);
        let flat_rate = pts(&[(100.0, 0.0), (100.0 + 1e-9, 1.0)]);
        let (a, b) = (
            bd_rate_pchip(&reference, &flat_rate).unwrap(),
            bd_rate_piecewise(&reference, &flat_rate).unwrap(),
        );
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        assert_eq!(
            bd_overlap(&r, &pts(&[(500.0, 0.35), (900.0, 0.5)])).unwrap(),
            (0.35, 0.45)
        );
        assert_eq!(
            bd_rate_pchip(&r, &pts(&[(10.0, 0.9), (20.0, 0.95)])),
            Err(MetricsError::NoOverlap)
        );
    }

    #[test]
    fn pchip_is_monotone_and_interpolates() {
        // Data with a flat stretch: PCHIP must not overshoot (a cubic spline would).
        let p = Pchip::new(&[(0.0, 0.0), (1.0, 1.0), (2.0, 1.0), (3.0, 2.0)]);
        for (x, y) in [(0.0, 0.0), (1.0, 1.0), (2.0, 1.0), (3.0, 2.0)] {
            assert!((p.at(x) - y).abs() < 1e-12);
        }
        for i in 0..=300 {
            let x = 1.0 + i as f64 / 300.0;
            assert!(
                (p.at(x) - 1.0).abs() < 1e-12,
                "flat between equal values at {x}"
            );
        }
        let mut last = f64::NEG_INFINITY;
        for i in 0..=300 {
            let v = p.at(i as f64 / 100.0);
            assert!(v >= last - 1e-12);
            last = v;
        }
    }

    #[test]
    fn degenerate_fits_fail() {
        assert!(Cubic::fit(&[1.0, 1.0, 2.0, 2.0], &[0.0; 4]).is_err());
    }
}
