//! The JavaScript boundary: every `#[wasm_bindgen]` item of the crate.
//!
//! ```js
//! import init, { EdgeSession } from "./pkg/splitfeat_web.js";
//! await init();
//! const session = await EdgeSession.create(manifestEntry, edgeBytes, "auto", priorBytes);
//! // priorBytes: the model's `prior` file (manifest `prior`), or undefined; with it the
//! // session also codes with "prior".
//! const r = await session.encode(imageData.data, width, height, "ans", 8);
//! // r.bitstream: Uint8Array, r.byteCount, r.bitsPerElement, r.tiled.{width,height,pixels},
//! // r.timings.{edgeMs,codeMs,totalMs}, r.resized, ...
//! ```
//!
//! The cloud half, for pages without a cloud server (run in its own worker):
//!
//! ```js
//! const cloud = await CloudSession.create(manifestEntry, headsBytes, "cpu", priorBytes);
//! const { status, body } = await cloud.infer(bitstream, "seg,disp,recon", undefined);
//! // status 200: body is a Uint8Array, POST /v1/infer's answer in the planes format
//! // (docs/api.md); else body is {error, message}
//! ```
//!
//! Drawing a planes response (the worker's, or the server's with
//! `Accept: application/vnd.splitfeat.planes`):
//!
//! ```js
//! const { response, seg, disp, recon } = paintPlanes(bytes);
//! // response: the metadata (POST /v1/infer's JSON without the PNGs);
//! // seg, disp, recon: Uint8ClampedArray RGBA for new ImageData(_, width, height), or undefined
//! ```
//!
//! Errors are `Error` objects whose `code` property names the kind of failure
//! (`bad-entry`, `verify`, `weights`, `device`, `input`, `bit-depth`, `codec`,
//! `pipeline`, `read-back`; see [`SessionError::code`]). `CloudSession.infer` does not throw for
//! a bad request: it answers like the server, with a status and an error body.
//! `paintPlanes` throws with code `planes` for bytes that are not a planes response.

use serde::Serialize;
use splitfeat_core::zoo::ModelEntry;
use wasm_bindgen::prelude::*;

use splitfeat_core::api::InferError;
use splitfeat_core::api::planes;

use crate::cloud;
use crate::device::Preference;
use crate::session::{self, SessionError};

#[wasm_bindgen(start)]
fn start() {
    console_error_panic_hook::set_once();
}

fn js_error(code: &str, message: impl std::fmt::Display) -> JsValue {
    let error = js_sys::Error::new(&message.to_string());
    // Setting a property on a fresh Error object cannot fail.
    let _ = js_sys::Reflect::set(&error, &"code".into(), &code.into());
    error.into()
}

impl From<SessionError> for JsValue {
    fn from(e: SessionError) -> JsValue {
        js_error(e.code(), &e)
    }
}

/// A manifest entry as a JavaScript object (`/v1/models`' `models[i]`) or as JSON text.
fn entry_from_js(value: JsValue) -> Result<ModelEntry, JsValue> {
    let parsed = match value.as_string() {
        Some(text) => serde_json::from_str(&text).map_err(|e| e.to_string()),
        None => serde_wasm_bindgen::from_value(value).map_err(|e| e.to_string()),
    };
    parsed.map_err(|e| SessionError::Entry(e).into())
}

/// `value` through JSON text: what `JSON.parse` of the server's body gives, with
/// serde_json's numbers (as the server's). For the cloud's answers: a response of
/// three PNGs (about 136 KB) took about 50 ms to build field by field with
/// `serde_wasm_bindgen` in the worker and takes a few ms this way.
fn to_js_json<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    let text = serde_json::to_string(value).map_err(|e| js_error("internal", e))?;
    js_sys::JSON::parse(&text).map_err(|_| js_error("internal", "the answer is not JSON"))
}

/// An encoded frame as `to_js` would give it (the stream and the tiled image as
/// `Uint8Array`s, the rest plain values), built through JSON text: `serde_wasm_bindgen`
/// took about 40 ms a frame for it in the edge worker, longer than the encoder.
fn encoded_to_js(mut result: session::EncodeResult) -> Result<JsValue, JsValue> {
    let internal = |e: &dyn std::fmt::Display| js_error("internal", e);
    // The byte buffers go across as typed arrays, not as JSON arrays of numbers.
    let bitstream = std::mem::take(&mut result.bitstream);
    let pixels = std::mem::take(&mut result.tiled.pixels);
    let value = to_js_json(&result)?;
    let set = |target: &JsValue, key: &str, bytes: &[u8]| {
        js_sys::Reflect::set(target, &key.into(), &js_sys::Uint8Array::from(bytes).into())
            .map_err(|_| internal(&format!("setting {key} on the encoded frame")))
    };
    set(&value, "bitstream", &bitstream)?;
    let tiled = js_sys::Reflect::get(&value, &"tiled".into())
        .map_err(|_| internal(&"the encoded frame has no tiled image"))?;
    set(&tiled, "pixels", &pixels)?;
    Ok(value)
}

