//! The cloud half's contract, as `POST /v1/infer` defines it (docs/api.md): request
//! options, error codes, and the response body built from the heads' outputs.
//!
//! Two hosts run the cloud half and both answer through this module, so the same
//! stream gets the same JSON from either: the HTTP server (`splitfeat-cloud`) and the
//! browser's cloud worker (`splitfeat-web`'s `CloudSession`, used when the page is
//! served as static files). What differs between them stays with them: the server's
//! HTTP checks (content type, body size, queue, timeouts) and how each reads tensors
//! back (`into_data()` natively, `into_data_async().await` on WebGPU).
//!
//! Core has no clock (`std::time::Instant` panics on wasm32): the functions that time
//! a stage take the caller's `now_ms`.
//!
//! The heads' outputs are first finished into raw planes ([`RawOutputs`]: class ids,
//! disparity in pixels, reconstruction RGB), then sent in one of two formats: JSON
//! with base64 PNGs ([`RawOutputs::to_json`], the default) or the binary planes
//! format of [`planes`] (docs/api.md), which carries the planes as they are.

pub mod planes;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

use crate::bitstream::BitstreamError;
use crate::classes::NUM_CLASSES;
use crate::codec::CodecError;
use crate::pipeline::{Decoded, PipelineError, bits_per_element};
use crate::quant::BitDepth;
use crate::runtime::{CloudRuntime, Task, TaskOutput};
use crate::viz;
use crate::zoo::{ModelEntry, ModelId};

/// What a request asks for besides the stream: `tasks` and `max_disparity`.
#[derive(Debug, Clone, PartialEq)]
pub struct InferOptions {
    pub tasks: Vec<Task>,
    /// Top of the disparity colour scale in pixels; `None`: the frame's maximum.
    pub max_disparity: Option<f32>,
}

impl Default for InferOptions {
    fn default() -> Self {
        Self {
            tasks: Task::ALL.to_vec(),
            max_disparity: None,
        }
    }
}

impl InferOptions {
    /// Parses the `tasks` parameter (absent: all three; present but empty: an error)
    /// and checks `max_disparity` (a positive finite number when given).
    pub fn parse(tasks: Option<&str>, max_disparity: Option<f32>) -> Result<Self, InferError> {
        let tasks = match tasks {
            None => Task::ALL.to_vec(),
            Some(s) if s.split(',').all(|p| p.trim().is_empty()) => {
                return Err(InferError::NoTasks);
            }
            Some(s) => Task::parse_list(s).map_err(InferError::UnknownTask)?,
        };
        if let Some(d) = max_disparity
            && !(d.is_finite() && d > 0.0)
        {
            return Err(InferError::BadParam(format!(
                "max_disparity must be a positive number, got {d}"
            )));
        }
        Ok(Self {
            tasks,
            max_disparity,
        })
    }
}

/// Why a request was refused or failed, in the terms both hosts share. The HTTP
/// server adds its own transport errors (content type, size, queue, timeouts).
#[derive(Debug, thiserror::Error)]
pub enum InferError {
    #[error("{0}")]
    UnknownTask(String),
    #[error("`tasks` is empty; give one or more of seg, disp, recon (or leave it out for all)")]
    NoTasks,
    #[error("{0}")]
    BadParam(String),
    #[error("no model {0:?} is loaded (see GET /v1/models)")]
    UnknownModel(String),
    #[error("request body is empty; send the bitstream as the body")]
    EmptyBody,
    /// The bitstream was refused by the core decoder.
    #[error("{0}")]
    Bitstream(#[from] PipelineError),
    #[error("internal error: {0}")]
    Internal(String),
}

/// The JSON body of every error: `{"error": CODE, "message": TEXT}`. The codes are
/// part of the API (docs/api.md); the messages are for people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    pub message: String,
}

impl InferError {
    /// HTTP status and machine code.
    pub fn status_and_code(&self) -> (u16, &'static str) {
        match self {
            InferError::UnknownTask(_) => (400, "unknown_task"),
            InferError::NoTasks => (400, "no_tasks"),
            InferError::BadParam(_) => (400, "bad_param"),
            InferError::UnknownModel(_) => (404, "unknown_model"),
            InferError::EmptyBody => (400, "empty_body"),
            InferError::Bitstream(e) => pipeline_status_and_code(e),
            InferError::Internal(_) => (500, "internal"),
        }
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.status_and_code().1.to_string(),
            message: self.to_string(),
        }
    }
}

