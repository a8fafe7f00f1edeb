//! The cloud session: one model's task heads on one device, answering bitstreams the
//! way `POST /v1/infer` does. The page runs it in a Web Worker when no cloud server
//! is at hand (the demo served as static files).
//!
//! The request path is core's [`CloudRuntime`] (decode, heads, read-back,
//! post-processing) and `splitfeat_core::api` (checks, errors, the response), the
//! code the HTTP server (`splitfeat-cloud`) runs, so a stream gets the same answer
//! from either. The session answers with raw planes (`api::planes`), as the server
//! does when asked for them: no PNG, no base64. What is this host's own: the device (WebGPU or the `flex` CPU device
//! in the worker) and the clock.

use splitfeat_core::api::PlaneOutputs;
use splitfeat_core::api::planes::{self, PlanesError, PlanesResponse};
use splitfeat_core::runtime::Task;

use crate::pixels::rgb_to_rgba;
use splitfeat_core::api::{self, InferError, InferOptions, InferResponse, Timings};
use splitfeat_core::runtime::{CloudRuntime, LoadError};
use splitfeat_core::zoo::ModelEntry;

use crate::clock::now_ms;
use crate::device::{self, Acquired, Backend, Preference};
use crate::session::{SessionError, verify_tables};

/// A model's heads, ready on one device.
#[derive(Debug)]
pub struct CloudSession {
    runtime: CloudRuntime,
    entry: ModelEntry,
    backend: Backend,
    fallback_reason: Option<String>,
    warmup_ms: f64,
}

impl From<LoadError> for SessionError {
    fn from(e: LoadError) -> Self {
        match e {
            LoadError::Verify(e) => SessionError::HeadsVerify(e),
            LoadError::Weights(e) => SessionError::HeadsWeights(e),
        }
    }
}

impl CloudSession {
    /// Verifies `heads_weights` against the manifest entry (size, sha256), initialises
    /// the device `preference` asks for, loads the heads and runs one synthetic
    /// stream through the whole request path (on WebGPU this compiles the shaders).
    /// `tables`: the bytes of the model's `prior` file, for decoding `prior` streams.
    pub async fn create(
        entry: ModelEntry,
        heads_weights: &[u8],
        tables: Option<&[u8]>,
        preference: Preference,
    ) -> Result<Self, SessionError> {
        // Checked before the device is set up: a bad file fails fast.
        entry
            .heads
            .verify(heads_weights)
            .map_err(SessionError::HeadsVerify)?;
        let tables = verify_tables(&entry, tables)?;
        let acquired = device::acquire(preference)
            .await
            .map_err(SessionError::Device)?;
        let mut runtime = CloudRuntime::from_entry(&entry, heads_weights, &acquired.device)?;
        runtime.tables = tables;
        Self::ready(entry, runtime, acquired).await
    }

    async fn ready(
        entry: ModelEntry,
        runtime: CloudRuntime,
        acquired: Acquired,
    ) -> Result<Self, SessionError> {
        let mut session = Self {
            runtime,
            entry,
            backend: acquired.backend,
            fallback_reason: acquired.fallback_reason,
            warmup_ms: 0.0,
        };
        let t0 = now_ms();
        let stream = session.runtime.synthetic_stream();
        session
            .infer(&stream, &InferOptions::default())
            .await
            .map_err(|e| SessionError::Device(format!("the heads failed their self-test: {e}")))?;
        session.warmup_ms = now_ms() - t0;
        Ok(session)
    }

