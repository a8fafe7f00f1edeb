//! The edge session: one model's encoder on one device, turning frames into feature
//! bitstreams with per-stage timings.

use serde::{Serialize, Serializer};
use splitfeat_core::codec::prior::ModelTables;
use splitfeat_core::codec::{CodecError, CodecId};
use splitfeat_core::model::WeightsError;
use splitfeat_core::pipeline::PipelineError;
use splitfeat_core::quant::{BitDepth, BitDepthError};
use splitfeat_core::runtime::{EdgeError, EdgeRuntime, InputError};
use splitfeat_core::zoo::{ModelEntry, ModelId, ZooError};

use crate::clock::now_ms;
use crate::device::{self, Acquired, Backend, Preference};
use crate::pixels::{self, PixelsError};

/// Why a session could not be created or a frame not encoded.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("model entry is not valid: {0}")]
    Entry(String),
    #[error("edge weights rejected: {0}")]
    Verify(#[from] ZooError),
    #[error("edge weights do not load: {0}")]
    Weights(#[from] WeightsError),
    /// The cloud session's heads file (`CloudSession`).
    #[error("heads weights rejected: {0}")]
    HeadsVerify(ZooError),
    #[error("heads weights do not load: {0}")]
    HeadsWeights(WeightsError),
    /// The model's `prior` tables: not the manifest's file, or not tables of this model.
    #[error("prior tables rejected: {0}")]
    Tables(ZooError),
    #[error("{0}")]
    Device(String),
    #[error("{0}")]
    Pixels(#[from] PixelsError),
    #[error("{0}")]
    Input(#[from] InputError),
    #[error("{0}")]
    BitDepth(#[from] BitDepthError),
    #[error("{0}")]
    Codec(#[from] CodecError),
    #[error("feature coding failed: {0}")]
    Pipeline(#[from] PipelineError),
    #[error("reading features back from the {backend} device failed: {message}")]
    ReadBack { backend: Backend, message: String },
}

impl SessionError {
    /// A stable name for the kind of failure, for callers that branch on it.
    pub fn code(&self) -> &'static str {
        match self {
            SessionError::Entry(_) => "bad-entry",
            SessionError::Verify(_) | SessionError::HeadsVerify(_) => "verify",
            SessionError::Weights(_) | SessionError::HeadsWeights(_) => "weights",
            SessionError::Tables(_) => "tables",
            SessionError::Device(_) => "device",
            SessionError::Pixels(_) | SessionError::Input(_) => "input",
            SessionError::BitDepth(_) => "bit-depth",
            SessionError::Codec(_) => "codec",
            SessionError::Pipeline(_) => "pipeline",
            SessionError::ReadBack { .. } => "read-back",
        }
    }
}

/// An encoder ready to run on one device.
#[derive(Debug)]
pub struct EdgeSession {
    runtime: EdgeRuntime,
    entry: ModelEntry,
    backend: Backend,
    fallback_reason: Option<String>,
    warmup_ms: f64,
}

/// Width and height in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Size {
    pub width: usize,
    pub height: usize,
}

/// The tiled feature image (one tile per channel), scaled to 8 bits for display.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TiledImage {
    pub width: u32,
    pub height: u32,
    /// Grayscale, row-major, `width * height` bytes (a `Uint8Array` in JavaScript).
    #[serde(serialize_with = "as_bytes")]
    pub pixels: Vec<u8>,
}

/// Stage timings of one frame, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Timings {
    /// Pixel conversion, resize, encoder forward pass and read-back of the features.
    pub edge_ms: f64,
    /// Quantize, tile, code and wrap into the bitstream.
    pub code_ms: f64,
    pub total_ms: f64,
}

/// Feature tensor shape, channels first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Shape {
    pub channels: u16,
    pub height: u16,
    pub width: u16,
}

/// One encoded frame.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EncodeResult {
    pub model_id: ModelId,
    pub backend: Backend,
    /// Canonical codec name (`png`, `jpeg90`, `ans`).
    pub codec: String,
    pub bits: BitDepth,
    /// The complete bitstream, as sent to the cloud (a `Uint8Array` in JavaScript).
    #[serde(serialize_with = "as_bytes")]
    pub bitstream: Vec<u8>,
    pub byte_count: usize,
    /// Feature elements `C * H * W`.
    pub elements: usize,
    /// `8 * byte_count / elements`: the whole stream, header included.
    pub bits_per_element: f64,
    pub feature_shape: Shape,
    /// Quantization range carried in the header.
    pub min: f32,
    pub max: f32,
    pub tiled: TiledImage,
    pub input: Size,
    pub model_input: Size,
    /// True when the input was resized to the model input.
    pub resized: bool,
    pub timings: Timings,
}

fn as_bytes<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_bytes(bytes)
}