/// A refused bitstream is always the client's fault (4xx): the decoder is bounded and
/// typed, so nothing it reports is a server failure. A well-formed stream made for
/// another model, or claiming another shape than the model produces, conflicts with
/// the model named in the request (409); anything damaged or malformed is a 400.
pub fn pipeline_status_and_code(e: &PipelineError) -> (u16, &'static str) {
    match e {
        PipelineError::ModelMismatch { .. } => (409, "model_mismatch"),
        PipelineError::ShapeMismatch { .. } => (409, "shape_mismatch"),
        // A sound `prior` stream for a model without tables (for its depth): sent to a
        // model that ships them, it would decode.
        PipelineError::Codec(CodecError::NeedsTables | CodecError::NoTablesForDepth(_)) => {
            (409, "no_tables")
        }
        PipelineError::Bitstream(b) => match b {
            BitstreamError::TooShort { .. } | BitstreamError::Truncated { .. } => {
                (400, "truncated")
            }
            BitstreamError::BadMagic(_) => (400, "bad_magic"),
            BitstreamError::UnsupportedVersion(_) => (400, "unsupported_version"),
            BitstreamError::BadCrc { .. } => (400, "bad_crc"),
            BitstreamError::TrailingBytes { .. } => (400, "trailing_bytes"),
            BitstreamError::PayloadTooLarge { .. }
            | BitstreamError::Codec(_)
            | BitstreamError::BadBitDepth(_)
            | BitstreamError::ShapeOutOfLimits { .. }
            | BitstreamError::NonFiniteRange { .. } => (400, "bad_header"),
        },
        // The header was sound and the CRC matched, yet the payload does not decode:
        // a stream forged or produced by a faulty encoder.
        PipelineError::Codec(_) | PipelineError::Tiling(_) | PipelineError::Quant(_) => {
            (400, "corrupt_payload")
        }
    }
}

/// The `200` body of `POST /v1/infer`: in JSON with `O` = [`Outputs`] (base64 PNGs),
/// and, with `O` = [`PlaneOutputs`], the metadata at the head of a planes response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InferResponse<O = Outputs> {
    pub model: ModelId,
    pub model_name: String,
    pub tasks: Vec<Task>,
    pub bytes_received: usize,
    /// Size of every output image (the model's input size).
    pub width: usize,
    pub height: usize,
    /// 8 x stream bytes / feature elements: the whole stream, header included.
    pub bits_per_element: f64,
    pub codec: String,
    pub bits: BitDepth,
    pub timings_ms: Timings,
    pub outputs: O,
}

impl<O> InferResponse<O> {
    /// The response for a stream of `bytes_received` bytes decoded into `decoded`.
    pub fn new(
        entry: &ModelEntry,
        rt: &CloudRuntime,
        tasks: Vec<Task>,
        bytes_received: usize,
        decoded: &Decoded,
        timings: Timings,
        outputs: O,
    ) -> Self {
        let (width, height) = rt.output_size();
        let header = &decoded.header;
        Self {
            model: entry.id,
            model_name: entry.name.clone(),
            tasks,
            bytes_received,
            width,
            height,
            bits_per_element: bits_per_element(bytes_received, header.shape),
            codec: header.codec.to_string(),
            bits: header.bits,
            timings_ms: timings,
            outputs,
        }
    }

    /// The same response with other outputs (e.g. the planes' metadata for the PNGs).
    pub fn with_outputs<P>(self, outputs: P) -> InferResponse<P> {
        InferResponse {
            model: self.model,
            model_name: self.model_name,
            tasks: self.tasks,
            bytes_received: self.bytes_received,
            width: self.width,
            height: self.height,
            bits_per_element: self.bits_per_element,
            codec: self.codec,
            bits: self.bits,
            timings_ms: self.timings_ms,
            outputs,
        }
    }
}

