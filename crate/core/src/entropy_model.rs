//! A learned density of the bottleneck features: the factorized prior of Ballé et al.
//! ("Variational image compression with a scale hyperprior", ICLR 2018, appendix 6.1;
//! CompressAI's `EntropyBottleneck`).
//!
//! Each channel `c` has its own cumulative distribution `F_c`, a small monotone network
//! `R -> R` (widths 1 -> 3 -> 3 -> 3 -> 1): every layer is `softplus(H) x + b`, and
//! every hidden layer adds `tanh(a) * tanh(x)`. `softplus` keeps the weights positive
//! and `tanh(a) > -1` keeps each layer increasing, so `F_c = sigmoid(network)` is a CDF.
//!
//! The features are measured in quantization steps (`y = x / step`, the model's
//! [`RangeRule::Step`](crate::quant::RangeRule::Step)). An integer code `q` then has
//! probability `F_c(q + 0.5) - F_c(q - 0.5)`, and in training the noisy `y + u`
//! (`u ~ U(-0.5, 0.5)`) has that same expression as its density, so `-log2` of it is
//! the rate in bits, differentiable in both the features and the density.

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::activation::{sigmoid, softplus};

use crate::codec::prior::{DepthTables, ModelTables, PriorTables};
use crate::multitask::PRIOR_LEVELS;
use crate::quant::{BitDepth, RangeRule};

/// Hidden widths of each channel's CDF network.
const HIDDEN: [usize; 3] = [3, 3, 3];
/// Initial spread of the density, in quantization steps (Ballé et al.'s `init_scale`).
const INIT_SCALE: f64 = 10.0;
/// Smallest likelihood, so that `-log2` stays finite (at most ~30 bits per element).
pub const LIKELIHOOD_BOUND: f64 = 1e-9;

/// Codes whose probabilities go into a fixed-step model's tables before the tail cut
/// (larger codes take the escape).
pub const STEP_TABLE_CODES: usize = 256;

/// Depths a range-quantizer model gets tables for: the evaluation grid's.
pub const TABLE_DEPTHS: std::ops::RangeInclusive<u8> = 2..=8;

/// Per-channel learned CDFs of the bottleneck, in quantization steps.
#[derive(Module, Debug)]
pub struct FactorizedPrior {
    /// `[C, out, in]` per layer; the layer's weights are `softplus` of these.
    matrices: Vec<Param<Tensor<3>>>,
    /// `[C, out, 1]` per layer.
    biases: Vec<Param<Tensor<3>>>,
    /// `[C, out, 1]` per hidden layer; the nonlinearity's gain is `tanh` of these.
    factors: Vec<Param<Tensor<3>>>,
}

impl FactorizedPrior {
    /// A prior for `channels` channels, initialised as Ballé et al. do: each layer's
    /// weights such that the whole network starts as a slope of `1 / INIT_SCALE`,
    /// biases uniform in `[-0.5, 0.5]` (from the device's RNG), gains zero.
    pub fn new(channels: usize, device: &Device) -> Self {
        let widths: Vec<usize> = std::iter::once(1)
            .chain(HIDDEN)
            .chain(std::iter::once(1))
            .collect();
        let layers = widths.len() - 1;
        let scale = INIT_SCALE.powf(1.0 / layers as f64);
        let (mut matrices, mut biases, mut factors) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..layers {
            let (inp, out) = (widths[i], widths[i + 1]);
            // softplus^-1 of 1 / (scale * out): Ballé et al.'s initialisation.
            let init = (1.0 / scale / out as f64).exp_m1().ln();
            matrices.push(Param::from_tensor(Tensor::full(
                [channels, out, inp],
                init,
                device,
            )));
            biases.push(Param::from_tensor(Tensor::random(
                [channels, out, 1],
                burn::tensor::Distribution::Uniform(-0.5, 0.5),
                device,
            )));
            if i + 1 < layers {
                factors.push(Param::from_tensor(Tensor::zeros(
                    [channels, out, 1],
                    device,
                )));
            }
        }
        Self {
            matrices,
            biases,
            factors,
        }
    }

    /// Number of channels modelled.
    pub fn channels(&self) -> usize {
        self.biases[0].val().dims()[0]
    }

