//! The whole network as trained: edge + Q-layer noise + heads + losses. Training
//! composes the same [`Edge`] and [`CloudHeads`] that the browser and the server run.

use burn::prelude::*;

use crate::entropy_model::FactorizedPrior;
use crate::image::{disparity_scale, rgb_to_input, rgb_to_unit};
use crate::loss::{
    clip_to_range, compressibility_loss_in_range, disparity_loss, per_sample_range_rule,
    quantization_noise_in_range, reconstruction_loss, segmentation_loss,
};
use crate::model::{CloudHeads, Edge, ModelConfig};
use crate::quant::RangeRule;
use crate::uncertainty::UncertaintyWeights;

/// Task order of the uncertainty weights and of [`LossBreakdown::tasks`].
pub const TASKS: [&str; 3] = ["segmentation", "disparity", "reconstruction"];

#[derive(Module, Debug)]
pub struct MultiTaskModel {
    pub edge: Edge,
    pub heads: CloudHeads,
    pub weights: UncertaintyWeights,
    /// The learned density of the features, present when the model quantizes with a
    /// fixed step (`RangeRule::Step`): the rate is then trained in bits.
    pub prior: Option<FactorizedPrior>,
}

impl MultiTaskModel {
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        Self {
            edge: Edge::new(config, device),
            heads: CloudHeads::new(config, device),
            weights: UncertaintyWeights::new(TASKS.len(), device),
            prior: config
                .quantizer
                .step()
                .map(|_| FactorizedPrior::new(config.bottleneck_shape()[0], device)),
        }
    }
}

/// A training or evaluation batch on a device.
#[derive(Debug, Clone)]
pub struct Batch {
    /// `[n, 3, h, w]` normalised network input.
    pub images: Tensor<4>,
    /// `[n, 3, h, w]` RGB in [0, 1], the reconstruction target.
    pub rgb: Tensor<4>,
    /// `[n, h, w]` trainIds, 255 = ignore.
    pub labels: Tensor<3, Int>,
    /// `[n, 1, h, w]` disparity divided by `disparity_scale(w)`, 0 = invalid.
    pub disparity: Tensor<4>,
}

impl Batch {
    /// From `n` samples packed one after another: RGB (HWC u8), labels (u8) and
    /// disparity in pixels (f32, 0 = invalid).
    pub fn from_packed(
        rgb: &[u8],
        labels: &[u8],
        disparity: &[f32],
        n: usize,
        h: usize,
        w: usize,
        device: &Device,
    ) -> Self {
        let scale = disparity_scale(w);
        let labels: Vec<i64> = labels.iter().map(|&l| i64::from(l)).collect();
        let disparity: Vec<f32> = disparity.iter().map(|d| d / scale).collect();
        Self {
            images: rgb_to_input(rgb, n, h, w, device),
            rgb: rgb_to_unit(rgb, n, h, w, device),
            labels: Tensor::from_data(TensorData::new(labels, [n, h, w]), device),
            disparity: Tensor::from_data(TensorData::new(disparity, [n, 1, h, w]), device),
        }
    }

    /// A fixed batch of `n` `h`x`w` samples with every kind of value (all classes,
    /// ignored labels, invalid disparity) and no scene structure: for tests and device
    /// comparisons that need the same inputs everywhere, not meaningful images.
    pub fn test_pattern(n: usize, h: usize, w: usize, device: &Device) -> Self {
        let rgb: Vec<u8> = (0..n * h * w * 3).map(|i| ((i * 37) % 251) as u8).collect();
        let labels: Vec<u8> = (0..n * h * w)
            .map(|i| if i % 17 == 0 { 255 } else { (i % 19) as u8 })
            .collect();
        let disparity: Vec<f32> = (0..n * h * w)
            .map(|i| if i % 5 == 0 { 0.0 } else { (i % 40) as f32 })
            .collect();
        Self::from_packed(&rgb, &labels, &disparity, n, h, w, device)
    }
}

/// Loss terms of one forward pass. `total` is what is minimised.
#[derive(Debug, Clone)]
pub struct LossBreakdown {
    pub total: Tensor<1>,
    /// Per-task losses in [`TASKS`] order (unweighted).
    pub tasks: [Tensor<1>; 3],
    /// The rate term: the paper's compressibility loss, or with a learned entropy
    /// model the rate in bits per feature element.
    pub compressibility: Tensor<1>,
}

