//! Evaluation of a split model on labelled samples: every sample goes through the same
//! path as in deployment (edge -> quantizer -> tiling -> codec -> bitstream -> decode ->
//! heads) once per codec setting, and the task metrics are accumulated per setting.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::classes::{IGNORE_LABEL, NUM_CLASSES};
use crate::codec::CodecId;
use crate::image::{argmax_classes, disparity_scale, rgb_to_input, unit_chw_to_rgb};
use crate::metrics::{ConfusionMatrix, MetricsError, RmseAccumulator, psnr_u8};
use crate::pipeline::PipelineError;
use crate::quant::BitDepth;
use crate::runtime::{CloudRuntime, EdgeRuntime};
use crate::zoo::ModelId;

/// How the features reach the heads in one evaluated setting.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum Setting {
    /// Float features straight into the heads (no quantization, no coding; saturated
    /// as the model's range rule saturates them): the model's accuracy without the
    /// channel.
    Float,
    /// Features quantized to `bits` and coded with `codec`.
    Coded(CodedSetting),
}

/// One coded operating point: a codec at a quantizer bit depth. The lossless codecs
/// (PNG, ans) trace a rate-accuracy curve over the bit depth, JPEG over its quality.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodedSetting {
    pub codec: CodecId,
    pub bits: BitDepth,
}

impl CodedSetting {
    /// `png`, `jpeg90`, ... at the evaluation's main bit depth, `png@6` at another, so
    /// the labels of the main grid stay the plain codec names the page looks up.
    pub fn label(&self, main_bits: BitDepth) -> String {
        if self.bits == main_bits {
            self.codec.to_string()
        } else {
            format!("{}@{}", self.codec, self.bits)
        }
    }

    /// Parses a label made by [`CodedSetting::label`]: `codec` or `codec@bits`.
    pub fn parse(label: &str, main_bits: BitDepth) -> Result<Self, EvalError> {
        let bad = |why: String| EvalError::BadSetting {
            label: label.to_string(),
            why,
        };
        let (codec, bits) = match label.trim().split_once('@') {
            None => (label, main_bits),
            Some((codec, bits)) => (
                codec,
                bits.parse::<BitDepth>().map_err(|e| bad(e.to_string()))?,
            ),
        };
        let codec = codec.parse::<CodecId>().map_err(|e| bad(e.to_string()))?;
        Ok(Self { codec, bits })
    }
}

impl Setting {
    pub fn label(&self, main_bits: BitDepth) -> String {
        match self {
            Setting::Float => "float".into(),
            Setting::Coded(coded) => coded.label(main_bits),
        }
    }
}

/// Metrics of one setting over the evaluated samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SettingResult {
    pub setting: String,
    /// The codec (`png`, `jpeg90`, `ans`); absent for float.
    #[serde(default)]
    pub codec: Option<String>,
    /// Quantizer bit depth; absent for float.
    #[serde(default)]
    pub bits: Option<BitDepth>,
    /// Mean bitstream size per image (header and side info included); 0 for float.
    pub bytes_per_image: f64,
    pub bits_per_element: f64,
    pub miou: f64,
    pub pixel_accuracy: f64,
    /// Disparity RMSE in pixels (at the model's input width) over valid pixels.
    pub disparity_rmse: f64,
    /// Mean per-image PSNR of the reconstruction, dB (8-bit, peak 255).
    pub psnr_db: f64,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    pub model_id: ModelId,
    pub images: usize,
    /// Index of the first validation scene of the `images` evaluated (0 for the
    /// benchmark; not written when 0).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub first_scene: usize,
    pub bits: BitDepth,
    pub results: Vec<SettingResult>,
    /// mIoU of predicting the most frequent class everywhere (a floor to beat).
    pub majority_class_miou: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    #[error("batch of {n} images needs {expected} {what} values, got {got}")]
    BadBatch {
        n: usize,
        what: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("nothing was evaluated")]
    Empty,
    #[error("evaluation setting {label:?}: {why}")]
    BadSetting { label: String, why: String },
}

struct Accumulator {
    setting: Setting,
    bytes: u64,
    confusion: ConfusionMatrix,
    rmse: RmseAccumulator,
    psnr_sum: f64,
    images: usize,
}

pub struct Evaluator {
    bits: BitDepth,
    acc: Vec<Accumulator>,
    label_counts: [u64; NUM_CLASSES],
    model_id: ModelId,
}

fn read(t: Tensor<4>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap_or_default()
}

impl Evaluator {
    /// An evaluator of the float features and each coded setting; `bits` is the main
    /// bit depth (the deployed one), which names the settings (see [`CodedSetting::label`]).
    pub fn new(edge: &EdgeRuntime, coded: &[CodedSetting], bits: BitDepth) -> Self {
        let settings =
            std::iter::once(Setting::Float).chain(coded.iter().map(|&c| Setting::Coded(c)));
        Self {
            bits,
            acc: settings
                .map(|setting| Accumulator {
                    setting,
                    bytes: 0,
                    confusion: ConfusionMatrix::new(NUM_CLASSES),
                    rmse: RmseAccumulator::new(),
                    psnr_sum: 0.0,
                    images: 0,
                })
                .collect(),
            label_counts: [0; NUM_CLASSES],
            model_id: edge.model_id,
        }
    }