    /// The CDF networks' logits at `v`, `[C, 1, M]` (`F_c(v) = sigmoid(logits)`).
    fn logits_cumulative(&self, v: Tensor<3>) -> Tensor<3> {
        let mut logits = v;
        for (i, (matrix, bias)) in self.matrices.iter().zip(&self.biases).enumerate() {
            let [c, out, _] = matrix.val().dims();
            let m = logits.dims()[2];
            logits = softplus(matrix.val(), 1.0).matmul(logits) + bias.val().expand([c, out, m]);
            if let Some(factor) = self.factors.get(i) {
                logits = logits.clone() + factor.val().tanh().expand([c, out, m]) * logits.tanh();
            }
        }
        logits
    }

    /// Likelihood of each element of `y` (`[N, C, H, W]`, in quantization steps) under
    /// its channel's density: `F_c(y + 0.5) - F_c(y - 0.5)`, at least
    /// [`LIKELIHOOD_BOUND`].
    pub fn likelihood(&self, y: Tensor<4>) -> Tensor<4> {
        self.likelihood_in_bins(y, 1.0)
    }

    /// Likelihood of each element of `y` under its channel's density integrated over a
    /// bin of width `bin` centred on it: `F_c(y + bin/2) - F_c(y - bin/2)`, at least
    /// [`LIKELIHOOD_BOUND`]. With `y` in steps of the finest quantizer the prior models,
    /// `bin` is the step of a coarser one (e.g. 255 / 15 for 4 bits against 8 bits),
    /// so one density measures the rate at every bit depth.
    pub fn likelihood_in_bins(&self, y: Tensor<4>, bin: f64) -> Tensor<4> {
        let [n, c, h, w] = y.dims();
        let v = y.swap_dims(0, 1).reshape([c, 1, n * h * w]);
        let lower = self.logits_cumulative(v.clone() - bin / 2.0);
        let upper = self.logits_cumulative(v + bin / 2.0);
        // Differences of sigmoids far in a tail lose precision; on the upper side of the
        // median compute 1 - F instead (both the same difference, mirrored).
        let sign = (lower.clone() + upper.clone()).sign().neg().detach();
        let likelihood = (sigmoid(upper * sign.clone()) - sigmoid(lower * sign)).abs();
        likelihood
            .clamp_min(LIKELIHOOD_BOUND)
            .reshape([c, n, h, w])
            .swap_dims(0, 1)
    }

    /// `-log2` of [`FactorizedPrior::likelihood`]: each element's rate in bits.
    pub fn bits(&self, y: Tensor<4>) -> Tensor<4> {
        self.bits_in_bins(y, 1.0)
    }

    /// `-log2` of [`FactorizedPrior::likelihood_in_bins`].
    pub fn bits_in_bins(&self, y: Tensor<4>, bin: f64) -> Tensor<4> {
        self.likelihood_in_bins(y, bin).log().neg() / std::f64::consts::LN_2
    }

    /// Probabilities of the integer codes `0..symbols` for every channel, `[C, symbols]`,
    /// as f64 read back from the device (for the coder's tables and for tests).
    pub fn code_probabilities(&self, symbols: usize, device: &Device) -> Vec<Vec<f64>> {
        let c = self.channels();
        let codes: Vec<f32> = (0..symbols).map(|s| s as f32).collect();
        let y = Tensor::<1>::from_data(TensorData::new(codes, [symbols]), device)
            .reshape([1, 1, 1, symbols])
            .expand([1, c, 1, symbols]);
        channel_rows(self.likelihood(y), symbols)
    }

    /// The `prior` codec's integer tables for a model deployed with `rule`, as export
    /// writes them. A fixed step is the prior's unit, so one set of the codes from 0
    /// on serves every depth; a range rule's prior is in 8-bit steps of the range
    /// ([`PRIOR_LEVELS`]), so each depth of [`TABLE_DEPTHS`] gets its own set, over
    /// bins of `255 / (2^bits - 1)` units with the tails on the end codes.
    pub fn tables(&self, rule: RangeRule, device: &Device) -> ModelTables {
        if rule.step().is_some() {
            let p = self.code_probabilities(STEP_TABLE_CODES, device);
            return ModelTables::AnyDepth(PriorTables::from_probabilities(&p));
        }
        ModelTables::PerDepth(
            TABLE_DEPTHS
                .filter_map(|b| BitDepth::new(b).ok())
                .map(|bits| {
                    let levels = bits.levels() as usize;
                    let bin = PRIOR_LEVELS / f64::from(bits.max_code());
                    let p = self.saturated_code_probabilities(levels, bin, device);
                    DepthTables {
                        bits,
                        tables: PriorTables::from_probabilities(&p),
                    }
                })
                .collect(),
        )
    }