/// Stage times in milliseconds (docs/api.md says what each covers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Timings {
    /// Waiting for an inference slot.
    pub queue: f64,
    /// Bitstream parse, CRC, codec, untiling and dequantization.
    pub decode: f64,
    /// Each head's forward pass, including reading its output back.
    pub heads: HeadTimings,
    /// Argmax (seg), scaling (disp) and conversion to pixels (recon), summed over
    /// the tasks.
    pub postprocess: f64,
    /// Colouring, PNG encoding and base64, summed over the tasks; 0 in the planes
    /// format, which sends the planes as they are.
    pub encode_png: f64,
    /// From the start of the request (body read included) to the response being built.
    pub total: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct HeadTimings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seg: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disp: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recon: Option<f64>,
}

impl HeadTimings {
    pub fn set(&mut self, task: Task, ms: f64) {
        match task {
            Task::Seg => self.seg = Some(ms),
            Task::Disp => self.disp = Some(ms),
            Task::Recon => self.recon = Some(ms),
        }
    }

    pub fn sum(&self) -> f64 {
        [self.seg, self.disp, self.recon]
            .into_iter()
            .flatten()
            .sum()
    }
}

/// The outputs of the requested tasks, each a base64 PNG at the model's input size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Outputs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seg: Option<SegOutput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disp: Option<DispOutput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recon: Option<ReconOutput>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegOutput {
    /// Base64 PNG, RGB in the class colours of `GET /v1/models`.
    pub png: String,
    /// Pixels per class, indexed by trainId.
    pub class_pixels: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DispOutput {
    /// Base64 PNG, turbo colour map from 0 (dark blue) to `max_disparity` (dark red).
    pub png: String,
    /// Disparity in pixels (at the output width) at the top of the colour scale.
    pub max_disparity: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReconOutput {
    /// Base64 PNG, RGB.
    pub png: String,
}

/// The metadata of each output in a planes response ([`planes`]): what the JSON
/// response has beside the PNGs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct PlaneOutputs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seg: Option<SegMeta>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disp: Option<DispMeta>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recon: Option<ReconMeta>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegMeta {
    /// Pixels per class, indexed by trainId.
    pub class_pixels: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DispMeta {
    /// Disparity in pixels (at the output width) at the top of the colour scale.
    pub max_disparity: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ReconMeta {}

/// Segmentation as raw values: one trainId per pixel, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct SegPlane {
    pub labels: Vec<u8>,
    pub class_pixels: Vec<u32>,
}

/// Disparity in pixels at the output width (0 or more; 0: no positive disparity),
/// row-major, and the top of its colour scale.
#[derive(Debug, Clone, PartialEq)]
pub struct DispPlane {
    pub values: Vec<f32>,
    pub max_disparity: f32,
}

/// The requested tasks' outputs as raw planes at `width` x `height`: what both
/// response formats are made from, and what a planes response decodes to.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RawOutputs {
    pub width: usize,
    pub height: usize,
    pub seg: Option<SegPlane>,
    pub disp: Option<DispPlane>,
    /// Packed RGB, row-major.
    pub recon: Option<Vec<u8>>,
}

/// One task's finished output.
#[derive(Debug, Clone, PartialEq)]
pub enum RawTask {
    Seg(SegPlane),
    Disp(DispPlane),
    Recon(Vec<u8>),
}

/// A task's raw output with the time its post-processing took.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    pub output: RawTask,
    pub postprocess_ms: f64,
}

/// One head's read-back values (`[1, channels, H, W]`) to its raw plane: argmax and
/// class counts (seg), scaling and the colour scale's top (disp: `max_disparity` if
/// given, else [`viz::display_top`]), pixel conversion (recon). Independent per task,
/// so callers may finish tasks in parallel.
pub fn finish(
    rt: &CloudRuntime,
    task: Task,
    values: &[f32],
    max_disparity: Option<f32>,
    now_ms: impl Fn() -> f64,
) -> Finished {
    let t = now_ms();
    let output = match rt.postprocess(task, values) {
        TaskOutput::Seg(labels) => RawTask::Seg(SegPlane {
            class_pixels: class_histogram(&labels),
            labels,
        }),
        TaskOutput::Disp(values) => RawTask::Disp(DispPlane {
            max_disparity: max_disparity.unwrap_or_else(|| viz::display_top(&values)),
            values,
        }),
        TaskOutput::Recon(rgb) => RawTask::Recon(rgb),
    };
    Finished {
        output,
        postprocess_ms: round_ms(now_ms() - t),
    }
}