    /// Evaluates `n` samples packed one after another (RGB HWC u8, trainIds, disparity
    /// in pixels) at the model's input size.
    #[allow(clippy::too_many_arguments)]
    pub fn add_batch(
        &mut self,
        edge: &EdgeRuntime,
        cloud: &CloudRuntime,
        rgb: &[u8],
        labels: &[u8],
        disparity: &[f32],
        n: usize,
    ) -> Result<(), EvalError> {
        let (h, w) = (edge.config.input_height, edge.config.input_width);
        let plane = h * w;
        for (what, expected, got) in [
            ("rgb", n * plane * 3, rgb.len()),
            ("label", n * plane, labels.len()),
            ("disparity", n * plane, disparity.len()),
        ] {
            if expected != got {
                return Err(EvalError::BadBatch {
                    n,
                    what,
                    expected,
                    got,
                });
            }
        }
        for &l in labels {
            if l != IGNORE_LABEL && (l as usize) < NUM_CLASSES {
                self.label_counts[l as usize] += 1;
            }
        }
        let features = read(edge.edge.forward(rgb_to_input(rgb, n, h, w, &edge.device)));
        let shape = edge.feature_shape();
        let per_image = shape.len();
        let [c, fh, fw] = edge.config.bottleneck_shape();
        let scale = disparity_scale(w);
        // Settings that decode to the same features (PNG and ans at one bit depth are
        // both lossless) share one run of the heads: its metrics are computed once and
        // merged into each setting's accumulator.
        let mut done: Vec<(Vec<f32>, ConfusionMatrix, RmseAccumulator, f64)> = Vec::new();
        for acc in &mut self.acc {
            let mut decoded = Vec::with_capacity(features.len());
            for i in 0..n {
                let x = &features[i * per_image..(i + 1) * per_image];
                match acc.setting {
                    Setting::Float => {
                        decoded.extend(crate::quant::saturate(x, edge.config.quantizer))
                    }
                    Setting::Coded(CodedSetting { codec, bits }) => {
                        let encoded = edge.encode(x, codec, bits)?;
                        acc.bytes += encoded.bytes.len() as u64;
                        decoded.extend(cloud.decode(&encoded.bytes)?.values);
                    }
                }
            }
            acc.images += n;
            if let Some((_, confusion, rmse, psnr_sum)) = done.iter().find(|d| d.0 == decoded) {
                acc.confusion.merge(confusion)?;
                acc.rmse.merge(rmse);
                acc.psnr_sum += psnr_sum;
                continue;
            }
            let x = Tensor::<4>::from_data(
                TensorData::new(decoded.clone(), [n, c, fh, fw]),
                &cloud.device,
            );
            let out = cloud.heads.forward(x);
            let (seg, disp, recon) = (
                read(out.segmentation),
                read(out.disparity),
                read(out.reconstruction),
            );
            let (mut confusion, mut rmse, mut psnr_sum) = (
                ConfusionMatrix::new(NUM_CLASSES),
                RmseAccumulator::new(),
                0.0,
            );
            for i in 0..n {
                let pred = argmax_classes(
                    &seg[i * NUM_CLASSES * plane..(i + 1) * NUM_CLASSES * plane],
                    NUM_CLASSES,
                    h,
                    w,
                );
                confusion.update(&pred, &labels[i * plane..(i + 1) * plane])?;
                let d: Vec<f32> = disp[i * plane..(i + 1) * plane]
                    .iter()
                    .map(|v| (v * scale).max(0.0))
                    .collect();
                rmse.update(&d, &disparity[i * plane..(i + 1) * plane])?;
                let r = unit_chw_to_rgb(&recon[i * 3 * plane..(i + 1) * 3 * plane], h, w);
                psnr_sum += psnr_u8(&r, &rgb[i * 3 * plane..(i + 1) * 3 * plane])?;
            }
            acc.confusion.merge(&confusion)?;
            acc.rmse.merge(&rmse);
            acc.psnr_sum += psnr_sum;
            done.push((decoded, confusion, rmse, psnr_sum));
        }
        Ok(())
    }