/// Plain objects and arrays, as `JSON.parse` of the server's body would give (byte
/// buffers stay `Uint8Array`s).
fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::new().serialize_maps_as_objects(true))
        .map_err(|e| js_error("internal", e))
}

/// One model's edge encoder on one device (see the module docs).
#[wasm_bindgen]
pub struct EdgeSession {
    inner: session::EdgeSession,
}

#[wasm_bindgen]
impl EdgeSession {
    /// Verifies `edge_bytes` against the manifest entry (size, sha256, model id),
    /// initialises the device (`"webgpu"`, `"cpu"` or `"auto"`: WebGPU where it
    /// initialises, else CPU) and runs a warm-up frame.
    /// `prior_bytes`: the model's `prior` file, checked against the entry (code
    /// `tables`), or undefined.
    pub async fn create(
        manifest_entry: JsValue,
        edge_bytes: Vec<u8>,
        prefer: String,
        prior_bytes: Option<Vec<u8>>,
    ) -> Result<EdgeSession, JsValue> {
        let entry = entry_from_js(manifest_entry)?;
        let preference: Preference = prefer.parse().map_err(|e| js_error("device", e))?;
        let inner =
            session::EdgeSession::create(entry, &edge_bytes, prior_bytes.as_deref(), preference)
                .await?;
        Ok(EdgeSession { inner })
    }

    /// Switches to another model (another lambda) on the same device; on failure the
    /// session keeps its current model.
    #[wasm_bindgen(js_name = loadWeights)]
    pub async fn load_weights(
        &mut self,
        manifest_entry: JsValue,
        edge_bytes: Vec<u8>,
        prior_bytes: Option<Vec<u8>>,
    ) -> Result<(), JsValue> {
        let entry = entry_from_js(manifest_entry)?;
        self.inner
            .load_weights(entry, &edge_bytes, prior_bytes.as_deref())
            .await?;
        Ok(())
    }

    /// Encodes one frame (RGBA from a canvas, or packed RGB) into a bitstream; see
    /// the module docs for the result's fields. `bits` undefined: the model's depth;
    /// else a whole number in `bitDepthRange()`, refused with code `bit-depth`.
    pub async fn encode(
        &self,
        pixels: Vec<u8>,
        width: u32,
        height: u32,
        codec: String,
        bits: Option<f64>,
    ) -> Result<JsValue, JsValue> {
        // Any JavaScript number may arrive; it becomes a BitDepth here or is refused.
        let bits = bits.map(session::bit_depth_from_js).transpose()?;
        let result = self
            .inner
            .encode(&pixels, width as usize, height as usize, &codec, bits)
            .await?;
        encoded_to_js(result)
    }

    /// `"webgpu"` or `"cpu"`.
    pub fn backend(&self) -> String {
        self.inner.backend().name().to_string()
    }

    /// Why `"auto"` fell back to the CPU, if it did.
    #[wasm_bindgen(js_name = fallbackReason)]
    pub fn fallback_reason(&self) -> Option<String> {
        self.inner.fallback_reason().map(str::to_string)
    }

    #[wasm_bindgen(js_name = modelId)]
    pub fn model_id(&self) -> String {
        self.inner.model_id().to_string()
    }

    #[wasm_bindgen(js_name = warmupMs)]
    pub fn warmup_ms(&self) -> f64 {
        self.inner.warmup_ms()
    }

    /// `{width, height}` of the model input.
    #[wasm_bindgen(js_name = modelInput)]
    pub fn model_input(&self) -> Result<JsValue, JsValue> {
        to_js(&self.inner.model_input())
    }

    /// `{channels, height, width}` of the features.
    #[wasm_bindgen(js_name = featureShape)]
    pub fn feature_shape(&self) -> Result<JsValue, JsValue> {
        to_js(&self.inner.feature_shape())
    }
}

/// One model's task heads on one device: the cloud half (see the module docs).
#[wasm_bindgen]
pub struct CloudSession {
    inner: cloud::CloudSession,
}

/// What `CloudSession.infer` resolves to: an HTTP status and the body the server
/// would send with it.
#[derive(Serialize)]
struct Answer<T: Serialize> {
    status: u16,
    body: T,
}

#[wasm_bindgen]
impl CloudSession {
    /// Verifies `heads_bytes` against the manifest entry (size, sha256), initialises
    /// the device (`"webgpu"`, `"cpu"` or `"auto"`) and runs one synthetic stream
    /// through the heads.
    pub async fn create(
        manifest_entry: JsValue,
        heads_bytes: Vec<u8>,
        prefer: String,
        prior_bytes: Option<Vec<u8>>,
    ) -> Result<CloudSession, JsValue> {
        let entry = entry_from_js(manifest_entry)?;
        let preference: Preference = prefer.parse().map_err(|e| js_error("device", e))?;
        let inner =
            cloud::CloudSession::create(entry, &heads_bytes, prior_bytes.as_deref(), preference)
                .await?;
        Ok(CloudSession { inner })
    }

