//! Training losses: the paper's compressibility loss on the bottleneck, the three task
//! losses, and homoscedastic-uncertainty weighting of the tasks.

use burn::prelude::*;

use crate::classes::IGNORE_LABEL;
use crate::quant::RangeRule;

/// Orthonormal DCT-II matrix `D` (row k, column i), so that `D x` is the DCT of `x`
/// and `D^T D = I`: `D[k][i] = a(k) cos(pi (2i + 1) k / 2n)`, `a(0) = sqrt(1/n)`,
/// `a(k>0) = sqrt(2/n)`.
pub fn dct_matrix(n: usize) -> Vec<f32> {
    let mut d = vec![0f32; n * n];
    for k in 0..n {
        let a = if k == 0 {
            (1.0 / n as f64).sqrt()
        } else {
            (2.0 / n as f64).sqrt()
        };
        for i in 0..n {
            let angle = std::f64::consts::PI * (2 * i + 1) as f64 * k as f64 / (2 * n) as f64;
            d[k * n + i] = (a * angle.cos()) as f32;
        }
    }
    d
}

/// The DPCM prediction residual of each channel:
/// `Z = 0.5 * ((x - left) + (x - up)) = x - 0.5 * (left + up)`,
/// with zero for neighbours outside the channel (the first row and column are
/// predicted from zero).
pub fn dpcm_residual(x: Tensor<4>) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    let device = x.device();
    let left = Tensor::cat(
        vec![
            Tensor::zeros([b, c, h, 1], &device),
            x.clone().slice([0..b, 0..c, 0..h, 0..w - 1]),
        ],
        3,
    );
    let up = Tensor::cat(
        vec![
            Tensor::zeros([b, c, 1, w], &device),
            x.clone().slice([0..b, 0..c, 0..h - 1, 0..w]),
        ],
        2,
    );
    x - (left + up) * 0.5
}

/// 2-D orthonormal DCT-II of every `h x w` channel, as two matrix products:
/// `T = D_h Z D_w^T`.
pub fn dct2(z: Tensor<4>) -> Tensor<4> {
    let [b, c, h, w] = z.dims();
    let device = z.device();
    let d_w = Tensor::<2>::from_data(TensorData::new(dct_matrix(w), [w, w]), &device);
    let d_h = Tensor::<2>::from_data(TensorData::new(dct_matrix(h), [h, h]), &device);
    // Rows: [b*c*h, w] x D_w^T transforms along the width.
    let rows = z.reshape([b * c * h, w]).matmul(d_w.transpose());
    // Columns: bring height last, transform with D_h^T, put it back.
    let cols = rows
        .reshape([b * c, h, w])
        .swap_dims(1, 2)
        .reshape([b * c * w, h])
        .matmul(d_h.transpose());
    cols.reshape([b, c, w, h]).swap_dims(2, 3)
}

/// Per-sample min and max over channels and positions, shaped `[b, 1, 1, 1]`.
pub fn per_sample_range(x: &Tensor<4>) -> (Tensor<4>, Tensor<4>) {
    let b = x.dims()[0];
    let flat = x.clone().flatten::<2>(1, 3);
    let min = flat.clone().min_dim(1).reshape([b, 1, 1, 1]);
    let max = flat.max_dim(1).reshape([b, 1, 1, 1]);
    (min, max)
}

/// Per-sample quantizer range as the inference quantizer takes it with `rule`
/// ([`RangeRule::rank`] of the sorted values for a quantile), shaped `[b, 1, 1, 1]`.
/// A quantile's `max` is a constant (no gradient): which element holds a rank is not
/// differentiable. Min-max keeps the gradient of `min_dim`/`max_dim`.
pub fn per_sample_range_rule(x: &Tensor<4>, rule: RangeRule) -> (Tensor<4>, Tensor<4>) {
    let (min, max) = per_sample_range(x);
    match rule {
        RangeRule::MinMax | RangeRule::Step { .. } => (min, max),
        RangeRule::Quantile { .. } => {
            let [b, c, h, w] = x.dims();
            let n = c * h * w;
            let rank = rule.rank(n);
            // Without autodiff: a constant wherever it meets tracked tensors.
            let sorted = x.clone().without_autodiff().flatten::<2>(1, 3).sort(1);
            (
                min,
                sorted.slice([0..b, rank..rank + 1]).reshape([b, 1, 1, 1]),
            )
        }
    }
}