    /// Probabilities of the `levels` codes of a saturating quantizer whose code `k`
    /// stands for the bin of width `bin` centred on `k * bin` (in the prior's units),
    /// `[C, levels]`: code 0 also takes the mass below its bin and the top code the mass
    /// above its bin, as a deployed range quantizer clamps, so each row sums to 1.
    /// Computed in f64 from the CDF networks' logits; the upper tail through `1 - F`,
    /// which a sigmoid near 1 would round away.
    pub fn saturated_code_probabilities(
        &self,
        levels: usize,
        bin: f64,
        device: &Device,
    ) -> Vec<Vec<f64>> {
        let c = self.channels();
        if levels < 2 {
            return vec![vec![1.0; levels]; c];
        }
        // The inner edges between codes k and k + 1, at (k + 1/2) * bin.
        let inner = levels - 1;
        let edges: Vec<f32> = (0..inner)
            .map(|k| ((k as f64 + 0.5) * bin) as f32)
            .collect();
        let v = Tensor::<1>::from_data(TensorData::new(edges, [inner]), device)
            .reshape([1, 1, inner])
            .expand([c, 1, inner]);
        let cdf = |l: f64| 1.0 / (1.0 + (-l).exp());
        let survival = |l: f64| 1.0 / (1.0 + l.exp());
        channel_rows(self.logits_cumulative(v), inner)
            .into_iter()
            .map(|row| {
                (0..levels)
                    .map(|k| {
                        // Logits of the code's lower and upper edges; the ends are open.
                        let lower = k.checked_sub(1).map(|i| row[i]);
                        let upper = row.get(k).copied();
                        match (lower, upper) {
                            (None, Some(u)) => cdf(u),
                            (Some(l), None) => survival(l),
                            (Some(l), Some(u)) if l + u > 0.0 => survival(l) - survival(u),
                            (Some(l), Some(u)) => cdf(u) - cdf(l),
                            (None, None) => 1.0,
                        }
                        .max(0.0)
                    })
                    .collect()
            })
            .collect()
    }
}

