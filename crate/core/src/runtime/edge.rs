//! The edge half: an image to features on the device, then features to a bitstream.

use burn::prelude::*;

use super::feature_shape;
use crate::codec::prior::ModelTables;
use crate::codec::{CodecError, CodecId};
use crate::image::{resize_rgb, rgb_to_input};
use crate::model::{Edge, ModelConfig, WeightsError, load_module_bytes};
use crate::pipeline::{self, Encoded, FeatureShape, PipelineError};
use crate::quant::BitDepth;
use crate::zoo::ModelId;

/// The edge half, ready to encode images.
#[derive(Debug)]
pub struct EdgeRuntime {
    pub config: ModelConfig,
    pub edge: Edge,
    pub model_id: ModelId,
    pub device: Device,
    /// The model's learned prior tables, for the `prior` codec (models trained with a
    /// learned entropy model only).
    pub tables: Option<ModelTables>,
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
            model_id: ModelId::of_edge(weights),
            device: device.clone(),
            tables: None,
        })
    }

    /// The same runtime with the model's prior tables (checked against its channels).
    pub fn with_tables(mut self, tables: ModelTables) -> Result<Self, CodecError> {
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

    /// [`EdgeRuntime::features`] read back: the `C * H * W` feature values. The read-back
    /// is `into_data_async`, the one WebGPU allows; native callers block on the future
    /// (the CPU device answers at once).
    pub async fn read_features(
        &self,
        rgb: &[u8],
        height: usize,
        width: usize,
    ) -> Result<Vec<f32>, EdgeError> {
        let data = self
            .features(rgb, height, width)?
            .into_data_async()
            .await
            .map_err(|e| EdgeError::ReadBack(format!("{e:?}")))?;
        data.try_to_vec::<f32>()
            .map_err(|e| EdgeError::ReadBack(format!("{e:?}")))
    }

    /// The whole edge half, as the browser runs it: one packed RGB image of any size
    /// to a bitstream ([`EdgeRuntime::read_features`], then [`EdgeRuntime::encode`]).
    pub async fn encode_image(
        &self,
        rgb: &[u8],
        height: usize,
        width: usize,
        codec: CodecId,
        bits: BitDepth,
    ) -> Result<Encoded, EdgeError> {
        let values = self.read_features(rgb, height, width).await?;
        Ok(self.encode(&values, codec, bits)?)
    }

    /// Quantizes, tiles, codes and wraps read-back features.
    pub fn encode(
        &self,
        features: &[f32],
        codec: CodecId,
        bits: BitDepth,
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

/// Why an image could not be encoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EdgeError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("reading the features back from the device failed: {0}")]
    ReadBack(String),
    #[error("feature coding failed: {0}")]
    Pipeline(#[from] PipelineError),
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