/// Collects finished tasks into the outputs of a `width` x `height` model, adding
/// their times to `timings.postprocess`.
pub fn gather(
    finished: impl IntoIterator<Item = Finished>,
    width: usize,
    height: usize,
    timings: &mut Timings,
) -> RawOutputs {
    let mut outputs = RawOutputs {
        width,
        height,
        ..RawOutputs::default()
    };
    for f in finished {
        timings.postprocess = round_ms(timings.postprocess + f.postprocess_ms);
        match f.output {
            RawTask::Seg(o) => outputs.seg = Some(o),
            RawTask::Disp(o) => outputs.disp = Some(o),
            RawTask::Recon(o) => outputs.recon = Some(o),
        }
    }
    outputs
}

impl RawOutputs {
    /// The tasks present, in the order seg, disp, recon.
    pub fn tasks(&self) -> Vec<Task> {
        let present = [
            self.seg.is_some(),
            self.disp.is_some(),
            self.recon.is_some(),
        ];
        Task::ALL
            .into_iter()
            .zip(present)
            .filter_map(|(t, p)| p.then_some(t))
            .collect()
    }

    /// The display pixels (packed RGB) of `task`, the one colouring both formats are
    /// drawn with: class colours ([`viz::labels_to_rgb`]), turbo from 0 to
    /// `max_disparity` with no positive disparity black ([`viz::disparity_to_rgb`]),
    /// the reconstruction as it is. `None` for a task not present.
    pub fn rgb(&self, task: Task) -> Option<Vec<u8>> {
        match task {
            Task::Seg => self.seg.as_ref().map(|s| viz::labels_to_rgb(&s.labels)),
            Task::Disp => self
                .disp
                .as_ref()
                .map(|d| viz::disparity_to_rgb(&d.values, d.max_disparity)),
            Task::Recon => self.recon.clone(),
        }
    }

    /// The metadata a planes response carries for these outputs.
    pub fn meta(&self) -> PlaneOutputs {
        PlaneOutputs {
            seg: self.seg.as_ref().map(|s| SegMeta {
                class_pixels: s.class_pixels.clone(),
            }),
            disp: self.disp.as_ref().map(|d| DispMeta {
                max_disparity: d.max_disparity,
            }),
            recon: self.recon.as_ref().map(|_| ReconMeta {}),
        }
    }

    /// The JSON response's outputs: each task coloured ([`RawOutputs::rgb`]), PNG
    /// encoded (fast compression, [`viz::encode_rgb_fast`]) and base64'd, adding the
    /// time to `timings.encode_png` (summed over the tasks). Natively the tasks are
    /// encoded in parallel on rayon's pool.
    pub fn to_json(
        &self,
        timings: &mut Timings,
        now_ms: impl Fn() -> f64 + Sync,
    ) -> Result<Outputs, InferError> {
        let encode = |task: Task| -> Result<(Task, String, f64), InferError> {
            let t = now_ms();
            let rgb = self.rgb(task).unwrap_or_default();
            let png = viz::encode_rgb_fast(self.width as u32, self.height as u32, &rgb)
                .map_err(|e| InferError::Internal(format!("{} output: {e}", task.name())))?;
            Ok((task, BASE64.encode(png), round_ms(now_ms() - t)))
        };
        let tasks = self.tasks();
        #[cfg(not(target_family = "wasm"))]
        let encoded: Vec<_> = {
            use rayon::prelude::*;
            tasks.into_par_iter().map(encode).collect()
        };
        #[cfg(target_family = "wasm")]
        let encoded: Vec<_> = tasks.into_iter().map(encode).collect();
        let mut outputs = Outputs::default();
        for e in encoded {
            let (task, png, ms) = e?;
            timings.encode_png = round_ms(timings.encode_png + ms);
            match task {
                Task::Seg => {
                    let class_pixels = self.seg.as_ref().map(|s| s.class_pixels.clone());
                    outputs.seg = Some(SegOutput {
                        png,
                        class_pixels: class_pixels.unwrap_or_default(),
                    });
                }
                Task::Disp => {
                    let top = self.disp.as_ref().map_or(0.0, |d| d.max_disparity);
                    outputs.disp = Some(DispOutput {
                        png,
                        max_disparity: top,
                    });
                }
                Task::Recon => outputs.recon = Some(ReconOutput { png }),
            }
        }
        Ok(outputs)
    }
}

