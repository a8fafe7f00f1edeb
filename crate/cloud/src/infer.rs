//! `POST /v1/infer`: validate the request, decode the bitstream, run the requested
//! heads on a blocking thread, and return the outputs with timings: as JSON with
//! base64 PNGs (the default), or in the planes format (`splitfeat_core::api::planes`)
//! when the client asks for it (`Accept: application/vnd.splitfeat.planes` or
//! `?format=planes`).
//!
//! Every check that can refuse a request runs before the model does, in this order:
//! query (model, tasks, max_disparity, format), model lookup, content type, body size,
//! body read, decode. A request that gets past them reaches the heads with features of
//! exactly the shape the model was built for.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, OnceLock};
use std::time::Instant as StdInstant;

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use splitfeat_core::api::planes::{self, Format};
use splitfeat_core::api::{
    self, InferError, InferOptions, InferResponse, Outputs, RawOutputs, Timings,
};
use splitfeat_core::pipeline::Decoded;
use splitfeat_core::runtime::Task;
use splitfeat_core::zoo::ModelId;
use tokio::time::{Instant, timeout_at};

use crate::AppState;
use crate::errors::ApiError;
use crate::limits::{LOG_FIELD_MAX, check_octet_stream, clip, read_body};
use crate::models::LoadedModel;

/// Query parameters. Unknown parameters are ignored, so clients may add their own.
#[derive(Debug, Deserialize)]
pub struct InferParams {
    pub model: Option<String>,
    pub tasks: Option<String>,
    /// Fixes the top of the disparity colour scale (pixels), e.g. to keep colours
    /// stable across video frames; default: the frame's own maximum.
    pub max_disparity: Option<f32>,
    /// `json` or `planes`; absent: the `Accept` header decides.
    pub format: Option<String>,
}

/// What the blocking job returns: the raw planes, and the JSON outputs when asked for.
type Computed = (RawOutputs, Option<Outputs>, Timings);

pub async fn infer(
    State(state): State<AppState>,
    query: Result<Query<InferParams>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let started = StdInstant::now();
    let timeout_ms = state.config.timeout_ms;
    let deadline = Instant::now() + state.config.timeout();

    let Query(params) = query.map_err(|e| ApiError::BadQuery(clip(&e.body_text(), 200)))?;
    let model_id = params
        .model
        .filter(|m| !m.is_empty())
        .ok_or(ApiError::MissingModel)?;
    let options = InferOptions::parse(params.tasks.as_deref(), params.max_disparity)?;
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format =
        Format::negotiate(params.format.as_deref(), accept).map_err(InferError::BadParam)?;
    // The id goes into messages and logs only clipped: a client may send any length.
    let model = model_id
        .parse::<ModelId>()
        .ok()
        .and_then(|id| state.models.get(&id).cloned())
        .ok_or_else(|| InferError::UnknownModel(clip(&model_id, LOG_FIELD_MAX)))?;
    let model_id = model.entry.id;
    check_octet_stream(&headers)?;
    // `_body_permit` keeps the body's share of the memory budget until the response.
    let (bytes, _body_permit) = read_body(
        &headers,
        body,
        state.config.max_body_bytes,
        &state.body_budget,
        deadline,
        timeout_ms,
    )
    .await?;

    // Decoding is bounded by the model's shape (well under a millisecond for the
    // shipped models), so it runs here: a bad stream is refused without queueing.
    let t = StdInstant::now();
    let decoded = model.runtime.decode_request(&bytes)?;
    let decode_ms = ms_since(t);

    let t = StdInstant::now();
    let permit = state.limiter.acquire(deadline, timeout_ms).await?;
    let queue_ms = ms_since(t);

    let job_model = Arc::clone(&model);
    let job_options = options.clone();
    let job = tokio::task::spawn_blocking(move || {
        // The permit lives as long as the computation, even if the request is gone.
        let _permit = permit;
        catch_unwind(AssertUnwindSafe(|| {
            let computed = compute(&job_model, &decoded, &job_options, format);
            (decoded, computed)
        }))
    });
    let (decoded, computed) = match timeout_at(deadline, job).await {
        Err(_) => return Err(ApiError::Timeout { ms: timeout_ms }),
        Ok(Err(join_error)) => {
            return Err(ApiError::Internal(format!(
                "inference task failed: {join_error}"
            )));
        }
        Ok(Ok(Err(panic))) => {
            let msg = panic_message(panic.as_ref());
            tracing::error!(model = %model_id, panic = %msg, "panic during inference");
            return Err(ApiError::Internal(format!("inference failed: {msg}")));
        }
        Ok(Ok(Ok(result))) => result,
    };
    let (raw, json, mut timings) = computed?;

    timings.queue = queue_ms;
    timings.decode = decode_ms;
    timings.total = ms_since(started);
    tracing::info!(
        model = %model_id,
        tasks = %task_names(&options.tasks),
        bytes = bytes.len(),
        queue_ms = timings.queue,
        decode_ms = timings.decode,
        heads_ms = api::round_ms(timings.heads.sum()),
        png_ms = timings.encode_png,
        total_ms = timings.total,
        format = ?format,
        "inference"
    );
    let response = InferResponse::new(
        &model.entry,
        &model.runtime,
        options.tasks,
        bytes.len(),
        &decoded,
        timings,
        raw.meta(),
    );
    // The body depends on `Accept`: caches must not give one client the other's.
    let vary = (header::VARY, HeaderValue::from_static("accept"));
    match json {
        Some(outputs) => Ok(([vary], Json(response.with_outputs(outputs))).into_response()),
        None => {
            let body = planes::encode(&response, &raw)
                .map_err(|e| ApiError::Internal(format!("planes response: {e}")))?;
            let media_type = HeaderValue::from_static(planes::MEDIA_TYPE);
            Ok(([(header::CONTENT_TYPE, media_type), vary], body).into_response())
        }
    }
}

