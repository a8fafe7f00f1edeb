//! The whole network as trained: edge + Q-layer noise + heads + losses. Training
//! composes the same [`Edge`] and [`CloudHeads`] that the browser and the server run.

use burn::prelude::*;

use crate::entropy_model::FactorizedPrior;
use crate::image::{disparity_scale, rgb_to_input, rgb_to_unit};
use crate::loss::{
    RANGE_EPSILON, clip_to_range, compressibility_loss_in_range, disparity_loss,
    per_sample_range_rule, quantization_noise_in_range, reconstruction_loss, segmentation_loss,
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
    /// The learned density of the features, present when the model trains its rate in
    /// bits ([`ModelConfig::has_prior`]).
    pub prior: Option<FactorizedPrior>,
}

/// Draws every float parameter of a module now, in the order the module declares them.
/// burn initializes a parameter lazily, at its first use, so without this a fresh
/// network's weights depend on which code touches each layer first and on every random
/// number drawn before that (a learned prior's warm start runs the edge before the
/// heads; a training step draws its Q-layer noise between them).
struct Materialize;

impl burn::module::ModuleVisitor for Materialize {
    fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
        let _ = param.val();
    }
}

impl MultiTaskModel {
    /// A fresh network whose weights are drawn at once from the device's random state:
    /// after `device.seed(s)`, the same `s` gives the same edge and heads whatever runs
    /// next, and whether or not the config has a prior (drawn after them). Training
    /// starts from this; [`Self::new`] suits loading weights over it.
    pub fn initialized(config: &ModelConfig, device: &Device) -> Self {
        let network = Self::without_prior(config, device);
        network.visit(&mut Materialize);
        let prior = config.has_prior().then(|| {
            let prior = FactorizedPrior::new(config.bottleneck_shape()[0], device);
            prior.visit(&mut Materialize);
            prior
        });
        Self { prior, ..network }
    }

    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        let network = Self::without_prior(config, device);
        Self {
            prior: config
                .has_prior()
                .then(|| FactorizedPrior::new(config.bottleneck_shape()[0], device)),
            ..network
        }
    }

    /// Edge, heads and task weights; no prior.
    fn without_prior(config: &ModelConfig, device: &Device) -> Self {
        Self {
            edge: Edge::new(config, device),
            heads: CloudHeads::new(config, device),
            weights: UncertaintyWeights::new(TASKS.len(), device),
            prior: None,
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
    /// Fixed priority of each task in [`TASKS`] order, on top of the learned
    /// uncertainty weights ([`UncertaintyWeights::combine_with_priorities`]); all 1
    /// is the plain uncertainty weighting.
    pub task_priorities: [f32; 3],
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
            task_priorities: [1.0; 3],
        }
    }
}