/// Pixels per class, indexed by trainId; labels outside the classes are not counted.
pub fn class_histogram(labels: &[u8]) -> Vec<u32> {
    let mut counts = vec![0u32; NUM_CLASSES];
    for &l in labels {
        if let Some(c) = counts.get_mut(l as usize) {
            *c += 1;
        }
    }
    counts
}

/// Milliseconds to the microsecond (finer is noise at this scale).
pub fn round_ms(ms: f64) -> f64 {
    (ms * 1e3).round() / 1e3
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Preset;
    use crate::pipeline::FeatureShape;
    use crate::zoo::untrained::UntrainedModel;
    use burn::prelude::*;

    #[test]
    fn options_parse_like_the_query_parameters() {
        assert_eq!(
            InferOptions::parse(None, None).unwrap(),
            InferOptions::default()
        );
        assert_eq!(
            InferOptions::parse(Some("recon,seg"), Some(4.0))
                .unwrap()
                .tasks,
            vec![Task::Recon, Task::Seg]
        );
        assert!(matches!(
            InferOptions::parse(Some(""), None),
            Err(InferError::NoTasks)
        ));
        assert!(matches!(
            InferOptions::parse(Some(" , "), None),
            Err(InferError::NoTasks)
        ));
        assert!(
            matches!(InferOptions::parse(Some("seg,depth"), None), Err(InferError::UnknownTask(m)) if m.contains("depth"))
        );
        for bad in [0.0, -1.0, f32::NAN, f32::INFINITY] {
            assert!(matches!(
                InferOptions::parse(None, Some(bad)),
                Err(InferError::BadParam(_))
            ));
        }
    }

    #[test]
    fn error_codes_are_stable() {
        let shape = FeatureShape::new(1, 1, 1);
        let cases: [(InferError, u16, &str); 11] = [
            (InferError::NoTasks, 400, "no_tasks"),
            (InferError::UnknownModel("x".into()), 404, "unknown_model"),
            (InferError::EmptyBody, 400, "empty_body"),
            (
                PipelineError::Bitstream(BitstreamError::BadCrc {
                    stored: 1,
                    computed: 2,
                })
                .into(),
                400,
                "bad_crc",
            ),
            (
                PipelineError::Bitstream(BitstreamError::TooShort { len: 3 }).into(),
                400,
                "truncated",
            ),
            (
                PipelineError::ModelMismatch {
                    expected: ModelId::from_bytes([0xa; 8]),
                    found: ModelId::from_bytes([0xb; 8]),
                }
                .into(),
                409,
                "model_mismatch",
            ),
            (
                PipelineError::ShapeMismatch {
                    expected: shape,
                    found: shape,
                }
                .into(),
                409,
                "shape_mismatch",
            ),
            (
                PipelineError::Codec(CodecError::Corrupt("x")).into(),
                400,
                "corrupt_payload",
            ),
            (
                PipelineError::Codec(CodecError::NeedsTables).into(),
                409,
                "no_tables",
            ),
            (
                PipelineError::Codec(CodecError::NoTablesForDepth(BitDepth::EIGHT)).into(),
                409,
                "no_tables",
            ),
            (InferError::Internal("x".into()), 500, "internal"),
        ];
        for (err, status, code) in cases {
            assert_eq!(err.status_and_code(), (status, code), "{err}");
            assert_eq!(err.body().error, code);
            assert_eq!(err.body().message, err.to_string());
        }
    }

    #[test]
    fn histogram_ignores_out_of_range_labels() {
        let h = class_histogram(&[0, 0, 18, 255]);
        assert_eq!((h[0], h[18], h.iter().sum::<u32>()), (2, 1, 3));
    }

    fn test_model() -> (ModelEntry, Vec<u8>, Device) {
        let device = Device::flex();
        let model = UntrainedModel::new("t", 0.0, &Preset::Test.config(), &device).unwrap();
        // Through JSON without the optional fields, as hosts may get it.
        let mut json = serde_json::to_value(&model.entry).unwrap();
        for optional in ["train_steps", "eval", "check"] {
            json.as_object_mut().unwrap().remove(optional);
        }
        let entry: ModelEntry = serde_json::from_value(json).unwrap();
        (entry, model.heads, device)
    }

    #[test]
    fn a_synthetic_stream_goes_through_to_a_response() {
        let (entry, heads, device) = test_model();
        let mut tampered = heads.clone();
        tampered[0] ^= 1;
        assert!(matches!(
            CloudRuntime::from_entry(&entry, &tampered, &device),
            Err(crate::runtime::LoadError::Verify(_))
        ));
        let rt = CloudRuntime::from_entry(&entry, &heads, &device).unwrap();

        let stream = rt.synthetic_stream();
        assert!(matches!(rt.decode_request(&[]), Err(InferError::EmptyBody)));
        let mut corrupt = stream.clone();
        let last = corrupt.len() - 1;
        corrupt[last] ^= 0xff;
        assert_eq!(
            rt.decode_request(&corrupt).unwrap_err().status_and_code().1,
            "bad_crc"
        );

        let decoded = rt.decode_request(&stream).unwrap();
        let options = InferOptions::parse(Some("disp,seg"), None).unwrap();
        // A clock that ticks 1 ms per reading: each head is timed by two readings (at
        // least 1 ms apart; more when the tasks run at once and the other's readings
        // fall between).
        let ticks = std::sync::atomic::AtomicU32::new(0);
        let clock = || f64::from(ticks.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let (raw, mut timings) =
            futures_lite::future::block_on(rt.compute(&decoded, &options, &clock)).unwrap();
        assert!(timings.heads.seg.is_some_and(|ms| ms >= 1.0));
        assert!(timings.heads.disp.is_some_and(|ms| ms >= 1.0));
        assert_eq!(timings.heads.recon, None);
        assert!(timings.postprocess >= 2.0 && timings.encode_png == 0.0);
        assert_eq!(raw.tasks(), vec![Task::Seg, Task::Disp]);
        let planes_meta = raw.meta();
        let outputs = raw.to_json(&mut timings, clock).unwrap();
        assert!(timings.encode_png >= 2.0);
        // The PNGs hold exactly the planes' display pixels.
        let png = |b64: &str| {
            viz::decode_png_rgb(&BASE64.decode(b64).unwrap())
                .unwrap()
                .rgb
        };
        assert_eq!(
            png(&outputs.seg.as_ref().unwrap().png),
            raw.rgb(Task::Seg).unwrap()
        );
        assert_eq!(
            png(&outputs.disp.as_ref().unwrap().png),
            raw.rgb(Task::Disp).unwrap()
        );
        assert_eq!(
            outputs.disp.as_ref().unwrap().max_disparity,
            raw.disp.as_ref().unwrap().max_disparity
        );
        assert_eq!(
            outputs.seg.as_ref().unwrap().class_pixels,
            planes_meta.seg.as_ref().unwrap().class_pixels
        );
        let response = InferResponse::new(
            &entry,
            &rt,
            options.tasks.clone(),
            stream.len(),
            &decoded,
            timings,
            outputs,
        );
        let (w, h) = rt.output_size();
        assert_eq!(
            response
                .outputs
                .seg
                .as_ref()
                .unwrap()
                .class_pixels
                .iter()
                .sum::<u32>() as usize,
            w * h
        );
        assert!(response.outputs.recon.is_none());
        assert_eq!(
            response.bits_per_element,
            bits_per_element(stream.len(), decoded.header.shape)
        );

        let json = serde_json::to_value(&response).unwrap();
        assert_eq!(json["tasks"], serde_json::json!(["disp", "seg"]));
        assert_eq!(json["codec"], "png");
        assert!(json["outputs"].get("recon").is_none());
        assert!(json["timings_ms"]["heads"].get("recon").is_none());
        let back: InferResponse = serde_json::from_value(json).unwrap();
        assert_eq!(back, response);
    }
}