/// The model's part of a request, on a blocking thread ([`CloudRuntime::compute`]; on
/// the CPU device its futures are ready at once), and for JSON the PNGs.
///
/// [`CloudRuntime::compute`]: splitfeat_core::runtime::CloudRuntime::compute
pub(crate) fn compute(
    model: &LoadedModel,
    decoded: &Decoded,
    options: &InferOptions,
    format: Format,
) -> Result<Computed, InferError> {
    let (raw, mut timings) =
        futures_lite::future::block_on(model.runtime.compute(decoded, options, clock_ms))?;
    let json = match format {
        Format::Json => Some(raw.to_json(&mut timings, clock_ms)?),
        Format::Planes => None,
    };
    Ok((raw, json, timings))
}

fn task_names(tasks: &[Task]) -> String {
    tasks.iter().map(|t| t.name()).collect::<Vec<_>>().join(",")
}

/// Milliseconds since `t`, to the microsecond (finer is noise at this scale).
fn ms_since(t: StdInstant) -> f64 {
    api::round_ms(t.elapsed().as_secs_f64() * 1e3)
}

/// Milliseconds since the first call: the clock core's stage timings are read with.
fn clock_ms() -> f64 {
    static ORIGIN: OnceLock<StdInstant> = OnceLock::new();
    ORIGIN.get_or_init(StdInstant::now).elapsed().as_secs_f64() * 1e3
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_measures_elapsed_milliseconds() {
        let a = clock_ms();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let b = clock_ms();
        // A sleep lasts at least its duration; a clock in other units, or a stopped one, fails.
        assert!(b - a >= 20.0 && b - a < 20_000.0, "{a} -> {b}");
    }

    #[test]
    fn task_names_are_comma_separated_in_request_order() {
        assert_eq!(task_names(&[Task::Seg, Task::Recon]), "seg,recon");
        assert_eq!(
            task_names(&[Task::Recon, Task::Seg, Task::Disp]),
            "recon,seg,disp"
        );
    }
}