/// A channel-major tensor read back as f64, `len` values a channel; nothing if the
/// read-back fails (the tables made from it then fail their channel check).
fn channel_rows<const D: usize>(t: Tensor<D>, len: usize) -> Vec<Vec<f64>> {
    t.into_data()
        .convert::<f64>()
        .try_into_vec::<f64>()
        .unwrap_or_default()
        .chunks(len)
        .map(<[f64]>::to_vec)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(t: Tensor<4>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn fresh_prior_is_a_distribution_over_the_integers() {
        let device = Device::flex();
        device.seed(3);
        let prior = FactorizedPrior::new(4, &device);
        assert_eq!(prior.channels(), 4);
        // Integers -400..400 in steps: the initial spread is ~10 steps, so they hold
        // all the mass but ~1e-6.
        let values: Vec<f32> = (-400..400).map(|v| v as f32).collect();
        let y = Tensor::<1>::from_data(TensorData::new(values, [800]), &device)
            .reshape([1, 1, 1, 800])
            .expand([1, 4, 1, 800]);
        let p = read(prior.likelihood(y));
        for c in 0..4 {
            let row = &p[c * 800..(c + 1) * 800];
            let total: f64 = row.iter().map(|&v| f64::from(v)).sum();
            assert!((total - 1.0).abs() < 1e-3, "channel {c}: mass {total}");
            assert!(row.iter().all(|&v| v > 0.0 && v <= 1.0));
        }
    }

    #[test]
    fn coarse_bins_partition_the_mass_and_merge_fine_ones() {
        let device = Device::flex();
        device.seed(7);
        let prior = FactorizedPrior::new(2, &device);
        // Bins of width 5 centred on the multiples of 5 tile the line: their mass is 1.
        let centres: Vec<f32> = (-80..80).map(|k| 5.0 * k as f32).collect();
        let y = Tensor::<1>::from_data(TensorData::new(centres, [160]), &device)
            .reshape([1, 1, 1, 160])
            .expand([1, 2, 1, 160]);
        let p = read(prior.likelihood_in_bins(y, 5.0));
        for c in 0..2 {
            let total: f64 = p[c * 160..(c + 1) * 160]
                .iter()
                .map(|&v| f64::from(v))
                .sum();
            assert!((total - 1.0).abs() < 1e-3, "channel {c}: mass {total}");
        }
        // One bin of width 5 at 10 holds the five unit bins 8..=12.
        let unit: Vec<f32> = (8..=12).map(|v| v as f32).collect();
        let fine = read(
            prior.likelihood(
                Tensor::<1>::from_data(TensorData::new(unit, [5]), &device)
                    .reshape([1, 1, 1, 5])
                    .expand([1, 2, 1, 5]),
            ),
        );
        let coarse = read(
            prior.likelihood_in_bins(
                Tensor::<1>::from_data([10.0f32], &device)
                    .reshape([1, 1, 1, 1])
                    .expand([1, 2, 1, 1]),
                5.0,
            ),
        );
        for c in 0..2 {
            let sum: f32 = fine[c * 5..(c + 1) * 5].iter().sum();
            assert!(
                (sum - coarse[c]).abs() < 1e-5,
                "{sum} against {}",
                coarse[c]
            );
        }
    }

    #[test]
    fn bits_are_minus_log2_of_the_likelihood() {
        let device = Device::flex();
        device.seed(4);
        let prior = FactorizedPrior::new(2, &device);
        let y = Tensor::<1>::from_data([0.0f32, 1.3, -2.0, 7.5, 0.4, 3.0, 12.0, 0.0], &device)
            .reshape([2, 2, 1, 2]);
        let p = read(prior.likelihood(y.clone()));
        let b = read(prior.bits(y));
        for (p, b) in p.iter().zip(&b) {
            assert!((b + p.log2()).abs() < 1e-4, "{b} bits for likelihood {p}");
        }
    }

    #[test]
    fn code_probabilities_follow_the_layout_of_likelihood() {
        let device = Device::flex();
        device.seed(5);
        let prior = FactorizedPrior::new(3, &device);
        let table = prior.code_probabilities(5, &device);
        assert_eq!(table.len(), 3);
        let y = Tensor::<1>::from_data([4.0f32], &device)
            .reshape([1, 1, 1, 1])
            .expand([1, 3, 1, 1]);
        let direct = read(prior.likelihood(y));
        for c in 0..3 {
            assert_eq!(table[c].len(), 5);
            assert!((table[c][4] - f64::from(direct[c])).abs() < 1e-7);
        }
    }

    #[test]
    fn saturated_codes_hold_all_the_mass_and_match_the_bins_inside() {
        let device = Device::flex();
        device.seed(8);
        let prior = FactorizedPrior::new(2, &device);
        // 4 bits of a 255-unit range: 16 codes, bins of 17 units.
        let bin = 255.0 / 15.0;
        let p = prior.saturated_code_probabilities(16, bin, &device);
        assert_eq!(p.len(), 2);
        let centres: Vec<f32> = (0..16).map(|k| (k as f64 * bin) as f32).collect();
        let y = Tensor::<1>::from_data(TensorData::new(centres, [16]), &device)
            .reshape([1, 1, 1, 16])
            .expand([1, 2, 1, 16]);
        let binned = read(prior.likelihood_in_bins(y, bin));
        for c in 0..2 {
            assert_eq!(p[c].len(), 16);
            let total: f64 = p[c].iter().sum();
            assert!((total - 1.0).abs() < 1e-9, "channel {c}: mass {total}");
            // Inside, the same bins as the training rate's.
            for k in 1..15 {
                let b = f64::from(binned[c * 16 + k]);
                assert!((p[c][k] - b).abs() < 1e-5 + 1e-3 * b, "code {k}");
            }
            // The fresh prior puts mass below 0 (its spread is ~10 units around 0), which
            // code 0 takes on top of its own bin.
            let below = f64::from(binned[c * 16]);
            assert!(p[c][0] > below + 0.01, "{} against {below}", p[c][0]);
        }
        assert_eq!(
            prior.saturated_code_probabilities(1, bin, &device),
            vec![vec![1.0]; 2]
        );
    }

    #[test]
    fn rate_gradient_reaches_features_and_density() {
        let device = Device::flex().autodiff();
        device.seed(6);
        let prior = FactorizedPrior::new(2, &device);
        let y = Tensor::<1>::from_data([0.0f32, 1.0, 2.0, 3.0], &device)
            .reshape([1, 2, 1, 2])
            .require_grad();
        let grads = prior.bits(y.clone()).sum().backward();
        let gy = y
            .grad(&grads)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert!(gy.iter().all(|g| g.is_finite()) && gy.iter().any(|g| *g != 0.0));
        for m in &prior.matrices {
            let g = m
                .val()
                .grad(&grads)
                .unwrap()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            assert!(g.iter().all(|g| g.is_finite()) && g.iter().any(|g| *g != 0.0));
        }
    }
}