/// Guards the division by the range for constant feature maps.
pub(crate) const RANGE_EPSILON: f32 = 1e-6;

/// The compressibility loss (the paper's contribution): mean absolute value of the 2-D
/// DCT of the DPCM residual of each channel.
///
/// The features are first mapped to quantizer units (per-sample min-max to
/// `0..2^bits - 1`, the scale the inference quantizer uses), so the loss is measured in
/// quantization steps and is invariant to the overall feature scale: the network
/// cannot lower it by shrinking the features while the heads scale them back up.
pub fn compressibility_loss(features: Tensor<4>, bits: u8) -> Tensor<1> {
    let (min, max) = per_sample_range(&features);
    compressibility_loss_in_range(features, min, max, bits)
}

/// [`compressibility_loss`] in the units of a given per-sample range `[b, 1, 1, 1]`
/// (detach it to keep the network from lowering the loss by widening the range).
pub fn compressibility_loss_in_range(
    features: Tensor<4>,
    min: Tensor<4>,
    max: Tensor<4>,
    bits: u8,
) -> Tensor<1> {
    let levels = ((1u32 << bits) - 1) as f32;
    let scaled = (features - min.clone()) / (max - min + RANGE_EPSILON) * levels;
    dct2(dpcm_residual(scaled)).abs().mean()
}

/// Maximum over the channels of `[b, c, h, w]`, shaped `[b, 1, h, w]`: the values of
/// `max_dim(1)`, computed as a chain of element-wise maxima of channel slices. (On the
/// CPU backend `max_dim` over a dimension other than the last is a scalar strided loop,
/// several times slower on the segmentation logits than these `c - 1` vectorised ops.)
pub fn channel_max(x: Tensor<4>) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    let mut max = x.clone().slice([0..b, 0..1, 0..h, 0..w]);
    for k in 1..c {
        max = max.max_pair(x.clone().slice([0..b, k..k + 1, 0..h, 0..w]));
    }
    max
}

/// `log_softmax(logits, 1)`, composed exactly as burn composes it (shift by the
/// per-pixel maximum as a constant, subtract the log-sum-exp), with the maximum taken by
/// [`channel_max`] on a copy without autodiff, so it is neither recorded nor
/// differentiated.
pub fn log_softmax_channels(logits: Tensor<4>) -> Tensor<4> {
    let max = channel_max(logits.clone().without_autodiff());
    let shifted = logits - max;
    let log_sum_exp = shifted.clone().exp().sum_dim(1).log();
    shifted - log_sum_exp
}

/// Cross-entropy over classes, averaged over pixels whose label is not
/// [`IGNORE_LABEL`]. `logits`: `[b, classes, h, w]`; `labels`: `[b, h, w]`.
pub fn segmentation_loss(logits: Tensor<4>, labels: Tensor<3, Int>) -> Tensor<1> {
    let [b, _, h, w] = logits.dims();
    let valid = labels.clone().not_equal_elem(IGNORE_LABEL as i64);
    // Ignored pixels gather class 0 and are then masked out.
    let safe = labels
        .mask_fill(valid.clone().bool_not(), 0)
        .reshape([b, 1, h, w]);
    let picked = log_softmax_channels(logits)
        .gather(1, safe)
        .reshape([b, h, w]);
    let valid = valid.float();
    let count = valid.clone().sum().clamp_min(1.0);
    (picked * valid).sum().neg() / count
}

/// L1 error over pixels with a valid (positive) target disparity.
pub fn disparity_loss(pred: Tensor<4>, target: Tensor<4>) -> Tensor<1> {
    let valid = target.clone().greater_elem(0.0).float();
    let count = valid.clone().sum().clamp_min(1.0);
    ((pred - target).abs() * valid).sum() / count
}

/// Mean squared error of the reconstructed RGB in [0, 1].
pub fn reconstruction_loss(pred: Tensor<4>, target: Tensor<4>) -> Tensor<1> {
    (pred - target).powi_scalar(2).mean()
}

/// Quantizer stand-in for training: adds uniform noise of one quantization step
/// (`U(-0.5, 0.5)` in units of `range / (2^bits - 1)`, with the per-sample range
/// detached) so the network learns to tolerate rounding. Inference uses
/// [`crate::quant::quantize`] instead.
pub fn quantization_noise(features: Tensor<4>, bits: u8) -> Tensor<4> {
    let (min, max) = per_sample_range(&features);
    quantization_noise_in_range(features, min, max, bits)
}