/// What one training step minimises, besides the tasks: the recipe's knobs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Objective {
    /// Weight of the compressibility loss (0 = baseline).
    pub lambda: f32,
    /// Bit depth whose quantization step is the compressibility loss's unit.
    pub loss_bits: u8,
    /// Bit depth of this step's Q-layer noise.
    pub noise_bits: u8,
    /// The quantizer's range rule (the model's, as deployed): the noise's step, the
    /// loss's unit and, for a quantile, the saturation of larger values.
    pub range: RangeRule,
    /// Measure the compressibility loss in units of a range that passes no gradient
    /// (a quantile range never does). The paper-faithful reference keeps the min-max
    /// range in the graph.
    pub detach_range: bool,
}

impl Objective {
    /// The reference recipe: min-max range in the graph, noise and loss at `bits`.
    pub fn reference(lambda: f32, bits: u8) -> Self {
        Self {
            lambda,
            loss_bits: bits,
            noise_bits: bits,
            range: RangeRule::MinMax,
            detach_range: false,
        }
    }
}

/// Training objective: `uncertainty-weighted task losses + lambda * L_c`, with the
/// Q-layer's uniform noise between the edge and the heads.
///
/// A model with a fixed-step quantizer and a learned prior trains the rate itself
/// instead: `L_c` is then its rate in bits ([`learned_rate`]).
pub fn forward_loss(model: &MultiTaskModel, batch: &Batch, objective: &Objective) -> LossBreakdown {
    let features = model.edge.forward(batch.images.clone());
    let (heads_input, compressibility) = match (objective.range, &model.prior) {
        (RangeRule::Step { step }, Some(prior)) => learned_rate(prior, features, step),
        _ => paper_compressibility(features, objective),
    };
    let out = model.heads.forward(heads_input);
    let seg = segmentation_loss(out.segmentation, batch.labels.clone());
    let disp = disparity_loss(out.disparity, batch.disparity.clone());
    let recon = reconstruction_loss(out.reconstruction, batch.rgb.clone());
    let tasks = [seg, disp, recon];
    let total = model.weights.combine(tasks.to_vec()) + compressibility.clone() * objective.lambda;
    LossBreakdown {
        total,
        tasks,
        compressibility,
    }
}

/// The paper's term: the compressibility loss in quantizer steps of the objective's
/// range, and the features with the Q-layer's noise (clipped first for a quantile
/// range), which the heads see.
fn paper_compressibility(features: Tensor<4>, objective: &Objective) -> (Tensor<4>, Tensor<1>) {
    let (min, max) = per_sample_range_rule(&features, objective.range);
    let features = if objective.range.is_min_max() {
        features
    } else {
        clip_to_range(features, max.clone())
    };
    let (loss_min, loss_max) = if objective.detach_range {
        (min.clone().detach(), max.clone().detach())
    } else {
        (min.clone(), max.clone())
    };
    let compressibility =
        compressibility_loss_in_range(features.clone(), loss_min, loss_max, objective.loss_bits);
    let noisy = quantization_noise_in_range(features, min, max, objective.noise_bits);
    (noisy, compressibility)
}

/// The learned rate: the features in quantization steps plus uniform noise (`y + u`,
/// the training stand-in for rounding, as in Ballé et al.), their mean rate in bits per
/// element under the prior, and `(y + u) * step` for the heads.
fn learned_rate(prior: &FactorizedPrior, features: Tensor<4>, step: f32) -> (Tensor<4>, Tensor<1>) {
    let y = features / step;
    let noise = y.random_like(burn::tensor::Distribution::Uniform(-0.5, 0.5));
    rate_with_noise(prior, y, noise, step)
}

