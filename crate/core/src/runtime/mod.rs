//! Inference halves as the browser and the server run them: [`EdgeRuntime`] (image ->
//! features -> bitstream) and [`CloudRuntime`] (bitstream -> features -> task outputs).
//!
//! Device work and read-back are separate steps: on WebGPU a tensor can only be read
//! asynchronously, so callers read tensors back themselves (`into_data()` natively,
//! `into_data_async().await` in the browser) and pass the values to the next step.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::bitstream::Limits;
use crate::classes::NUM_CLASSES;
use crate::codec::prior::PriorTables;
use crate::codec::{CodecError, CodecId};
use crate::image::{argmax_classes, disparity_scale, resize_rgb, rgb_to_input, unit_chw_to_rgb};
use crate::model::{CloudHeads, Edge, ModelConfig, WeightsError, load_module_bytes};
use crate::pipeline::{self, Decoded, Encoded, FeatureShape, PipelineError};
use crate::viz::{PngError, disparity_to_rgb, encode_png8, labels_to_rgb};
use crate::zoo::model_id;

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

/// The edge half, ready to encode images.
#[derive(Debug)]
pub struct EdgeRuntime {
    pub config: ModelConfig,
    pub edge: Edge,
    pub model_id: [u8; 8],
    pub device: Device,
    /// The model's learned prior tables, for the `prior` codec (models trained with a
    /// learned entropy model only).
    pub tables: Option<PriorTables>,
}

impl EdgeRuntime {
    /// Builds the edge from its weights; the model id is derived from the same bytes.
    pub fn load(
        config: ModelConfig,
        weights: &[u8],
        device: &Device,
    ) -> Result<Self, WeightsError> {
        let edge = load_module_bytes(Edge::new(&config, device), weights)?;
        Ok(Self {
            config,
            edge,
            model_id: model_id(weights),
            device: device.clone(),
            tables: None,
        })
    }

    /// The same runtime with the model's prior tables (checked against its channels).
    pub fn with_tables(mut self, tables: PriorTables) -> Result<Self, CodecError> {
        tables.check(self.feature_shape().channels.into())?;
        self.tables = Some(tables);
        Ok(self)
    }

    pub fn feature_shape(&self) -> FeatureShape {
        feature_shape(&self.config)
    }

    /// Runs the encoder on one packed RGB image of any size (resized bilinearly to the
    /// model input). Returns `[1, C, H, W]` features on the device, not yet read back.
    pub fn features(
        &self,
        rgb: &[u8],
        height: usize,
        width: usize,
    ) -> Result<Tensor<4>, InputError> {
        check_image(rgb, height, width)?;
        let (h, w) = (self.config.input_height, self.config.input_width);
        let rgb = resize_rgb(rgb, height, width, h, w);
        Ok(self.edge.forward(rgb_to_input(&rgb, 1, h, w, &self.device)))
    }

    /// Quantizes, tiles, codes and wraps read-back features.
    pub fn encode(
        &self,
        features: &[f32],
        codec: CodecId,
        bits: u8,
    ) -> Result<Encoded, PipelineError> {
        let (shape, rule) = (self.feature_shape(), self.config.quantizer);
        pipeline::encode_features_with(
            features,
            shape,
            self.model_id,
            codec,
            bits,
            rule,
            self.tables.as_ref(),
        )
    }
}

/// An input image that cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InputError {
    #[error("image is {width}x{height}; both sides must be 1..=4096")]
    BadSize { width: usize, height: usize },
    #[error("image of {width}x{height} RGB needs {expected} bytes, got {got}")]
    BadLength {
        width: usize,
        height: usize,
        expected: usize,
        got: usize,
    },
}

fn check_image(rgb: &[u8], height: usize, width: usize) -> Result<(), InputError> {
    if !(1..=4096).contains(&height) || !(1..=4096).contains(&width) {
        return Err(InputError::BadSize { width, height });
    }
    let expected = height * width * 3;
    if rgb.len() != expected {
        return Err(InputError::BadLength {
            width,
            height,
            expected,
            got: rgb.len(),
        });
    }
    Ok(())
}