    pub fn finish(self, shape_len: usize) -> Result<EvalReport, EvalError> {
        let images = self.acc.first().map_or(0, |a| a.images);
        if images == 0 {
            return Err(EvalError::Empty);
        }
        let total: u64 = self.label_counts.iter().sum();
        let present = self.label_counts.iter().filter(|&&c| c > 0).count().max(1);
        let majority = self.label_counts.iter().copied().max().unwrap_or(0);
        let majority_class_miou = if total > 0 {
            majority as f64 / total as f64 / present as f64
        } else {
            0.0
        };
        let results = self
            .acc
            .iter()
            .map(|a| {
                let bytes_per_image = a.bytes as f64 / a.images as f64;
                let (codec, bits) = match a.setting {
                    Setting::Float => (None, None),
                    Setting::Coded(c) => (Some(c.codec.to_string()), Some(c.bits)),
                };
                SettingResult {
                    setting: a.setting.label(self.bits),
                    codec,
                    bits,
                    bytes_per_image,
                    bits_per_element: bytes_per_image * 8.0 / shape_len as f64,
                    miou: a.confusion.mean_iou().unwrap_or(0.0),
                    pixel_accuracy: a.confusion.pixel_accuracy().unwrap_or(0.0),
                    disparity_rmse: a.rmse.rmse().unwrap_or(0.0),
                    psnr_db: a.psnr_sum / a.images as f64,
                }
            })
            .collect();
        Ok(EvalReport {
            model_id: self.model_id,
            images,
            first_scene: 0,
            bits: self.bits,
            results,
            majority_class_miou,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth(bits: u8) -> BitDepth {
        BitDepth::new(bits).unwrap()
    }
    use crate::runtime::untrained_test_runtimes;

    #[test]
    fn lossless_codecs_match_and_float_costs_nothing() {
        let device = Device::flex();
        let (edge, cloud) = untrained_test_runtimes(&device);
        let config = edge.config.clone();
        let (n, h, w) = (2, config.input_height, config.input_width);
        let rgb: Vec<u8> = (0..n * h * w * 3).map(|i| ((i * 7) % 256) as u8).collect();
        // Labels: class 0 on 3/4 of the pixels, class 10 on the rest.
        let labels: Vec<u8> = (0..n * h * w)
            .map(|i| if i % 4 == 0 { 10 } else { 0 })
            .collect();
        let disparity: Vec<f32> = (0..n * h * w).map(|i| (i % 9) as f32).collect();
        let coded =
            ["png", "ans", "jpeg50", "png@4"].map(|s| CodedSetting::parse(s, depth(8)).unwrap());
        let mut ev = Evaluator::new(&edge, &coded, depth(8));
        ev.add_batch(&edge, &cloud, &rgb, &labels, &disparity, n)
            .unwrap();
        assert!(matches!(
            ev.add_batch(&edge, &cloud, &rgb[1..], &labels, &disparity, n),
            Err(EvalError::BadBatch { what: "rgb", .. })
        ));
        let report = ev.finish(edge.feature_shape().len()).unwrap();
        assert_eq!(report.images, 2);
        assert_eq!(report.results.len(), 5);
        let labels: Vec<&str> = report.results.iter().map(|r| r.setting.as_str()).collect();
        assert_eq!(labels, ["float", "png", "ans", "jpeg50", "png@4"]);
        assert_eq!(
            (report.results[4].codec.as_deref(), report.results[4].bits),
            (Some("png"), Some(depth(4)))
        );
        assert_eq!(
            (report.results[0].codec.as_deref(), report.results[0].bits),
            (None, None)
        );
        // Fewer bits, fewer bytes: 4-bit PNG is smaller than 8-bit PNG.
        assert!(report.results[4].bytes_per_image < report.results[1].bytes_per_image);
        assert_eq!(report.results[0].bytes_per_image, 0.0);
        // PNG and ans are both lossless after quantization: identical task metrics.
        let (png, ans) = (&report.results[1], &report.results[2]);
        assert_eq!(
            (png.miou, png.disparity_rmse, png.psnr_db),
            (ans.miou, ans.disparity_rmse, ans.psnr_db)
        );
        assert!(png.bytes_per_image > 0.0);
        // Majority class 0 covers 3/4 of the labelled pixels, 2 classes present.
        assert!((report.majority_class_miou - 0.375).abs() < 1e-12);
    }

    #[test]
    fn setting_labels_round_trip_and_bad_ones_are_refused() {
        for label in ["png", "ans", "jpeg90", "png@6", "ans@12"] {
            assert_eq!(
                CodedSetting::parse(label, depth(8))
                    .unwrap()
                    .label(depth(8)),
                label
            );
        }
        assert_eq!(
            CodedSetting::parse("png", depth(6)).unwrap(),
            CodedSetting {
                codec: CodecId::Png,
                bits: depth(6)
            }
        );
        assert_eq!(
            CodedSetting::parse("png@8", depth(8))
                .unwrap()
                .label(depth(8)),
            "png"
        );
        for bad in ["png@", "png@x", "png@1", "png@17", "gif", "gif@8"] {
            assert!(
                matches!(
                    CodedSetting::parse(bad, depth(8)),
                    Err(EvalError::BadSetting { .. })
                ),
                "{bad}"
            );
        }
    }
}