    /// Answers one bitstream as `POST /v1/infer?model=ID&tasks=..&max_disparity=..&format=planes`
    /// does: `{status: 200, body: Uint8Array}` (the planes format) or `{status, body:
    /// {error, message}}` with the server's status and error code. `tasks`:
    /// comma-separated, undefined for all three.
    pub async fn infer(
        &self,
        bitstream: Vec<u8>,
        tasks: Option<String>,
        max_disparity: Option<f32>,
    ) -> Result<JsValue, JsValue> {
        let result = match cloud::CloudSession::options(tasks.as_deref(), max_disparity) {
            Ok(options) => self.inner.infer(&bitstream, &options).await,
            Err(e) => Err(e),
        };
        let planes = result.and_then(|r| {
            planes::encode(&r.meta, &r.outputs)
                .map_err(|e| InferError::Internal(format!("planes response: {e}")))
        });
        match planes {
            Ok(bytes) => {
                let answer = js_sys::Object::new();
                let set = |key: &str, value: &JsValue| {
                    js_sys::Reflect::set(&answer, &key.into(), value)
                        .map_err(|_| js_error("internal", format!("setting {key} on the answer")))
                };
                set("status", &200.into())?;
                set("body", &js_sys::Uint8Array::from(&bytes[..]).into())?;
                Ok(answer.into())
            }
            Err(e) => to_js_json(&Answer {
                status: e.status_and_code().0,
                body: e.body(),
            }),
        }
    }

    /// `"webgpu"` or `"cpu"`.
    pub fn backend(&self) -> String {
        self.inner.backend().name().to_string()
    }

    /// Why `"auto"` fell back to the CPU, if it did.
    #[wasm_bindgen(js_name = fallbackReason)]
    pub fn fallback_reason(&self) -> Option<String> {
        self.inner.fallback_reason().map(str::to_string)
    }

    #[wasm_bindgen(js_name = modelId)]
    pub fn model_id(&self) -> String {
        self.inner.entry().id.to_string()
    }

    #[wasm_bindgen(js_name = warmupMs)]
    pub fn warmup_ms(&self) -> f64 {
        self.inner.warmup_ms()
    }
}

/// The answer of a host that does not have model `model_id`, to the query `tasks`
/// and `max_disparity`: the query's error if it has one (checked first, as on the
/// server), else `404 unknown_model`. Same shape as `CloudSession.infer`'s answers.
#[wasm_bindgen(js_name = answerWithoutModel)]
pub fn answer_without_model(
    model_id: String,
    tasks: Option<String>,
    max_disparity: Option<f32>,
) -> Result<JsValue, JsValue> {
    let e = match cloud::CloudSession::options(tasks.as_deref(), max_disparity) {
        Err(e) => e,
        Ok(_) => splitfeat_core::api::InferError::UnknownModel(model_id),
    };
    to_js_json(&Answer {
        status: e.status_and_code().0,
        body: e.body(),
    })
}

/// Decodes a planes response (`bytes`) and colours its outputs with core's colouring,
/// for drawing: `{response, seg, disp, recon}`, `response` the metadata as
/// `JSON.parse` gives it, each output opaque RGBA (`Uint8ClampedArray`, for
/// `new ImageData(rgba, response.width, response.height)`) or undefined when not
/// requested. Throws an `Error` with code `planes` when the bytes are not a planes
/// response (truncated, bad magic, unknown version, wrong lengths).
#[wasm_bindgen(js_name = paintPlanes)]
pub fn paint_planes(bytes: &[u8]) -> Result<JsValue, JsValue> {
    let painted = cloud::paint(bytes).map_err(|e| js_error("planes", e))?;
    let out = js_sys::Object::new();
    js_sys::Reflect::set(&out, &"response".into(), &to_js_json(&painted.meta)?)
        .map_err(|_| js_error("internal", "setting response"))?;
    for (key, rgba) in [
        ("seg", &painted.seg),
        ("disp", &painted.disp),
        ("recon", &painted.recon),
    ] {
        if let Some(rgba) = rgba {
            let array = js_sys::Uint8ClampedArray::from(&rgba[..]);
            js_sys::Reflect::set(&out, &key.into(), &array.into())
                .map_err(|_| js_error("internal", format!("setting {key}")))?;
        }
    }
    Ok(out.into())
}

/// The 19 segmentation classes `[{train_id, name, color: [r, g, b]}]` by trainId
/// (the legend when no server catalogue is at hand).
#[wasm_bindgen]
pub fn classes() -> Result<JsValue, JsValue> {
    to_js(&splitfeat_core::classes::CLASSES)
}

/// The crate version, for the page's footer and logs.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// The quantizer bit depths a stream may have, `{min, max}` (the page's bit-depth
/// control and URL parameter take their range from here).
#[wasm_bindgen(js_name = bitDepthRange)]
pub fn bit_depth_range() -> Result<JsValue, JsValue> {
    use splitfeat_core::quant::BitDepth;
    to_js(&serde_json::json!({ "min": BitDepth::MIN, "max": BitDepth::MAX }))
}
