//! `splitfeat context-study`: would a learned context model code a zoo model's features
//! in fewer bytes than the `ans` codec? For each bit depth it fits a
//! [`ContextModel`] to the model's integer codes on training scenes (the network
//! frozen: only the entropy model learns), then sets its ideal code length on the
//! validation scenes (the sum of `-log2 P(q)`, what an arithmetic coder reaches within
//! a few bytes) against the bytes `ans` makes of the same codes. The same codes mean the
//! same decoded features, so the comparison is at equal accuracy by construction.

use std::path::PathBuf;

use anyhow::{Context, Result, ensure};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use serde::Serialize;
use splitfeat_core::bitstream::{HEADER_LEN, TRAILER_LEN};
use splitfeat_core::codec::CodecId;
use splitfeat_core::context_model::ContextModel;
use splitfeat_core::image::rgb_to_input;
use splitfeat_core::quant::{BitDepth, quantize_by_rule};
use splitfeat_core::runtime::EdgeRuntime;
use splitfeat_core::zoo::Zoo;
use splitfeat_data::{Dataset, Sample, Split, SyntheticDataset};

use crate::device::ComputeDevice;
use crate::fsutil::write_atomic;
use crate::train::splitmix64;

#[derive(Debug, Clone, clap::Args)]
pub struct ContextStudyArgs {
    /// The zoo model (name or id) whose codes are modelled.
    #[arg(long)]
    pub model: String,
    #[arg(long, default_value = "assets")]
    pub assets: PathBuf,
    /// Bit depths, each with its own fitted model.
    #[arg(long, value_delimiter = ',', default_values_t = [8u8, 4, 2])]
    pub bits: Vec<u8>,
    /// Training scenes the context model is fitted on.
    #[arg(long, default_value_t = 2000)]
    pub train_scenes: usize,
    /// Validation scenes measured (the evaluation's first ones).
    #[arg(long, default_value_t = 500)]
    pub count: usize,
    /// Adam steps per depth.
    #[arg(long, default_value_t = 1500)]
    pub steps: u64,
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Width of the context model's hidden layers.
    #[arg(long, default_value_t = 64)]
    pub hidden: usize,
    #[arg(long, default_value_t = 2e-3)]
    pub lr: f64,
    #[arg(long, value_enum, default_value_t = ComputeDevice::Flex)]
    pub device: ComputeDevice,
    /// Writes the results as JSON.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// One depth's result, per validation image.
#[derive(Debug, Clone, Serialize)]
pub struct DepthResult {
    pub bits: u8,
    /// Mean bytes of the `ans` stream (header and trailer included).
    pub ans_bytes: f64,
    /// The context model's ideal payload plus the same header and trailer.
    pub context_bytes: f64,
    /// `context_bytes / ans_bytes - 1`.
    pub change: f64,
    /// Mean bits per element of the context model on the training and validation codes.
    pub train_bits_per_element: f64,
    pub val_bits_per_element: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ContextStudy {
    pub model: String,
    pub train_scenes: usize,
    pub val_scenes: usize,
    pub steps: u64,
    pub hidden: usize,
    pub depths: Vec<DepthResult>,
}

pub fn run(args: &ContextStudyArgs) -> Result<ContextStudy> {
    ensure!(
        args.count >= 1 && args.batch >= 1 && args.train_scenes >= args.batch,
        "--count and --batch must be at least 1, and --train-scenes at least --batch"
    );
    let device = args.device.device()?;
    let training = args.device.training_device()?;
    let zoo = Zoo::open(&args.assets)?;
    let entry = zoo.find(&args.model)?.clone();
    let edge = EdgeRuntime::load(entry.config.clone(), &zoo.edge(&entry)?, &device)?;
    let train = features(&edge, Split::Train, args.train_scenes)?;
    let val = features(&edge, Split::Val, args.count)?;
    let [c, h, w] = entry.config.bottleneck_shape();
    let rule = entry.config.quantizer;

    let mut depths = Vec::new();
    for &b in &args.bits {
        let bits = BitDepth::new(b)?;
        let top = f64::from(bits.max_code());
        let codes = |x: &[f32]| -> Result<Vec<f32>> {
            Ok(quantize_by_rule(x, bits, rule)?
                .0
                .into_iter()
                .map(f32::from)
                .collect())
        };
        let train_codes = train.iter().map(|x| codes(x)).collect::<Result<Vec<_>>>()?;
        let val_codes = val.iter().map(|x| codes(x)).collect::<Result<Vec<_>>>()?;
        let stack = |images: &[&Vec<f32>], device: &Device| {
            let data: Vec<f32> = images.iter().flat_map(|v| v.iter().copied()).collect();
            Tensor::<4>::from_data(TensorData::new(data, [images.len(), c, h, w]), device)
        };

        let mut model = ContextModel::new(c, args.hidden, &training);
        let mut optimizer = AdamConfig::new().init();
        let mut recent = Vec::new();
        for step in 0..args.steps {
            let picks: Vec<&Vec<f32>> = (0..args.batch as u64)
                .map(|k| {
                    let i = splitmix64(step.wrapping_mul(1 << 20) ^ k) as usize % train_codes.len();
                    &train_codes[i]
                })
                .collect();
            let rate = model.bits(stack(&picks, &training), top).mean();
            let value = rate.clone().into_scalar::<f32>();
            ensure!(value.is_finite(), "the rate became {value} at step {step}");
            recent.push(f64::from(value));
            let grads = GradientsParams::from_grads(rate.backward(), &model);
            // The last fifth of the steps at a tenth of the rate.
            let lr = if step * 5 >= args.steps * 4 {
                args.lr / 10.0
            } else {
                args.lr
            };
            model = optimizer.step(lr, model, grads);
            if (step + 1) % 100 == 0 {
                eprintln!(
                    "{b} bits, step {}: {:.4} bits/element",
                    step + 1,
                    recent.iter().rev().take(100).sum::<f64>() / recent.len().min(100) as f64
                );
            }
        }
        let model = model.valid();
        let mean_bits = |set: &[Vec<f32>]| {
            let mut total = 0.0;
            for chunk in set.chunks(50) {
                let refs: Vec<&Vec<f32>> = chunk.iter().collect();
                let bits = model.bits(stack(&refs, &device), top).sum();
                total += f64::from(bits.into_scalar::<f32>());
            }
            total / (set.len() * c * h * w) as f64
        };
        let train_bpe = mean_bits(&train_codes[..args.count.min(train_codes.len())]);
        let val_bpe = mean_bits(&val_codes);
        let mut ans = 0usize;
        for x in &val {
            ans += edge.encode(x, CodecId::Ans, bits)?.bytes.len();
        }
        let ans_bytes = ans as f64 / val.len() as f64;
        let context_bytes = val_bpe * (c * h * w) as f64 / 8.0 + (HEADER_LEN + TRAILER_LEN) as f64;
        let result = DepthResult {
            bits: b,
            ans_bytes,
            context_bytes,
            change: context_bytes / ans_bytes - 1.0,
            train_bits_per_element: train_bpe,
            val_bits_per_element: val_bpe,
        };
        println!(
            "{} {b} bits: ans {:.1} B, context model {:.1} B ({:+.1} %), {:.3} bits/element (training scenes {:.3})",
            entry.name,
            result.ans_bytes,
            result.context_bytes,
            100.0 * result.change,
            val_bpe,
            train_bpe
        );
        depths.push(result);
    }
    let study = ContextStudy {
        model: entry.name.clone(),
        train_scenes: args.train_scenes,
        val_scenes: args.count,
        steps: args.steps,
        hidden: args.hidden,
        depths,
    };
    if let Some(out) = &args.out {
        write_atomic(out, &serde_json::to_vec_pretty(&study)?)
            .with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(study)
}

/// The edge's features of the first `count` scenes of `split`, one vector per image.
fn features(edge: &EdgeRuntime, split: Split, count: usize) -> Result<Vec<Vec<f32>>> {
    let (h, w) = (edge.config.input_height, edge.config.input_width);
    let data = SyntheticDataset::new(split, count, w as u32, h as u32)?;
    let per_image = edge.feature_shape().len();
    let mut out = Vec::with_capacity(count);
    let indices: Vec<usize> = (0..count).collect();
    for chunk in indices.chunks(16) {
        let samples = data.get_many(chunk)?;
        let (rgb, _, _) = Sample::pack(&samples);
        let x = edge
            .edge
            .forward(rgb_to_input(&rgb, samples.len(), h, w, &edge.device))
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| anyhow::anyhow!("reading features back: {e:?}"))?;
        out.extend(x.chunks(per_image).map(<[f32]>::to_vec));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use splitfeat_core::model::Preset;
    use splitfeat_core::zoo::untrained::{UntrainedModel, write_assets};

    #[test]
    fn fits_and_measures_against_ans_on_the_same_codes() {
        let dir = std::env::temp_dir().join(format!("splitfeat-context-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let device = Device::flex();
        let model = UntrainedModel::new("m", 0.0, &Preset::Test.config(), &device).unwrap();
        write_assets(&dir, &[model]).unwrap();
        let out = dir.join("study.json");
        let args = ContextStudyArgs {
            model: "m".into(),
            assets: dir.clone(),
            bits: vec![4, 2],
            train_scenes: 8,
            count: 4,
            steps: 30,
            batch: 4,
            hidden: 8,
            lr: 1e-2,
            device: ComputeDevice::Flex,
            out: Some(out.clone()),
        };
        let study = run(&args).unwrap();
        let elements = 16.0 * 4.0 * 8.0;
        for (r, bits) in study.depths.iter().zip([4.0, 2.0]) {
            // A code of n bits costs at most about n bits under a fitted model, and the
            // byte count is that payload plus the stream's fixed 38 bytes.
            assert!(
                r.val_bits_per_element > 0.0 && r.val_bits_per_element < bits + 0.5,
                "{r:?}"
            );
            let expected = r.val_bits_per_element * elements / 8.0 + 38.0;
            assert!((r.context_bytes - expected).abs() < 1e-6, "{r:?}");
            assert!((r.change - (r.context_bytes / r.ans_bytes - 1.0)).abs() < 1e-12);
            assert!(r.ans_bytes > 38.0);
        }
        let json: serde_json::Value = serde_json::from_slice(&std::fs::read(out).unwrap()).unwrap();
        assert_eq!(json["depths"].as_array().unwrap().len(), 2);

        let bad = ContextStudyArgs { batch: 0, ..args };
        assert!(run(&bad).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