/// Training objective: `uncertainty-weighted task losses + lambda * L_c`, with the
/// Q-layer's uniform noise between the edge and the heads.
///
/// A model with a learned prior trains the rate itself instead: `L_c` is then its rate
/// in bits per element at this step's quantizer ([`learned_rate`]).
pub fn forward_loss(model: &MultiTaskModel, batch: &Batch, objective: &Objective) -> LossBreakdown {
    let features = model.edge.forward(batch.images.clone());
    let (heads_input, compressibility) = match &model.prior {
        Some(prior) => {
            let units = PriorUnits::new(features, objective.range, objective.noise_bits);
            let noise = units.noise();
            learned_rate(prior, units, noise)
        }
        None => paper_compressibility(features, objective),
    };
    let out = model.heads.forward(heads_input);
    let seg = segmentation_loss(out.segmentation, batch.labels.clone());
    let disp = disparity_loss(out.disparity, batch.disparity.clone());
    let recon = reconstruction_loss(out.reconstruction, batch.rgb.clone());
    let tasks = [seg, disp, recon];
    let total = model
        .weights
        .combine_with_priorities(tasks.to_vec(), &objective.task_priorities)
        + compressibility.clone() * objective.lambda;
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
    let (features, min, max) = saturated_in_range(features, objective.range);
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

/// Each sample's quantizer range under `rule` (`min`, `max`: `[N, 1, 1, 1]`) and the
/// features as that quantizer sees them: values above a quantile range saturate.
fn saturated_in_range(features: Tensor<4>, rule: RangeRule) -> (Tensor<4>, Tensor<4>, Tensor<4>) {
    let (min, max) = per_sample_range_rule(&features, rule);
    let features = if rule.is_min_max() {
        features
    } else {
        clip_to_range(features, max.clone())
    };
    (features, min, max)
}

/// Steps of the unit in which the prior measures features quantized with a range rule:
/// one step of the 8-bit quantizer of the sample's range. A coarser depth `b` is a bin
/// of `PRIOR_LEVELS / (2^b - 1)` units, so one density serves every depth.
pub const PRIOR_LEVELS: f64 = 255.0;

/// The features as the learned prior measures them, `y = (x - offset) / unit`, and the
/// width in those units of one step of the quantizer they are coded with.
///
/// - A step quantizer (`RangeRule::Step`): `offset` 0, `unit` the step, bins of 1 at
///   every depth (the depth only moves the saturation).
/// - A range rule (min-max or a quantile): `offset` the sample's minimum, `unit` a
///   step of the 8-bit quantizer of its range ([`PRIOR_LEVELS`]), and bins of
///   `255 / (2^bits - 1)`: the rate of the very quantizer that the baseline and the
///   evaluation grid use at `bits`. Values above a quantile saturate first, as they do
///   when deployed. The range passes no gradient, so the rate cannot be lowered by
///   widening it.
pub struct PriorUnits {
    /// `[N, C, H, W]` in units.
    pub y: Tensor<4>,
    /// Width of one quantizer bin, in units.
    pub bin: f64,
    /// `[N, 1, 1, 1]`.
    offset: Tensor<4>,
    /// `[N, 1, 1, 1]`.
    unit: Tensor<4>,
}

impl PriorUnits {
    /// `features` measured for the quantizer `range` at `bits` (validated by the caller).
    pub fn new(features: Tensor<4>, range: RangeRule, bits: u8) -> Self {
        let [n, ..] = features.dims();
        let device = features.device();
        let (features, offset, unit, bin) = match range.step() {
            Some(step) => (
                features,
                Tensor::zeros([n, 1, 1, 1], &device),
                Tensor::full([n, 1, 1, 1], step, &device),
                1.0,
            ),
            None => {
                let (features, min, max) = saturated_in_range(features, range);
                let unit = ((max - min.clone()).detach() / PRIOR_LEVELS).clamp_min(RANGE_EPSILON);
                let levels = f64::from((1u32 << bits) - 1);
                (features, min.detach(), unit, PRIOR_LEVELS / levels)
            }
        };
        let dims = features.dims();
        let y = (features - offset.clone().expand(dims)) / unit.clone().expand(dims);
        Self {
            y,
            bin,
            offset,
            unit,
        }
    }

    /// Uniform noise over one bin, `U(-bin/2, bin/2)`: the training stand-in for
    /// rounding to the quantizer's grid (Ballé et al.).
    pub fn noise(&self) -> Tensor<4> {
        self.y
            .random_like(burn::tensor::Distribution::Uniform(-0.5, 0.5))
            * self.bin
    }

    /// Values in units back in feature units.
    pub fn to_features(&self, y: Tensor<4>) -> Tensor<4> {
        let dims = y.dims();
        y * self.unit.clone().expand(dims) + self.offset.clone().expand(dims)
    }
}

/// The learned rate: the features in the prior's units plus noise over one bin
/// (`y + u`), their mean rate in bits per element under the prior, and `y + u` back in
/// feature units for the heads.
fn learned_rate(
    prior: &FactorizedPrior,
    units: PriorUnits,
    noise: Tensor<4>,
) -> (Tensor<4>, Tensor<1>) {
    let noisy = units.y.clone() + noise;
    let rate = prior.bits_in_bins(noisy.clone(), units.bin).mean();
    (units.to_features(noisy), rate)
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
        let units = PriorUnits::new(features.clone(), config.quantizer, 8);
        assert_eq!(units.bin, 1.0);
        let noise = units.y.zeros_like() + 0.375;
        let (heads_input, rate) = learned_rate(prior, units, noise);
        let by_hand = prior
            .bits(features.clone() / 0.25 + 0.375)
            .mean()
            .into_scalar::<f32>();
        assert!((rate.into_scalar::<f32>() - by_hand).abs() < 1e-5);
        let shift = (heads_input - features)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert!(shift.iter().all(|d| (d - 0.375 * 0.25).abs() < 1e-5));
    }

    #[test]
    fn a_learned_rate_with_a_quantile_range_is_measured_in_bins_of_the_drawn_depth() {
        let device = Device::flex();
        let mut config = Preset::Test.config();
        config.quantizer = RangeRule::Quantile { per_mille: 900 };
        config.learned_rate = true;
        let model = MultiTaskModel::new(&config, &device);
        let prior = model
            .prior
            .as_ref()
            .expect("a learned-rate model has a prior");
        let batch = test_batch(&device);
        let features = model.edge.forward(batch.images.clone());

        // 4 bits: bins of 255 / 15 = 17 units of the 8-bit step of the sample's range.
        let units = PriorUnits::new(features.clone(), config.quantizer, 4);
        assert_eq!(units.bin, 17.0);
        let (min, max) = per_sample_range_rule(&features, config.quantizer);
        let clipped = clip_to_range(features.clone(), max.clone());
        let dims = features.dims();
        let unit = (max - min.clone()) / 255.0;
        let y = (clipped.clone() - min.expand(dims)) / unit.clone().expand(dims);
        let levels = |t: Tensor<4>| t.into_data().try_to_vec::<f32>().unwrap();
        let (got, want) = (levels(units.y.clone()), levels(y.clone()));
        assert!(
            want.iter().any(|&v| v > 200.0),
            "some values near the top of the range"
        );
        assert!(want.iter().all(|&v| (-1e-3..=255.001).contains(&v)));
        assert!(got.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-3));

        // Noise of +3 units: the rate is the prior's bits of `y + 3` in bins of 17, and
        // the heads see the clipped features moved by 3 units.
        let noise = units.y.zeros_like() + 3.0;
        let (heads_input, rate) = learned_rate(prior, units, noise);
        let by_hand = prior
            .bits_in_bins(y + 3.0, 17.0)
            .mean()
            .into_scalar::<f32>();
        assert!((rate.into_scalar::<f32>() - by_hand).abs() < 1e-4);
        let shift = levels(heads_input - clipped);
        let unit = levels(unit.expand(dims));
        assert!(
            shift
                .iter()
                .zip(&unit)
                .all(|(d, u)| (d - 3.0 * u).abs() < 1e-4)
        );

        // Coarser bins hold more mass, so fewer bits: 8 bits costs more than 4.
        let at = |bits| {
            let objective = Objective {
                range: config.quantizer,
                noise_bits: bits,
                ..Objective::reference(0.0, 8)
            };
            device.seed(11);
            forward_loss(&model, &batch, &objective)
                .compressibility
                .into_scalar::<f32>()
        };
        assert!(
            at(8) > at(4) + 1.0,
            "{} bits at 8 against {} at 4",
            at(8),
            at(4)
        );
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