impl EdgeSession {
    /// Verifies the edge weights against their manifest entry (size, sha256, model
    /// id), initialises the device `preference` asks for, loads the weights and runs
    /// one warm-up frame (on WebGPU the first run compiles the shaders).
    /// `tables`: the bytes of the model's `prior` file (manifest `prior`), checked
    /// against the entry; with them the session also codes with `prior`.
    pub async fn create(
        entry: ModelEntry,
        edge_weights: &[u8],
        tables: Option<&[u8]>,
        preference: Preference,
    ) -> Result<Self, SessionError> {
        check_entry(&entry)?;
        entry.verify_edge(edge_weights)?;
        verify_tables(&entry, tables)?;
        let acquired = device::acquire(preference)
            .await
            .map_err(SessionError::Device)?;
        Self::on_device(entry, edge_weights, tables, acquired).await
    }

    /// As [`EdgeSession::create`], on a device the caller already holds.
    pub async fn on_device(
        entry: ModelEntry,
        edge_weights: &[u8],
        tables: Option<&[u8]>,
        acquired: Acquired,
    ) -> Result<Self, SessionError> {
        check_entry(&entry)?;
        entry.verify_edge(edge_weights)?;
        let tables = verify_tables(&entry, tables)?;
        let mut runtime = EdgeRuntime::load(entry.config.clone(), edge_weights, &acquired.device)?;
        runtime.tables = tables;
        let mut session = Self {
            runtime,
            entry,
            backend: acquired.backend,
            fallback_reason: acquired.fallback_reason,
            warmup_ms: 0.0,
        };
        session.warmup_ms = session.warm_up().await?;
        Ok(session)
    }

