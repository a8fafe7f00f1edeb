//! The cloud half: the one path of a request for the server and the browser's cloud
//! worker alike. A bitstream is decoded ([`CloudRuntime::decode_request`], refusing a
//! stream of another model or shape), the requested heads run and are read back, and
//! their outputs are post-processed into raw planes ([`CloudRuntime::compute`]);
//! `crate::api` then makes the response (JSON with PNGs, or the planes format).

use burn::prelude::*;

use super::{Task, TaskOutput, feature_shape};
use crate::api::{self, InferError, InferOptions, RawOutputs, Timings};
use crate::bitstream::Limits;
use crate::classes::NUM_CLASSES;
use crate::codec::prior::ModelTables;
use crate::codec::{CodecError, CodecId};
use crate::image::{argmax_classes, disparity_scale, unit_chw_to_rgb};
use crate::model::{CloudHeads, ModelConfig, WeightsError, load_module_bytes};
use crate::pipeline::{self, Decoded, PipelineError};
use crate::quant::BitDepth;
use crate::zoo::{ModelEntry, ModelId, ZooError};

/// Why a model's heads could not be loaded from its manifest entry and weights file.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{0}")]
    Verify(#[from] ZooError),
    #[error("{0}")]
    Weights(#[from] WeightsError),
}

/// The cloud half, ready to decode bitstreams of one model and run its heads.
#[derive(Debug)]
pub struct CloudRuntime {
    pub config: ModelConfig,
    pub heads: CloudHeads,
    pub model_id: ModelId,
    pub device: Device,
    /// The model's learned prior tables, to decode `prior` streams.
    pub tables: Option<ModelTables>,
}

impl CloudRuntime {
    pub fn load(
        config: ModelConfig,
        weights: &[u8],
        model_id: ModelId,
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
    pub fn with_tables(mut self, tables: ModelTables) -> Result<Self, CodecError> {
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

    /// The heads of a manifest entry: `heads_weights` checked against the entry's
    /// size and sha256, then loaded into the entry's architecture.
    pub fn from_entry(
        entry: &ModelEntry,
        heads_weights: &[u8],
        device: &burn::prelude::Device,
    ) -> Result<Self, LoadError> {
        entry
            .config
            .validate()
            .map_err(|msg| ZooError::Manifest(format!("model {}: {msg}", entry.id)))?;
        entry.heads.verify(heads_weights)?;
        Ok(CloudRuntime::load(
            entry.config.clone(),
            heads_weights,
            entry.id,
            device,
        )?)
    }

    /// A valid stream for this model (synthetic features, PNG, 8 bits), for warming
    /// up and self-testing a freshly loaded model through the whole request path.
    pub fn synthetic_stream(&self) -> Vec<u8> {
        let [c, h, w] = self.config.bottleneck_shape();
        let shape = pipeline::FeatureShape::new(c as u16, h as u16, w as u16);
        let values: Vec<f32> = (0..shape.len()).map(|i| (i % 17) as f32 / 17.0).collect();
        pipeline::encode_features(&values, shape, self.model_id, CodecId::Png, BitDepth::EIGHT)
            .expect("synthetic features of the model's own shape always encode")
            .bytes
    }

    /// Decodes a request body: empty bodies and streams this model cannot take are
    /// refused with their error codes.
    pub fn decode_request(&self, body: &[u8]) -> Result<Decoded, InferError> {
        if body.is_empty() {
            return Err(InferError::EmptyBody);
        }
        Ok(self.decode(body)?)
    }

    /// (width, height) of every output image: the model's input size.
    pub fn output_size(&self) -> (usize, usize) {
        (self.config.input_width, self.config.input_height)
    }

    /// The model's part of a request: each requested head run and read back in turn,
    /// each timed on its own (on the CPU each already uses every core), then every
    /// output post-processed into its raw plane ([`api::finish`]). That step is
    /// single-threaded per task, so natively the tasks run in parallel on rayon's pool;
    /// the browser has one thread. `clock` reads milliseconds (any origin).
    pub async fn compute(
        &self,
        decoded: &Decoded,
        options: &InferOptions,
        clock: impl Fn() -> f64 + Sync,
    ) -> Result<(RawOutputs, Timings), InferError> {
        let mut timings = Timings::default();
        let mut heads = Vec::with_capacity(options.tasks.len());
        for &task in &options.tasks {
            let t = clock();
            let (_, tensor) = self.run_heads(decoded, &[task]).pop().ok_or_else(|| {
                InferError::Internal(format!("the {} head returned nothing", task.name()))
            })?;
            let values = tensor
                .into_data_async()
                .await
                .map_err(|e| format!("{e:?}"))
                .and_then(|data| data.try_to_vec::<f32>().map_err(|e| format!("{e:?}")))
                .map_err(|e| {
                    InferError::Internal(format!("reading back the {} head: {e}", task.name()))
                })?;
            timings.heads.set(task, api::round_ms(clock() - t));
            heads.push((task, values));
        }

        let finish = |(task, values): (Task, Vec<f32>)| {
            api::finish(self, task, &values, options.max_disparity, &clock)
        };
        #[cfg(not(target_family = "wasm"))]
        let finished: Vec<_> = {
            use rayon::prelude::*;
            heads.into_par_iter().map(finish).collect()
        };
        #[cfg(target_family = "wasm")]
        let finished: Vec<_> = heads.into_iter().map(finish).collect();
        let (width, height) = self.output_size();
        let outputs = api::gather(finished, width, height, &mut timings);
        Ok((outputs, timings))
    }
}
