//! Warm start of a fresh learned prior (`splitfeat train --range step<size>` or
//! `--learned-rate`): the
//! density is fitted alone to the starting network's features before the joint
//! fine-tune. A prior at its initial spread (~10 steps, centred near 0) charges about a
//! bit per element for mass it puts below zero, and at the fine-tune's learning rate it
//! would take most of the run to move; the network would meanwhile be trained against
//! that misfit rather than against the rate of its features.

use anyhow::{Result, ensure};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use splitfeat_core::multitask::{MultiTaskModel, PriorUnits};
use splitfeat_data::render_batch;

use crate::checkpoint::RunConfig;
use crate::train::{batch_seeds, objective_at, splitmix64, to_batch};

/// Adam steps of the warm start and their learning rate: the prior has ~2 k parameters
/// and sees detached features, so a high rate converges in a few hundred steps.
pub const FIT_STEPS: u64 = 300;
pub const FIT_LR: f64 = 1e-2;

/// Batches of the warm start are drawn from step indices past any run's end, so they
/// are not the fine-tune's first batches.
const FIT_STEP_OFFSET: u64 = 1 << 40;

/// Fits `model.prior` to the features of `model.edge` (inference mode, so the edge's
/// batch-norm statistics are untouched) for `steps` steps; returns the rate in bits
/// per element of the first and the last step.
pub fn fit_prior(
    model: &mut MultiTaskModel,
    run: &RunConfig,
    steps: u64,
    lr: f64,
    device: &Device,
) -> Result<(f32, f32)> {
    if !run.model.has_prior() {
        return Ok((0.0, 0.0));
    }
    let Some(mut prior) = model.prior.take() else {
        return Ok((0.0, 0.0));
    };
    ensure!(steps >= 1, "the prior's warm start needs at least one step");
    let edge = model.edge.valid();
    let mut optimizer = AdamConfig::new().init();
    let mut rates = (f32::NAN, f32::NAN);
    for i in 0..steps {
        let samples = render_batch(
            &batch_seeds(run, FIT_STEP_OFFSET + i),
            run.model.input_width as u32,
            run.model.input_height as u32,
        )?;
        let batch = to_batch(&samples, device);
        // The units and bins of the fine-tune's own steps (a drawn noise depth).
        let bits = objective_at(run, FIT_STEP_OFFSET + i).noise_bits;
        let units = PriorUnits::new(
            edge.forward(batch.images.inner()),
            run.model.quantizer,
            bits,
        );
        device.seed(splitmix64(run.seed.wrapping_add(0xF17) ^ i));
        let noisy = units.y.clone() + units.noise();
        let rate = prior.bits_in_bins(noisy, units.bin).mean();
        let value = rate.clone().into_scalar::<f32>();
        ensure!(
            value.is_finite(),
            "the prior's rate became {value} at warm-start step {i}"
        );
        if i == 0 {
            rates.0 = value;
        }
        rates.1 = value;
        let grads = GradientsParams::from_grads(rate.backward(), &prior);
        prior = optimizer.step(lr, prior, grads);
    }
    model.prior = Some(prior);
    Ok(rates)
}