    /// Replaces the model (another lambda) on the same device. The session is left
    /// unchanged when the new weights are rejected.
    pub async fn load_weights(
        &mut self,
        entry: ModelEntry,
        edge_weights: &[u8],
        tables: Option<&[u8]>,
    ) -> Result<(), SessionError> {
        check_entry(&entry)?;
        entry.verify_edge(edge_weights)?;
        let tables = verify_tables(&entry, tables)?;
        let mut runtime =
            EdgeRuntime::load(entry.config.clone(), edge_weights, &self.runtime.device)?;
        runtime.tables = tables;
        let previous = std::mem::replace(&mut self.runtime, runtime);
        match self.warm_up().await {
            Ok(ms) => {
                self.entry = entry;
                self.warmup_ms = ms;
                Ok(())
            }
            Err(e) => {
                self.runtime = previous;
                Err(e)
            }
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn entry(&self) -> &ModelEntry {
        &self.entry
    }

    pub fn model_id(&self) -> ModelId {
        self.runtime.model_id
    }

    /// Why WebGPU is not used, when `auto` fell back to the CPU device.
    pub fn fallback_reason(&self) -> Option<&str> {
        self.fallback_reason.as_deref()
    }

    /// Time of the warm-up frame (device upload, shader compilation, first run).
    pub fn warmup_ms(&self) -> f64 {
        self.warmup_ms
    }

    pub fn model_input(&self) -> Size {
        Size {
            width: self.runtime.config.input_width,
            height: self.runtime.config.input_height,
        }
    }

    pub fn feature_shape(&self) -> Shape {
        let s = self.runtime.feature_shape();
        Shape {
            channels: s.channels,
            height: s.height,
            width: s.width,
        }
    }

    async fn warm_up(&self) -> Result<f64, SessionError> {
        let Size { width, height } = self.model_input();
        let t0 = now_ms();
        let gray = vec![128u8; width * height * 3];
        self.features(&gray, width, height).await?;
        Ok(now_ms() - t0)
    }

    /// Encoder forward pass and read-back: `C * H * W` feature values.
    async fn features(
        &self,
        rgb: &[u8],
        width: usize,
        height: usize,
    ) -> Result<Vec<f32>, SessionError> {
        self.runtime
            .read_features(rgb, height, width)
            .await
            .map_err(|e| match e {
                EdgeError::Input(e) => e.into(),
                EdgeError::ReadBack(message) => SessionError::ReadBack {
                    backend: self.backend,
                    message,
                },
                EdgeError::Pipeline(e) => e.into(),
            })
    }

    /// Encodes one frame: `pixels` RGBA (a canvas's `ImageData`) or packed RGB of
    /// `width x height`, any size (resized to the model input). `codec` is `png`,
    /// `ans` or `jpeg<quality>`; `bits` defaults to the depth the model was trained at.
    pub async fn encode(
        &self,
        pixels: &[u8],
        width: usize,
        height: usize,
        codec: &str,
        bits: Option<BitDepth>,
    ) -> Result<EncodeResult, SessionError> {
        let codec: CodecId = codec.parse()?;
        let bits = bits.unwrap_or(self.entry.bits);
        // Before the encoder runs: JPEG carries 8-bit planes only.
        codec.check_bits(bits)?;

        let t0 = now_ms();
        let rgb = pixels::to_rgb(pixels, width, height)?;
        let values = self.features(&rgb, width, height).await?;
        let t1 = now_ms();
        let encoded = self.runtime.encode(&values, codec, bits)?;
        let t2 = now_ms();

        let model_input = self.model_input();
        let shape = encoded.header.shape;
        Ok(EncodeResult {
            model_id: self.model_id(),
            backend: self.backend,
            codec: codec.to_string(),
            bits,
            byte_count: encoded.bytes.len(),
            elements: shape.len(),
            bits_per_element: encoded.bits_per_element(),
            feature_shape: Shape {
                channels: shape.channels,
                height: shape.height,
                width: shape.width,
            },
            min: encoded.header.min,
            max: encoded.header.max,
            tiled: TiledImage {
                width: encoded.plane.width,
                height: encoded.plane.height,
                pixels: encoded.plane.to_u8_display(),
            },
            bitstream: encoded.bytes,
            input: Size { width, height },
            model_input,
            resized: (width, height) != (model_input.width, model_input.height),
            timings: Timings {
                edge_ms: t1 - t0,
                code_ms: t2 - t1,
                total_ms: now_ms() - t0,
            },
        })
    }
}

/// A bit depth given as a JavaScript number: a whole number in
/// [`BitDepth::MIN`]`..=`[`BitDepth::MAX`], checked here once, at the boundary.
pub fn bit_depth_from_js(value: f64) -> Result<BitDepth, SessionError> {
    let whole = value.fract() == 0.0 && (0.0..=f64::from(u8::MAX)).contains(&value);
    if !whole {
        return Err(BitDepthError::NotANumber(value.to_string()).into());
    }
    // In 0..=255 and whole, so the cast is exact.
    Ok(BitDepth::new(value as u8)?)
}

/// The model's prior tables from the bytes of its `prior` file, checked against the
/// entry (size, sha256, channels); `None` without bytes.
pub(crate) fn verify_tables(
    entry: &ModelEntry,
    bytes: Option<&[u8]>,
) -> Result<Option<ModelTables>, SessionError> {
    bytes
        .map(|b| entry.verify_tables(b).map_err(SessionError::Tables))
        .transpose()
}

fn check_entry(entry: &ModelEntry) -> Result<(), SessionError> {
    entry
        .config
        .validate()
        .map_err(|e| SessionError::Entry(format!("model {}: {e}", entry.id)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::prelude::*;
    use futures_lite::future::block_on;
    use splitfeat_core::model::Preset;
    use splitfeat_core::pipeline;
    use splitfeat_core::zoo::untrained::UntrainedModel;

    /// Two calls draw different weights (random init); `seed_bias` only names them.
    fn model(seed_bias: usize) -> (ModelEntry, Vec<u8>) {
        let config = Preset::Test.config();
        let name = format!("test-{seed_bias}");
        let m = UntrainedModel::new(&name, seed_bias as f32, &config, &Device::flex()).unwrap();
        (m.entry, m.edge)
    }

    fn image(w: usize, h: usize) -> Vec<u8> {
        (0..w * h * 4)
            .map(|i| {
                if i % 4 == 3 {
                    255
                } else {
                    ((i * 7) % 251) as u8
                }
            })
            .collect()
    }

    #[test]
    fn encodes_like_the_core_pipeline() {
        let (entry, edge) = model(0);
        let session = block_on(EdgeSession::create(
            entry.clone(),
            &edge,
            None,
            Preference::Cpu,
        ))
        .unwrap();
        assert_eq!(session.backend(), Backend::Cpu);
        assert_eq!(session.model_id(), entry.id);
        assert!(session.warmup_ms() >= 0.0);

        let (w, h) = (64, 32);
        let rgba = image(w, h);
        let out = block_on(session.encode(&rgba, w, h, "ans", None)).unwrap();
        assert!(!out.resized);
        assert_eq!(out.byte_count, out.bitstream.len());
        assert_eq!(out.bits, BitDepth::EIGHT);
        assert_eq!(out.codec, "ans");
        assert_eq!(
            out.tiled.pixels.len(),
            (out.tiled.width * out.tiled.height) as usize
        );

        // The same frame through core directly gives the same bytes.
        let device = Device::flex();
        let runtime = EdgeRuntime::load(entry.config.clone(), &edge, &device).unwrap();
        let rgb = pixels::to_rgb(&rgba, w, h).unwrap();
        let reference =
            block_on(runtime.encode_image(&rgb, h, w, CodecId::Ans, BitDepth::EIGHT)).unwrap();
        assert_eq!(out.bitstream, reference.bytes);
        let decoded = pipeline::decode_features(&out.bitstream, &Default::default()).unwrap();
        assert_eq!(decoded.values.len(), out.elements);

        // RGB input of another size is resized, and said to be.
        let rgb_big: Vec<u8> = (0..100 * 50 * 3).map(|i| (i % 256) as u8).collect();
        let big =
            block_on(session.encode(&rgb_big, 100, 50, "jpeg90", Some(BitDepth::EIGHT))).unwrap();
        assert!(big.resized);
        assert_eq!(big.codec, "jpeg90");
        assert_eq!(
            big.input,
            Size {
                width: 100,
                height: 50
            }
        );

        let json = serde_json::to_value(&out).unwrap();
        for key in [
            "bitstream",
            "byteCount",
            "bitsPerElement",
            "tiled",
            "timings",
            "modelInput",
        ] {
            assert!(json.get(key).is_some(), "{key} missing");
        }
        assert!(json["timings"].get("edgeMs").is_some());
    }

    #[test]
    fn rejects_bad_inputs_with_their_codes() {
        let (entry, edge) = model(0);
        let mut tampered = edge.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        let err = block_on(EdgeSession::create(
            entry.clone(),
            &tampered,
            None,
            Preference::Cpu,
        ))
        .unwrap_err();
        assert_eq!(err.code(), "verify");
        let err = block_on(EdgeSession::create(
            entry.clone(),
            &edge,
            None,
            Preference::WebGpu,
        ))
        .unwrap_err();
        assert_eq!(err.code(), "device");

        let session = block_on(EdgeSession::create(entry, &edge, None, Preference::Cpu)).unwrap();
        let rgba = image(64, 32);
        let cases = [
            (
                block_on(session.encode(&rgba[1..], 64, 32, "png", None)),
                "input",
            ),
            (block_on(session.encode(&[], 0, 0, "png", None)), "input"),
            (
                block_on(session.encode(&rgba, 64, 32, "webp", None)),
                "codec",
            ),
            (
                block_on(session.encode(&rgba, 64, 32, "jpeg90", Some(BitDepth::new(4).unwrap()))),
                "codec",
            ),
        ];
        for (result, code) in cases {
            assert_eq!(result.unwrap_err().code(), code);
        }
        let six =
            block_on(session.encode(&rgba, 64, 32, "png", Some(bit_depth_from_js(6.0).unwrap())));
        assert_eq!(six.unwrap().bits.get(), 6);
    }

    #[test]
    fn switching_weights_keeps_the_device_and_refuses_bad_files() {
        let (a, edge_a) = model(0);
        let (b, edge_b) = model(1);
        let mut session = block_on(EdgeSession::create(
            a.clone(),
            &edge_a,
            None,
            Preference::Cpu,
        ))
        .unwrap();
        let rgba = image(64, 32);
        let before = block_on(session.encode(&rgba, 64, 32, "png", None)).unwrap();
        assert!(block_on(session.load_weights(b.clone(), &edge_a, None)).is_err());
        assert_eq!(session.model_id(), a.id);
        block_on(session.load_weights(b.clone(), &edge_b, None)).unwrap();
        assert_eq!(session.model_id(), b.id);
        assert_eq!(session.entry().name, "test-1");
        let after = block_on(session.encode(&rgba, 64, 32, "png", None)).unwrap();
        assert_ne!(before.bitstream, after.bitstream);
        assert_eq!(after.model_id, b.id);
    }

    #[test]
    fn javascript_bit_depths_are_checked_at_the_boundary() {
        for bits in [2.0, 8.0, 16.0] {
            assert_eq!(bit_depth_from_js(bits).unwrap().get(), bits as u8);
        }
        for (bad, error) in [
            (0.0, BitDepthError::OutOfRange(0)),
            (1.0, BitDepthError::OutOfRange(1)),
            (17.0, BitDepthError::OutOfRange(17)),
            (255.0, BitDepthError::OutOfRange(255)),
            (256.0, BitDepthError::NotANumber("256".into())),
            (8.5, BitDepthError::NotANumber("8.5".into())),
            (-8.0, BitDepthError::NotANumber("-8".into())),
            (f64::NAN, BitDepthError::NotANumber("NaN".into())),
            (f64::INFINITY, BitDepthError::NotANumber("inf".into())),
        ] {
            let err = bit_depth_from_js(bad).unwrap_err();
            assert_eq!(err.code(), "bit-depth", "{bad}");
            assert!(
                matches!(&err, SessionError::BitDepth(e) if *e == error),
                "{bad}: {err}"
            );
        }
        assert_eq!(
            bit_depth_from_js(1.0).unwrap_err().to_string(),
            "bit depth 1 is outside 2..=16"
        );
    }
}