/// [`learned_rate`] for features `y` in steps and a given noise `u`.
fn rate_with_noise(
    prior: &FactorizedPrior,
    y: Tensor<4>,
    noise: Tensor<4>,
    step: f32,
) -> (Tensor<4>, Tensor<1>) {
    let noisy = y + noise;
    let rate = prior.bits(noisy.clone()).mean();
    (noisy * step, rate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Preset;
    use burn::module::{ModuleVisitor, Param};
    use burn::tensor::Gradients;

    /// Collects, for each float parameter of a module, whether its gradient exists,
    /// is finite and is non-zero.
    struct GradProbe<'a> {
        grads: &'a Gradients,
        missing: usize,
        zero: usize,
        non_finite: usize,
        total: usize,
    }

    impl ModuleVisitor for GradProbe<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            // Batch-norm running statistics are visited too but are not trained.
            if !param.val().is_require_grad() {
                return;
            }
            self.total += 1;
            match param.val().grad(self.grads) {
                None => self.missing += 1,
                Some(g) => {
                    let v = g.into_data().try_to_vec::<f32>().unwrap();
                    if v.iter().any(|x| !x.is_finite()) {
                        self.non_finite += 1;
                    }
                    if v.iter().all(|x| *x == 0.0) {
                        self.zero += 1;
                    }
                }
            }
        }
    }

    fn test_batch(device: &Device) -> Batch {
        Batch::test_pattern(2, 32, 64, device)
    }

    #[test]
    fn every_loss_term_reaches_every_encoder_weight() {
        let device = Device::flex().autodiff();
        let config = Preset::Test.config();
        let model = MultiTaskModel::new(&config, &device);
        let batch = test_batch(&device);
        // burn keeps no graph after a backward pass, so each term gets its own forward.
        for name in ["seg", "disp", "recon", "compress"] {
            let loss = forward_loss(&model, &batch, &Objective::reference(1.0, 8));
            let [seg, disp, recon] = loss.tasks;
            let term = match name {
                "seg" => seg,
                "disp" => disp,
                "recon" => recon,
                _ => loss.compressibility,
            };
            let grads = term.backward();
            let mut probe = GradProbe {
                grads: &grads,
                missing: 0,
                zero: 0,
                non_finite: 0,
                total: 0,
            };
            model.edge.visit(&mut probe);
            assert!(probe.total > 10, "{name}");
            assert_eq!(probe.missing, 0, "{name}: encoder params without gradient");
            assert_eq!(probe.non_finite, 0, "{name}: non-finite gradients");
            assert_eq!(probe.zero, 0, "{name}: all-zero gradients");
        }
    }

    #[test]
    fn reference_objective_equals_the_loss_functions_composed_by_hand() {
        let device = Device::flex();
        let model = MultiTaskModel::new(&Preset::Test.config(), &device);
        let batch = test_batch(&device);
        device.seed(5);
        let loss = forward_loss(&model, &batch, &Objective::reference(0.5, 8));
        let features = model.edge.forward(batch.images.clone());
        let lc = crate::loss::compressibility_loss(features, 8).into_scalar::<f32>();
        assert_eq!(loss.compressibility.into_scalar::<f32>(), lc);
    }

    #[test]
    fn a_quantile_range_gives_a_larger_loss_in_its_finer_units() {
        let device = Device::flex();
        let model = MultiTaskModel::new(&Preset::Test.config(), &device);
        let batch = test_batch(&device);
        let at = |range| {
            let objective = Objective {
                range,
                detach_range: true,
                ..Objective::reference(1.0, 8)
            };
            forward_loss(&model, &batch, &objective)
                .compressibility
                .into_scalar::<f32>()
        };
        // A step of a smaller range is smaller, so the same features measure more steps.
        assert!(at(RangeRule::Quantile { per_mille: 900 }) > at(RangeRule::MinMax));
    }

    #[test]
    fn a_step_quantizer_trains_the_rate_in_bits_under_the_prior() {
        let device = Device::flex();
        let mut config = Preset::Test.config();
        config.quantizer = RangeRule::Step { step: 0.25 };
        let model = MultiTaskModel::new(&config, &device);
        let prior = model.prior.as_ref().expect("a step model has a prior");
        assert_eq!(prior.channels(), config.bottleneck_shape()[0]);
        assert!(
            MultiTaskModel::new(&Preset::Test.config(), &device)
                .prior
                .is_none()
        );
        let batch = test_batch(&device);
        let objective = Objective {
            range: config.quantizer,
            ..Objective::reference(0.0, 8)
        };
        let loss = forward_loss(&model, &batch, &objective);
        let rate = loss.compressibility.into_scalar::<f32>();
        // Between 0 and the bound's ~30 bits (the noise is random; other tests share
        // the device's generator, so it is not reproduced here).
        assert!(rate > 0.0 && rate < 30.0, "{rate}");

        // The heads see `(y + u) * step`; the rate is the prior's mean bits of `y + u`.
        let features = model.edge.forward(batch.images.clone());
        let y = features.clone() / 0.25;
        let noise = y.zeros_like() + 0.375;
        let (heads_input, rate) = rate_with_noise(prior, y.clone(), noise, 0.25);
        let by_hand = prior.bits(y + 0.375).mean().into_scalar::<f32>();
        assert!((rate.into_scalar::<f32>() - by_hand).abs() < 1e-5);
        let shift = (heads_input - features)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert!(shift.iter().all(|d| (d - 0.375 * 0.25).abs() < 1e-5));
    }

    #[test]
    fn output_shapes_match_the_config() {
        let device = Device::flex();
        let config = Preset::Test.config();
        let model = MultiTaskModel::new(&config, &device);
        let batch = test_batch(&device);
        let features = model.edge.forward(batch.images);
        let [c, h, w] = config.bottleneck_shape();
        assert_eq!(features.dims(), [2, c, h, w]);
        let out = model.heads.forward(features);
        assert_eq!(out.segmentation.dims(), [2, 19, 32, 64]);
        assert_eq!(out.disparity.dims(), [2, 1, 32, 64]);
        assert_eq!(out.reconstruction.dims(), [2, 3, 32, 64]);
    }
}