/// [`quantization_noise`] with the step of a given per-sample range (detached here).
pub fn quantization_noise_in_range(
    features: Tensor<4>,
    min: Tensor<4>,
    max: Tensor<4>,
    bits: u8,
) -> Tensor<4> {
    let levels = ((1u32 << bits) - 1) as f32;
    let step = ((max - min).detach() / levels).expand(features.dims());
    let noise = features.random_like(burn::tensor::Distribution::Uniform(-0.5, 0.5));
    features + noise * step
}

/// Saturates every value above its sample's `max` (`[b, 1, 1, 1]`), as the inference
/// quantizer does with a quantile range; saturated values pass no gradient.
pub fn clip_to_range(features: Tensor<4>, max: Tensor<4>) -> Tensor<4> {
    let dims = features.dims();
    features.min_pair(max.expand(dims))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device() -> Device {
        Device::flex()
    }

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    /// Deterministic pseudo-random values in [-1, 1).
    fn pseudo_random(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    /// Textbook O(N^4) orthonormal 2-D DCT-II of one `h x w` plane, in f64.
    fn naive_dct2(z: &[f64], h: usize, w: usize) -> Vec<f64> {
        let a = |k: usize, n: usize| {
            if k == 0 {
                (1.0 / n as f64).sqrt()
            } else {
                (2.0 / n as f64).sqrt()
            }
        };
        let pi = std::f64::consts::PI;
        let mut out = vec![0f64; h * w];
        for k in 0..h {
            for l in 0..w {
                let mut acc = 0.0;
                for i in 0..h {
                    for j in 0..w {
                        acc += z[i * w + j]
                            * (pi * (2 * i + 1) as f64 * k as f64 / (2 * h) as f64).cos()
                            * (pi * (2 * j + 1) as f64 * l as f64 / (2 * w) as f64).cos();
                    }
                }
                out[k * w + l] = a(k, h) * a(l, w) * acc;
            }
        }
        out
    }

    #[test]
    fn dct_matrix_is_orthonormal() {
        for n in [1, 4, 8, 16] {
            let d = dct_matrix(n);
            for r in 0..n {
                for c in 0..n {
                    let dot: f32 = (0..n).map(|i| d[r * n + i] * d[c * n + i]).sum();
                    let expected = if r == c { 1.0 } else { 0.0 };
                    assert!((dot - expected).abs() < 1e-5, "n={n} ({r},{c}) = {dot}");
                }
            }
        }
    }

    #[test]
    fn dct2_matches_the_naive_transform() {
        let (b, c, h, w) = (2, 3, 4, 8);
        let x = pseudo_random(b * c * h * w, 7);
        let t = values(dct2(Tensor::from_data(
            TensorData::new(x.clone(), [b, c, h, w]),
            &device(),
        )));
        for plane in 0..b * c {
            let z: Vec<f64> = x[plane * h * w..(plane + 1) * h * w]
                .iter()
                .map(|&v| v as f64)
                .collect();
            let expected = naive_dct2(&z, h, w);
            for (i, e) in expected.iter().enumerate() {
                assert!(
                    (t[plane * h * w + i] as f64 - e).abs() < 1e-4,
                    "plane {plane} coef {i}"
                );
            }
        }
    }

    #[test]
    fn dpcm_residual_by_hand() {
        // x = [[1, 2, 4], [3, 5, 9]]; Z = x - (left + up) / 2 with zero padding.
        let x = Tensor::<4>::from_data(
            TensorData::new(vec![1f32, 2., 4., 3., 5., 9.], [1, 1, 2, 3]),
            &device(),
        );
        let z = values(dpcm_residual(x));
        // Row 0: 1-(0+0)/2, 2-(1+0)/2, 4-(2+0)/2. Row 1: 3-(0+1)/2, 5-(3+2)/2, 9-(5+4)/2.
        assert_eq!(z, vec![1.0, 1.5, 3.0, 2.5, 2.5, 4.5]);
    }

    #[test]
    fn compressibility_loss_matches_an_independent_computation() {
        let (b, c, h, w) = (2, 2, 4, 8);
        let bits = 8u8;
        let x: Vec<f32> = pseudo_random(b * c * h * w, 11)
            .iter()
            .map(|v| v.max(0.0))
            .collect();
        let got = values(compressibility_loss(
            Tensor::from_data(TensorData::new(x.clone(), [b, c, h, w]), &device()),
            bits,
        ))[0] as f64;
        let mut total = 0.0;
        for s in 0..b {
            let sample = &x[s * c * h * w..(s + 1) * c * h * w];
            let min = sample.iter().cloned().fold(f32::INFINITY, f32::min) as f64;
            let max = sample.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
            let scaled: Vec<f64> = sample
                .iter()
                .map(|&v| (v as f64 - min) / (max - min + 1e-6) * 255.0)
                .collect();
            for ch in 0..c {
                let p = &scaled[ch * h * w..(ch + 1) * h * w];
                let mut z = vec![0f64; h * w];
                for i in 0..h {
                    for j in 0..w {
                        let left = if j > 0 { p[i * w + j - 1] } else { 0.0 };
                        let up = if i > 0 { p[(i - 1) * w + j] } else { 0.0 };
                        z[i * w + j] = p[i * w + j] - 0.5 * (left + up);
                    }
                }
                total += naive_dct2(&z, h, w).iter().map(|v| v.abs()).sum::<f64>();
            }
        }
        let expected = total / (b * c * h * w) as f64;
        assert!(
            (got - expected).abs() / expected < 1e-4,
            "got {got}, expected {expected}"
        );
    }

    #[test]
    fn compressibility_loss_is_scale_invariant_and_zero_for_constant_maps() {
        let x = pseudo_random(2 * 4 * 4 * 8, 3);
        let t = |k: f32| {
            let v: Vec<f32> = x.iter().map(|a| a * k).collect();
            values(compressibility_loss(
                Tensor::from_data(TensorData::new(v, [2, 4, 4, 8]), &device()),
                8,
            ))[0]
        };
        assert!((t(1.0) - t(0.01)).abs() / t(1.0) < 1e-3);
        let zeros = Tensor::<4>::zeros([1, 2, 4, 8], &device());
        assert_eq!(values(compressibility_loss(zeros, 8))[0], 0.0);
    }

    #[test]
    fn quantile_range_matches_the_inference_quantizer_and_clips() {
        let (b, c, h, w) = (2, 4, 4, 8);
        let x: Vec<f32> = pseudo_random(b * c * h * w, 21)
            .iter()
            .map(|v| v.max(0.0) * 3.0)
            .collect();
        let rule = RangeRule::Quantile { per_mille: 990 };
        let t = Tensor::<4>::from_data(TensorData::new(x.clone(), [b, c, h, w]), &device());
        let (min, max) = per_sample_range_rule(&t, rule);
        let (min, max) = (values(min), values(max));
        let n = c * h * w;
        for s in 0..b {
            let sample = &x[s * n..(s + 1) * n];
            let (_, p) = crate::quant::quantize_rule(sample, 8, rule).unwrap();
            assert_eq!((min[s], max[s]), (p.min, p.max), "sample {s}");
        }
        let clipped = values(clip_to_range(
            t,
            Tensor::from_data(TensorData::new(max.clone(), [b, 1, 1, 1]), &device()),
        ));
        for (i, v) in clipped.iter().enumerate() {
            assert_eq!(*v, x[i].min(max[i / n]));
        }
    }

    #[test]
    fn quantile_range_carries_no_gradient_but_the_clip_passes_it_below() {
        let device = Device::flex().autodiff();
        let x = Tensor::<4>::from_data(
            TensorData::new(vec![0.0f32, 1.0, 2.0, 10.0], [1, 1, 2, 2]),
            &device,
        )
        .require_grad();
        let (_, max) = per_sample_range_rule(&x, RangeRule::Quantile { per_mille: 750 });
        assert_eq!(values(max.clone()), vec![2.0]);
        let grads = clip_to_range(x.clone(), max).sum().backward();
        // Values at or below the quantile pass the gradient; the saturated one does not.
        let g = values(x.grad(&grads).unwrap());
        assert_eq!(&g[..2], &[1.0, 1.0]);
        assert_eq!(g[3], 0.0);
    }

    #[test]
    fn segmentation_loss_by_hand_ignores_label_255() {
        // 2 classes, 1x3 image. Pixel logits: (0, 0), (ln 3, 0), (5, -5) with labels
        // 0, 1, 255: losses ln 2 and ln 4 (p = 1/4), the third is ignored.
        let ln3 = 3f32.ln();
        let logits = Tensor::<4>::from_data(
            TensorData::new(vec![0.0, ln3, 5.0, 0.0, 0.0, -5.0], [1, 2, 1, 3]),
            &device(),
        );
        let labels =
            Tensor::<3, Int>::from_data(TensorData::new(vec![0i64, 1, 255], [1, 1, 3]), &device());
        let got = values(segmentation_loss(logits, labels))[0];
        let expected = (2f32.ln() + 4f32.ln()) / 2.0;
        assert!((got - expected).abs() < 1e-5, "{got} vs {expected}");
    }

    #[test]
    fn channel_max_equals_max_dim() {
        for (b, c, h, w) in [(2, 19, 4, 8), (1, 1, 3, 5), (3, 2, 2, 2)] {
            let x = Tensor::<4>::from_data(
                TensorData::new(pseudo_random(b * c * h * w, 5), [b, c, h, w]),
                &device(),
            );
            assert_eq!(
                values(channel_max(x.clone())),
                values(x.max_dim(1)),
                "{b}x{c}x{h}x{w}"
            );
        }
    }

    #[test]
    fn log_softmax_channels_matches_burn_bit_for_bit_with_the_same_gradient() {
        use burn::tensor::activation::log_softmax;
        let device = Device::flex().autodiff();
        let (b, c, h, w) = (2, 19, 4, 8);
        let data: Vec<f32> = pseudo_random(b * c * h * w, 9)
            .iter()
            .map(|v| v * 30.0)
            .collect();
        let weights = Tensor::<4>::from_data(
            TensorData::new(pseudo_random(b * c * h * w, 13), [b, c, h, w]),
            &device,
        );
        let run = |ours: bool| {
            let leaf = Tensor::<4>::from_data(TensorData::new(data.clone(), [b, c, h, w]), &device)
                .require_grad();
            // A computed tensor, like the head's logits.
            let logits = leaf.clone() * 1.0;
            let out = if ours {
                log_softmax_channels(logits)
            } else {
                log_softmax(logits, 1)
            };
            let grads = (out.clone() * weights.clone()).sum().backward();
            (values(out), values(leaf.grad(&grads).unwrap()))
        };
        let (ours, ours_grad) = run(true);
        let (burn, burn_grad) = run(false);
        assert_eq!(ours, burn);
        assert_eq!(ours_grad, burn_grad);
    }

    #[test]
    fn disparity_loss_averages_over_valid_pixels_only() {
        let pred = Tensor::<4>::from_data(
            TensorData::new(vec![1.0f32, 2.0, 7.0, 0.5], [1, 1, 2, 2]),
            &device(),
        );
        let target = Tensor::<4>::from_data(
            TensorData::new(vec![1.5f32, 0.0, 4.0, 0.0], [1, 1, 2, 2]),
            &device(),
        );
        // Valid: |1 - 1.5| and |7 - 4| -> (0.5 + 3) / 2.
        assert_eq!(values(disparity_loss(pred, target))[0], 1.75);
    }

    #[test]
    fn reconstruction_loss_is_the_mean_squared_error() {
        let pred = Tensor::<4>::from_data(
            TensorData::new(vec![0.0f32, 1.0, 0.5, 0.25], [1, 1, 2, 2]),
            &device(),
        );
        let target = Tensor::<4>::from_data(
            TensorData::new(vec![0.5f32, 1.0, 0.0, 0.25], [1, 1, 2, 2]),
            &device(),
        );
        assert_eq!(values(reconstruction_loss(pred, target))[0], 0.125);
    }

    #[test]
    fn quantization_noise_stays_within_half_a_step() {
        let x: Vec<f32> = (0..2 * 4 * 8).map(|i| i as f32).collect(); // range 0..63
        let t = Tensor::<4>::from_data(TensorData::new(x.clone(), [1, 2, 4, 8]), &device());
        let noisy = values(quantization_noise(t, 4));
        let step = 63.0 / 15.0;
        let mut moved = 0;
        for (a, b) in x.iter().zip(&noisy) {
            assert!((a - b).abs() <= 0.5 * step + 1e-4);
            if a != b {
                moved += 1;
            }
        }
        assert!(moved > 50, "noise must perturb almost every element");
    }
}