    pub fn entry(&self) -> &ModelEntry {
        &self.entry
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Why `auto` fell back to the CPU device, if it did.
    pub fn fallback_reason(&self) -> Option<&str> {
        self.fallback_reason.as_deref()
    }

    /// Time of the self-test stream (device upload, shader compilation, first run).
    pub fn warmup_ms(&self) -> f64 {
        self.warmup_ms
    }

    /// `tasks` (comma-separated, absent: all three) and `max_disparity` as the query
    /// parameters of `POST /v1/infer`, checked the same way.
    pub fn options(
        tasks: Option<&str>,
        max_disparity: Option<f32>,
    ) -> Result<InferOptions, InferError> {
        InferOptions::parse(tasks, max_disparity)
    }

    /// Answers one bitstream like `POST /v1/infer?format=planes`, by the server's
    /// path: decode (refusing a stream this model cannot take with the server's error
    /// code), then [`CloudRuntime::compute`]; the metadata and the raw planes
    /// (`api::planes::encode` makes the bytes).
    pub async fn infer(
        &self,
        bitstream: &[u8],
        options: &InferOptions,
    ) -> Result<PlanesResponse, InferError> {
        let started = now_ms();
        let rt = &self.runtime;
        let decoded = rt.decode_request(bitstream)?;
        let decoded_ms = now_ms();

        let (outputs, heads_timings) = rt.compute(&decoded, options, now_ms).await?;
        let mut timings = Timings {
            decode: api::round_ms(decoded_ms - started),
            ..heads_timings
        };
        timings.total = api::round_ms(now_ms() - started);
        let meta = InferResponse::new(
            &self.entry,
            rt,
            options.tasks.clone(),
            bitstream.len(),
            &decoded,
            timings,
            outputs.meta(),
        );
        Ok(PlanesResponse { meta, outputs })
    }
}

/// A planes response (from the server or this session) as the page draws it: the
/// metadata, and each output's display pixels as opaque RGBA (`ImageData`'s layout),
/// coloured by core's one colouring ([`RawOutputs::rgb`]: class colours, turbo with
/// no positive disparity black).
///
/// [`RawOutputs::rgb`]: splitfeat_core::api::RawOutputs::rgb
#[derive(Debug, Clone, PartialEq)]
pub struct Painted {
    pub meta: InferResponse<PlaneOutputs>,
    pub seg: Option<Vec<u8>>,
    pub disp: Option<Vec<u8>>,
    pub recon: Option<Vec<u8>>,
}

/// Decodes a planes response and colours its planes ([`Painted`]).
pub fn paint(bytes: &[u8]) -> Result<Painted, PlanesError> {
    let PlanesResponse { meta, outputs } = planes::decode(bytes)?;
    let rgba = |task| outputs.rgb(task).map(|rgb| rgb_to_rgba(&rgb));
    Ok(Painted {
        seg: rgba(Task::Seg),
        disp: rgba(Task::Disp),
        recon: rgba(Task::Recon),
        meta,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::prelude::*;
    use futures_lite::future::block_on;
    use splitfeat_core::codec::CodecId;
    use splitfeat_core::model::Preset;
    use splitfeat_core::quant::BitDepth;
    use splitfeat_core::runtime::EdgeRuntime;
    use splitfeat_core::zoo::untrained::UntrainedModel;

    fn model() -> (ModelEntry, Vec<u8>, Vec<u8>) {
        let m = UntrainedModel::new("test", 0.0, &Preset::Test.config(), &Device::flex()).unwrap();
        (m.entry, m.edge, m.heads)
    }

    #[test]
    fn answers_an_edge_stream_and_refuses_bad_ones_with_the_api_codes() {
        let (entry, edge, heads) = model();
        let mut tampered = heads.clone();
        tampered[10] ^= 1;
        let err = block_on(CloudSession::create(
            entry.clone(),
            &tampered,
            None,
            Preference::Cpu,
        ))
        .unwrap_err();
        assert_eq!(err.code(), "verify");
        assert!(
            err.to_string()
                .starts_with("heads weights rejected: models/test/heads.bpk"),
            "{err}"
        );

        let session = block_on(CloudSession::create(
            entry.clone(),
            &heads,
            None,
            Preference::Auto,
        ))
        .unwrap();
        assert_eq!(session.backend(), Backend::Cpu);
        assert!(session.fallback_reason().is_some());
        assert!(session.warmup_ms() >= 0.0);

        let device = Device::flex();
        let edge_rt = EdgeRuntime::load(entry.config.clone(), &edge, &device).unwrap();
        let (h, w) = (entry.config.input_height, entry.config.input_width);
        let rgb: Vec<u8> = (0..h * w * 3).map(|i| (i * 7 % 251) as u8).collect();
        let stream = block_on(edge_rt.encode_image(&rgb, h, w, CodecId::Ans, BitDepth::EIGHT))
            .unwrap()
            .bytes;

        let options = CloudSession::options(Some("seg,recon"), None).unwrap();
        let answer = block_on(session.infer(&stream, &options)).unwrap();
        // Through the planes format and back, as the page gets it.
        let bytes = planes::encode(&answer.meta, &answer.outputs).unwrap();
        assert_eq!(planes::decode(&bytes).unwrap(), answer);
        let painted = paint(&bytes).unwrap();
        assert_eq!(painted.meta, answer.meta);
        assert!(painted.disp.is_none());
        let recon = answer.outputs.recon.as_ref().unwrap();
        let rgba = painted.recon.as_ref().unwrap();
        assert_eq!(rgba.len(), w * h * 4);
        assert_eq!((&rgba[..3], rgba[3]), (&recon[..3], 255));
        let seg = painted.seg.as_ref().unwrap();
        let first =
            splitfeat_core::classes::label_color(answer.outputs.seg.as_ref().unwrap().labels[0]);
        assert_eq!(&seg[..3], &first[..]);
        assert!(matches!(
            paint(&bytes[..bytes.len() - 1]),
            Err(PlanesError::Truncated { .. })
        ));
        let (r, raw) = (answer.meta, answer.outputs);
        assert_eq!(raw.tasks(), vec![Task::Seg, Task::Recon]);
        assert_eq!(raw.seg.as_ref().unwrap().labels.len(), w * h);
        assert_eq!(raw.recon.as_ref().unwrap().len(), w * h * 3);
        assert_eq!(r.tasks, vec![Task::Seg, Task::Recon]);
        assert_eq!((r.model, r.bytes_received), (entry.id, stream.len()));
        assert_eq!(
            (r.width, r.height, r.codec.as_str(), r.bits),
            (w, h, "ans", BitDepth::EIGHT)
        );
        assert!(r.outputs.seg.is_some() && r.outputs.recon.is_some() && r.outputs.disp.is_none());
        assert!(r.timings_ms.heads.seg.is_some() && r.timings_ms.heads.disp.is_none());

        let code = |bytes: &[u8]| {
            block_on(session.infer(bytes, &InferOptions::default()))
                .unwrap_err()
                .body()
                .error
        };
        let mut crc = stream.clone();
        let last = crc.len() - 1;
        crc[last] ^= 0x55;
        assert_eq!(code(&crc), "bad_crc");
        assert_eq!(code(&stream[..10]), "truncated");
        assert_eq!(code(&[b'x'; 200]), "bad_magic");
        assert_eq!(code(&[]), "empty_body");
        assert!(matches!(
            CloudSession::options(Some("depth"), None),
            Err(InferError::UnknownTask(_))
        ));
    }
}
