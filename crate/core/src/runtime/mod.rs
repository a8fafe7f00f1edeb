//! Inference halves as the browser and the server run them: [`EdgeRuntime`] (image ->
//! features -> bitstream) and [`CloudRuntime`] (bitstream -> features -> task outputs).
//!
//! Device work and read-back are separate steps: on WebGPU a tensor can only be read
//! asynchronously, so the runtimes read tensors back with `into_data_async().await`,
//! which the CPU device answers at once (native callers block on the future).

mod cloud;
mod edge;

pub use cloud::{CloudRuntime, LoadError};
pub use edge::{EdgeError, EdgeRuntime, InputError};

use serde::{Deserialize, Serialize};

use crate::model::ModelConfig;
use crate::pipeline::FeatureShape;
use crate::viz::{PngError, disparity_to_rgb, encode_png8, labels_to_rgb};

/// A task head of the cloud.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    Seg,
    Disp,
    Recon,
}

impl Task {
    pub const ALL: [Task; 3] = [Task::Seg, Task::Disp, Task::Recon];

    pub fn name(self) -> &'static str {
        match self {
            Task::Seg => "seg",
            Task::Disp => "disp",
            Task::Recon => "recon",
        }
    }

    /// Parses a comma-separated list (`seg,disp,recon`), without duplicates.
    pub fn parse_list(s: &str) -> Result<Vec<Task>, String> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let t = Task::ALL
                .into_iter()
                .find(|t| t.name() == part)
                .ok_or_else(|| format!("unknown task {part:?} (expected seg, disp or recon)"))?;
            if !out.contains(&t) {
                out.push(t);
            }
        }
        if out.is_empty() {
            return Err("no task requested".into());
        }
        Ok(out)
    }
}

fn feature_shape(config: &ModelConfig) -> FeatureShape {
    let [c, h, w] = config.bottleneck_shape();
    FeatureShape::new(c as u16, h as u16, w as u16)
}

/// One task's output, read back and post-processed, at the model's input size.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskOutput {
    /// Per-pixel trainIds.
    Seg(Vec<u8>),
    /// Per-pixel disparity in pixels of the model input width.
    Disp(Vec<f32>),
    /// Packed RGB.
    Recon(Vec<u8>),
}

impl TaskOutput {
    /// A display PNG: class colours, turbo-coloured disparity (0..`max_disparity`),
    /// or the reconstruction itself.
    pub fn to_png(&self, width: u32, height: u32, max_disparity: f32) -> Result<Vec<u8>, PngError> {
        encode_png8(width, height, 3, &self.rgb(max_disparity))
    }

    /// The display pixels (packed RGB) that [`TaskOutput::to_png`] encodes.
    pub fn rgb(&self, max_disparity: f32) -> Vec<u8> {
        match self {
            TaskOutput::Seg(labels) => labels_to_rgb(labels),
            TaskOutput::Disp(d) => disparity_to_rgb(d, max_disparity),
            TaskOutput::Recon(rgb) => rgb.clone(),
        }
    }
}

/// Both halves of an untrained `test`-preset model, loaded as deployment loads them
/// (for tests).
#[cfg(test)]
pub(crate) fn untrained_test_runtimes(
    device: &burn::prelude::Device,
) -> (EdgeRuntime, CloudRuntime) {
    use crate::model::Preset;
    use crate::zoo::untrained::UntrainedModel;
    let m = UntrainedModel::new("test", 0.0, &Preset::Test.config(), device).unwrap();
    let edge = EdgeRuntime::load(m.entry.config.clone(), &m.edge, device).unwrap();
    let cloud = CloudRuntime::load(m.entry.config, &m.heads, edge.model_id, device).unwrap();
    (edge, cloud)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::CodecId;
    use crate::model::module_to_bytes;
    use crate::pipeline::PipelineError;
    use crate::zoo::ModelId;
    use burn::prelude::*;
    use futures_lite::future::block_on;

    fn png_pixels(bytes: &[u8]) -> Vec<u8> {
        crate::viz::decode_png_rgb(bytes).unwrap().rgb
    }

    #[test]
    fn task_lists_parse_and_reject_unknown_names() {
        assert_eq!(
            Task::parse_list("seg,recon").unwrap(),
            vec![Task::Seg, Task::Recon]
        );
        assert_eq!(Task::parse_list("disp, disp").unwrap(), vec![Task::Disp]);
        assert!(Task::parse_list("seg,depth").unwrap_err().contains("depth"));
        assert!(Task::parse_list("").is_err());
    }

    #[test]
    fn edge_to_cloud_round_trip_on_an_untrained_model() {
        let device = Device::flex();
        let (edge, cloud) = untrained_test_runtimes(&device);
        let config = edge.config.clone();

        // Any input size is resized to the model's.
        let (h, w) = (20, 50);
        let rgb: Vec<u8> = (0..h * w * 3).map(|i| (i % 256) as u8).collect();
        let eight = crate::quant::BitDepth::EIGHT;
        let encoded = block_on(edge.encode_image(&rgb, h, w, CodecId::Png, eight)).unwrap();
        // The same steps one by one give the same stream.
        let features = block_on(edge.read_features(&rgb, h, w)).unwrap();
        assert_eq!(
            edge.encode(&features, CodecId::Png, eight).unwrap(),
            encoded
        );
        assert!(matches!(
            block_on(edge.encode_image(&rgb[1..], h, w, CodecId::Png, eight)),
            Err(EdgeError::Input(InputError::BadLength { .. }))
        ));
        let decoded = cloud.decode(&encoded.bytes).unwrap();
        assert_eq!(decoded.values.len(), features.len());
        for (task, tensor) in cloud.run_heads(&decoded, &Task::ALL) {
            let values = tensor.into_data().try_to_vec::<f32>().unwrap();
            let out = cloud.postprocess(task, &values);
            let png = out.to_png(64, 32, 10.0).unwrap();
            assert_eq!(&png[1..4], b"PNG");
        }

        assert!(matches!(
            edge.features(&rgb[1..], h, w),
            Err(InputError::BadLength { .. })
        ));
        assert!(matches!(
            edge.features(&[], 0, 0),
            Err(InputError::BadSize { .. })
        ));

        // The fast PNG the cloud answers with has the same pixels as `to_png`'s.
        let (w8, h4) = (8u32, 4u32);
        for out in [
            TaskOutput::Seg((0..32).map(|i| (i % 20) as u8).collect()),
            TaskOutput::Disp((0..32).map(|i| i as f32 * 0.5 - 2.0).collect()),
            TaskOutput::Recon((0..96).map(|i| (i * 5) as u8).collect()),
        ] {
            let fast = crate::viz::encode_rgb_fast(w8, h4, &out.rgb(10.0)).unwrap();
            assert_eq!(
                png_pixels(&fast),
                png_pixels(&out.to_png(w8, h4, 10.0).unwrap())
            );
        }
        assert!(crate::viz::encode_rgb_fast(w8, h4, &[0; 5]).is_err());

        let heads_bytes = module_to_bytes(&cloud.heads).unwrap();
        let other =
            CloudRuntime::load(config, &heads_bytes, ModelId::from_bytes([9; 8]), &device).unwrap();
        assert!(matches!(
            other.decode(&encoded.bytes),
            Err(PipelineError::ModelMismatch { .. })
        ));
    }
}
