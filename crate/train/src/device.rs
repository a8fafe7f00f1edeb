//! The compute device of `train`, `eval` and `bench-step`: burn's pure-Rust CPU
//! backend (`flex`, the default) or LibTorch (`tch`, an opt-in cargo feature linked
//! against the libtorch of a PyTorch install; see docs/training-devices.md).

use anyhow::Result;
use burn::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ComputeDevice {
    /// burn-flex: pure Rust, SIMD + rayon.
    #[default]
    Flex,
    /// LibTorch's CPU backend (build with `--features tch`).
    Tch,
}

impl ComputeDevice {
    /// The inference device.
    pub fn device(self) -> Result<Device> {
        match self {
            ComputeDevice::Flex => Ok(Device::flex()),
            ComputeDevice::Tch => tch_device(),
        }
    }

    /// The training device (autodiff over the inference device).
    pub fn training_device(self) -> Result<Device> {
        Ok(self.device()?.autodiff())
    }
}

#[cfg(feature = "tch")]
fn tch_device() -> Result<Device> {
    // burn 0.22 marks burn-tch deprecated in favour of CubeCL; its CPU runtime does not
    // build offline here (docs/training-devices.md), so LibTorch stays the fast CPU
    // device until it does.
    #[allow(deprecated)]
    Ok(Device::libtorch())
}

#[cfg(not(feature = "tch"))]
fn tch_device() -> Result<Device> {
    anyhow::bail!(
        "this splitfeat was built without LibTorch: run `cargo xtask torch-setup`, then build with \
         `--features tch` (see docs/training-devices.md)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flex_is_the_default_and_always_available() {
        assert_eq!(ComputeDevice::default(), ComputeDevice::Flex);
        ComputeDevice::Flex.device().unwrap();
    }

    /// A few Adam steps from the same weights on the same batch give the same losses on
    /// LibTorch as on flex, within 1e-3 relative (float summation order differs), and a
    /// model trained on one loads and runs on the other.
    #[test]
    fn tch_trains_like_flex() {
        #[cfg(not(feature = "tch"))]
        eprintln!(
            "skipped: this build has no LibTorch (`--features tch`; see docs/training-devices.md)"
        );
        #[cfg(feature = "tch")]
        tch_comparison::run();
    }

    #[cfg(feature = "tch")]
    mod tch_comparison {
        use super::*;
        use burn::optim::{AdamConfig, GradientsParams};
        use splitfeat_core::model::{Preset, load_module_bytes, module_to_bytes};
        use splitfeat_core::multitask::{Batch, MultiTaskModel, Objective, forward_loss};

        fn batch(device: &Device) -> Batch {
            Batch::test_pattern(2, 32, 64, device)
        }

        /// Losses of `steps` Adam steps; the trained weights as bytes.
        fn train(device: &Device, weights: &[u8], steps: usize) -> (Vec<f32>, Vec<u8>) {
            let config = Preset::Test.config();
            let mut model =
                load_module_bytes(MultiTaskModel::new(&config, device), weights).unwrap();
            let mut optimizer = AdamConfig::new().init();
            let batch = batch(device);
            // 16-bit Q-layer noise: a step of range / 65535, far below the tolerance, so the
            // two devices' different random draws do not show in the loss.
            let objective = Objective::reference(0.01, 16);
            let mut losses = Vec::new();
            for _ in 0..steps {
                let loss = forward_loss(&model, &batch, &objective);
                losses.push(loss.total.clone().into_scalar::<f32>());
                let grads = GradientsParams::from_grads(loss.total.backward(), &model);
                model = optimizer.step(1e-3, model, grads);
            }
            (losses, module_to_bytes(&model.valid()).unwrap())
        }

        pub fn run() {
            let flex = Device::flex().autodiff();
            flex.seed(3);
            let init =
                module_to_bytes(&MultiTaskModel::new(&Preset::Test.config(), &flex)).unwrap();
            let tch = ComputeDevice::Tch.training_device().unwrap();
            let (on_flex, _) = train(&flex, &init, 4);
            let (on_tch, trained) = train(&tch, &init, 4);
            for (step, (a, b)) in on_flex.iter().zip(&on_tch).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-3 * a.abs(),
                    "step {step}: flex {a}, tch {b}"
                );
            }
            // Weights trained on LibTorch continue on flex.
            let (resumed, _) = train(&flex, &trained, 1);
            assert!(
                resumed[0].is_finite() && resumed[0] < on_tch[0],
                "{resumed:?} vs {on_tch:?}"
            );
        }
    }

    #[cfg(not(feature = "tch"))]
    #[test]
    fn tch_without_the_feature_says_how_to_get_it() {
        let err = ComputeDevice::Tch.device().unwrap_err().to_string();
        assert!(err.contains("--features tch"), "{err}");
    }
}