/// The cloud half, ready to decode bitstreams of one model and run its heads.
#[derive(Debug)]
pub struct CloudRuntime {
    pub config: ModelConfig,
    pub heads: CloudHeads,
    pub model_id: [u8; 8],
    pub device: Device,
    /// The model's learned prior tables, to decode `prior` streams.
    pub tables: Option<PriorTables>,
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

impl CloudRuntime {
    pub fn load(
        config: ModelConfig,
        weights: &[u8],
        model_id: [u8; 8],
        device: &Device,
    ) -> Result<Self, WeightsError> {
        let heads = load_module_bytes(CloudHeads::new(&config, device), weights)?;
        Ok(Self {
            config,
            heads,
            model_id,
            device: device.clone(),
            tables: None,
        })
    }

    /// The same runtime with the model's prior tables (checked against its channels).
    pub fn with_tables(mut self, tables: PriorTables) -> Result<Self, CodecError> {
        tables.check(feature_shape(&self.config).channels.into())?;
        self.tables = Some(tables);
        Ok(self)
    }

    /// Decodes a stream, refusing one made by another model or of another shape.
    pub fn decode(&self, bytes: &[u8]) -> Result<Decoded, PipelineError> {
        let shape = feature_shape(&self.config);
        let limits = Limits {
            max_channels: shape.channels,
            max_height: shape.height,
            max_width: shape.width,
            max_elements: shape.len(),
            ..Limits::default()
        };
        // Parse the header alone first so that a foreign model or shape is reported as
        // such rather than as whatever limit it happens to exceed.
        let (header, _) = crate::bitstream::parse(bytes, &Limits::default())?;
        pipeline::expect_model(&header, self.model_id)?;
        pipeline::expect_shape(&header, shape)?;
        pipeline::decode_features_with(bytes, &limits, self.tables.as_ref())
    }

    /// Runs the requested heads on decoded features; tensors stay on the device.
    pub fn run_heads(&self, decoded: &Decoded, tasks: &[Task]) -> Vec<(Task, Tensor<4>)> {
        let [c, h, w] = self.config.bottleneck_shape();
        let x = Tensor::<4>::from_data(
            TensorData::new(decoded.values.clone(), [1, c, h, w]),
            &self.device,
        );
        tasks
            .iter()
            .map(|&t| {
                let head = match t {
                    Task::Seg => &self.heads.segmentation,
                    Task::Disp => &self.heads.disparity,
                    Task::Recon => &self.heads.reconstruction,
                };
                (t, head.forward(x.clone()))
            })
            .collect()
    }

    /// Turns a head's read-back values (`[1, channels, H, W]`) into its output.
    pub fn postprocess(&self, task: Task, values: &[f32]) -> TaskOutput {
        let (h, w) = (self.config.input_height, self.config.input_width);
        match task {
            Task::Seg => TaskOutput::Seg(argmax_classes(values, NUM_CLASSES, h, w)),
            Task::Disp => {
                let scale = disparity_scale(w);
                TaskOutput::Disp(values.iter().map(|v| (v * scale).max(0.0)).collect())
            }
            Task::Recon => TaskOutput::Recon(unit_chw_to_rgb(values, h, w)),
        }
    }
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
pub(crate) fn untrained_test_runtimes(device: &Device) -> (EdgeRuntime, CloudRuntime) {
    use crate::model::{CloudHeads, Edge, Preset, module_to_bytes};
    let config = Preset::Test.config();
    let edge_bytes = module_to_bytes(&Edge::new(&config, device)).unwrap();
    let heads_bytes = module_to_bytes(&CloudHeads::new(&config, device)).unwrap();
    let edge = EdgeRuntime::load(config.clone(), &edge_bytes, device).unwrap();
    let cloud = CloudRuntime::load(config, &heads_bytes, edge.model_id, device).unwrap();
    (edge, cloud)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::module_to_bytes;

    fn png_pixels(bytes: &[u8]) -> Vec<u8> {
        let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
            .read_info()
            .unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        buf.truncate(info.buffer_size());
        buf
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
        let features = edge
            .features(&rgb, h, w)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let encoded = edge.encode(&features, CodecId::Png, 8).unwrap();
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
        let other = CloudRuntime::load(config, &heads_bytes, [9; 8], &device).unwrap();
        assert!(matches!(
            other.decode(&encoded.bytes),
            Err(PipelineError::ModelMismatch { .. })
        ));
    }
}
