//! A context model of the integer feature codes: each code's distribution predicted
//! from the codes before it in raster order (the context model of Minnen et al.,
//! "Joint autoregressive and hierarchical priors for learned image compression",
//! NeurIPS 2018, without the hyperprior).
//!
//! A 5x5 convolution over every channel sees only the positions above a code and to
//! its left in its row (its weights are masked: the centre and everything after it are
//! zero), so a decoder that works position by position, all channels of a position at
//! once, has every input it needs. Two 1x1 layers map that context to a mean and a
//! scale per channel, and the code `q` in `0..=top` has the probability of a logistic
//! distribution over `[q - 1/2, q + 1/2]`, the end codes also taking the tails (the
//! quantizer saturates there), so the probabilities of `0..=top` sum to 1.
//!
//! Unlike [`crate::entropy_model::FactorizedPrior`], which gives every element of a
//! channel the same density, this model adapts to the image and the position: what the
//! `ans` codec's neighbour context and per-stream statistics exploit, learned.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::prelude::*;
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;

/// Side of the context window (a 5x5 neighbourhood, its causal half used).
pub const KERNEL: usize = 5;
/// Smallest probability of a code, so that `-log2` stays finite (~30 bits).
pub const PROBABILITY_BOUND: f64 = 1e-9;

/// Causal context of the codes -> mean and scale of each code's distribution.
#[derive(Module, Debug)]
pub struct ContextModel {
    /// `C -> hidden`, 5x5; only the causal half of its weights is used.
    context: Conv2d,
    /// `hidden -> hidden`, 1x1.
    hidden: Conv2d,
    /// `hidden -> 2C`, 1x1: each channel's mean, then each channel's log-scale.
    params: Conv2d,
}

impl ContextModel {
    pub fn new(channels: usize, hidden: usize, device: &Device) -> Self {
        let one_by_one =
            |cin: usize, cout: usize| Conv2dConfig::new([cin, cout], [1, 1]).init(device);
        Self {
            context: Conv2dConfig::new([channels, hidden], [KERNEL, KERNEL]).init(device),
            hidden: one_by_one(hidden, hidden),
            params: one_by_one(hidden, 2 * channels),
        }
    }

    /// 1 where a weight of the 5x5 window sees a code decoded before the centre (a row
    /// above, or the same row to the left), 0 at the centre and after it.
    fn mask(&self) -> Tensor<4> {
        let weight = self.context.weight.val();
        let [out, cin, kh, kw] = weight.dims();
        let (cy, cx) = (kh / 2, kw / 2);
        let window: Vec<f32> = (0..kh * kw)
            .map(|i| {
                let (y, x) = (i / kw, i % kw);
                f32::from(u8::from(y < cy || (y == cy && x < cx)))
            })
            .collect();
        let data: Vec<f32> = window
            .iter()
            .copied()
            .cycle()
            .take(out * cin * kh * kw)
            .collect();
        Tensor::from_data(TensorData::new(data, [out, cin, kh, kw]), &weight.device())
    }

    /// Mean and scale, in code units, of every code of `codes` (`[N, C, H, W]`, the
    /// integer codes `0..=top` as floats), each from the codes before it only.
    pub fn distribution(&self, codes: Tensor<4>, top: f64) -> (Tensor<4>, Tensor<4>) {
        let c = codes.dims()[1];
        // Codes in [0, 1] whatever the depth, so one layer scale suits every depth.
        let x = codes / top;
        let pad = KERNEL / 2;
        let context = conv2d(
            x,
            self.context.weight.val() * self.mask(),
            self.context.bias.as_ref().map(|b| b.val()),
            ConvOptions::new([1, 1], [pad, pad], [1, 1], 1),
        );
        let h = self.hidden.forward(relu(context));
        let p = self.params.forward(relu(h));
        let mean = p.clone().narrow(1, 0, c) * top;
        // Scales from a hundredth of a code up: a sharper logistic only loses precision.
        let scale = p.narrow(1, c, c).clamp(-8.0, 8.0).exp() * top * 0.1 + 0.01;
        (mean, scale)
    }

    /// Each code's rate in bits, `-log2 P(q)` under its predicted distribution.
    pub fn bits(&self, codes: Tensor<4>, top: f64) -> Tensor<4> {
        let (mean, scale) = self.distribution(codes.clone(), top);
        let upper = sigmoid((codes.clone() + 0.5 - mean.clone()) / scale.clone());
        let lower = sigmoid((codes.clone() - 0.5 - mean) / scale);
        // The end codes take the tails: the quantizer saturates there.
        let upper = upper.mask_fill(codes.clone().greater_equal_elem(top), 1.0);
        let lower = lower.mask_fill(codes.lower_equal_elem(0.0), 0.0);
        (upper - lower).clamp_min(PROBABILITY_BOUND).log().neg() / std::f64::consts::LN_2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(t: Tensor<4>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn the_mask_sees_only_codes_before_the_centre() {
        let device = Device::flex();
        let model = ContextModel::new(2, 3, &device);
        let mask = read(model.mask());
        assert_eq!(mask.len(), 3 * 2 * 25);
        let window = &mask[..25];
        // Rows 0 and 1, and row 2 left of the centre: 12 of 25.
        let expected: Vec<f32> = (0..25).map(|i| if i < 12 { 1.0 } else { 0.0 }).collect();
        assert_eq!(window, expected.as_slice());
        assert!(mask.chunks(25).all(|w| w == window));
    }

    #[test]
    fn a_code_s_distribution_does_not_depend_on_it_or_on_later_codes() {
        let device = Device::flex();
        let model = ContextModel::new(3, 8, &device);
        let (c, h, w) = (3, 4, 5);
        let codes: Vec<f32> = (0..c * h * w).map(|i| ((i * 37) % 16) as f32).collect();
        let at = |v: &[f32]| {
            let t = Tensor::<4>::from_data(TensorData::new(v.to_vec(), [1, c, h, w]), &device);
            let (mean, scale) = model.distribution(t, 15.0);
            (read(mean), read(scale))
        };
        let (mean, scale) = at(&codes);
        // Change every channel's code at (2, 3) and everything after it.
        let mut later = codes.clone();
        for ch in 0..c {
            for i in (2 * w + 3)..(h * w) {
                later[ch * h * w + i] = 15.0 - later[ch * h * w + i];
            }
        }
        let (mean2, scale2) = at(&later);
        for ch in 0..c {
            let i = ch * h * w + 2 * w + 3;
            assert_eq!(mean[i], mean2[i], "channel {ch}");
            assert_eq!(scale[i], scale2[i], "channel {ch}");
        }
        // The code right after it sees it: its distribution moves.
        let next = 2 * w + 4;
        assert!((0..c).any(|ch| mean[ch * h * w + next] != mean2[ch * h * w + next]));
    }

    #[test]
    fn probabilities_of_every_code_sum_to_one() {
        let device = Device::flex();
        let model = ContextModel::new(2, 4, &device);
        let top = 7.0;
        // One 1x1 image: no context, so each channel's distribution is the same for
        // every value of its code; sum 2^-bits over the 8 codes.
        let mut sums = [0.0f64; 2];
        for q in 0..8 {
            let t =
                Tensor::<4>::from_data(TensorData::new(vec![q as f32; 2], [1, 2, 1, 1]), &device);
            for (ch, b) in read(model.bits(t, top)).into_iter().enumerate() {
                sums[ch] += 2f64.powf(-f64::from(b));
            }
        }
        for s in sums {
            assert!((s - 1.0).abs() < 1e-4, "{s}");
        }
    }
}
