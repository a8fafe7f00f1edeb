//! `POST /v1/infer`: validate the request, decode the bitstream, run the requested
//! heads on a blocking thread, and return the outputs as PNGs with timings.
//!
//! Every check that can refuse a request runs before the model does, in this order:
//! query (model, tasks, max_disparity), model lookup, content type, body size, body
//! read, decode. A request that gets past them reaches the heads with features of
//! exactly the shape the model was built for.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Instant as StdInstant;

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use splitfeat_core::classes::NUM_CLASSES;
use splitfeat_core::pipeline::{Decoded, bits_per_element};
use splitfeat_core::runtime::{Task, TaskOutput};
use splitfeat_core::viz;
use tokio::time::{Instant, timeout_at};

use crate::AppState;
use crate::errors::ApiError;
use crate::limits::{check_octet_stream, read_body};
use crate::models::LoadedModel;

/// Query parameters. Unknown parameters are ignored, so clients may add their own.
#[derive(Debug, Deserialize)]
pub struct InferParams {
    pub model: Option<String>,
    pub tasks: Option<String>,
    /// Fixes the top of the disparity colour scale (pixels), e.g. to keep colours
    /// stable across video frames; default: the frame's own maximum.
    pub max_disparity: Option<f32>,
}

#[derive(Debug, Serialize)]
pub struct InferResponse {
    /// Model id.
    pub model: String,
    pub model_name: String,
    pub tasks: Vec<Task>,
    pub bytes_received: usize,
    /// Size of every output image (the model's input size).
    pub width: usize,
    pub height: usize,
    /// 8 x stream bytes / feature elements: the whole stream, header included.
    pub bits_per_element: f64,
    pub codec: String,
    pub bits: u8,
    pub timings_ms: Timings,
    pub outputs: Outputs,
}

#[derive(Debug, Serialize, Default)]
pub struct Timings {
    /// Waiting for an inference slot.
    pub queue: f64,
    /// Bitstream parse, CRC, codec, untiling and dequantization.
    pub decode: f64,
    /// Each head's forward pass, including reading its output back.
    pub heads: HeadTimings,
    /// Argmax (seg), scaling (disp) and conversion to pixels (recon), summed over
    /// the tasks (which run in parallel, so their wall time is less than the sum).
    pub postprocess: f64,
    /// Colouring, PNG encoding and base64, summed over the tasks like `postprocess`.
    pub encode_png: f64,
    /// From the handler's start (body read included) to the response being built.
    pub total: f64,
}

#[derive(Debug, Serialize, Default)]
pub struct HeadTimings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seg: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disp: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recon: Option<f64>,
}

impl HeadTimings {
    fn set(&mut self, task: Task, ms: f64) {
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

#[derive(Debug, Serialize, Default)]
pub struct Outputs {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seg: Option<SegOutput>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disp: Option<DispOutput>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recon: Option<ReconOutput>,
}

#[derive(Debug, Serialize)]
pub struct SegOutput {
    /// Base64 PNG, RGB in the class colours of `GET /v1/models`.
    pub png: String,
    /// Pixels per class, indexed by trainId.
    pub class_pixels: Vec<u32>,
}

#[derive(Debug, Serialize)]
pub struct DispOutput {
    /// Base64 PNG, turbo colour map from 0 (dark blue) to `max_disparity` (dark red).
    pub png: String,
    /// Disparity in pixels (at the output width) at the top of the colour scale.
    pub max_disparity: f32,
}

#[derive(Debug, Serialize)]
pub struct ReconOutput {
    /// Base64 PNG, RGB.
    pub png: String,
}

pub async fn infer(
    State(state): State<AppState>,
    query: Result<Query<InferParams>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<InferResponse>, ApiError> {
    let started = StdInstant::now();
    let timeout_ms = state.config.timeout_ms;
    let deadline = Instant::now() + state.config.timeout();

    let Query(params) = query.map_err(|e| ApiError::BadQuery(e.body_text()))?;
    let model_id = params
        .model
        .filter(|m| !m.is_empty())
        .ok_or(ApiError::MissingModel)?;
    let tasks = parse_tasks(params.tasks.as_deref())?;
    if let Some(d) = params.max_disparity
        && !(d.is_finite() && d > 0.0)
    {
        return Err(ApiError::BadParam(format!(
            "max_disparity must be a positive number, got {d}"
        )));
    }
    let model = state
        .models
        .get(&model_id)
        .cloned()
        .ok_or_else(|| ApiError::UnknownModel(model_id.clone()))?;
    check_octet_stream(&headers)?;
    let bytes = read_body(
        &headers,
        body,
        state.config.max_body_bytes,
        deadline,
        timeout_ms,
    )
    .await?;
    if bytes.is_empty() {
        return Err(ApiError::EmptyBody);
    }

    // Decoding is bounded by the model's shape (well under a millisecond for the
    // shipped models), so it runs here: a bad stream is refused without queueing.
    let t = StdInstant::now();
    let decoded = model.runtime.decode(&bytes)?;
    let decode_ms = ms_since(t);
    let header = decoded.header;

    let t = StdInstant::now();
    let permit = state.limiter.acquire(deadline, timeout_ms).await?;
    let queue_ms = ms_since(t);

    let job_model = Arc::clone(&model);
    let job_tasks = tasks.clone();
    let job = tokio::task::spawn_blocking(move || {
        // The permit lives as long as the computation, even if the request is gone.
        let _permit = permit;
        catch_unwind(AssertUnwindSafe(|| {
            compute(&job_model, &decoded, &job_tasks, params.max_disparity)
        }))
    });
    let computed = match timeout_at(deadline, job).await {
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
        Ok(Ok(Ok(result))) => result?,
    };

    let (width, height) = model.input_size();
    let mut timings = computed.timings;
    timings.queue = queue_ms;
    timings.decode = decode_ms;
    timings.total = ms_since(started);
    tracing::info!(
        model = %model_id,
        tasks = %task_names(&tasks),
        bytes = bytes.len(),
        queue_ms = timings.queue,
        decode_ms = timings.decode,
        heads_ms = (timings.heads.sum() * 1e3).round() / 1e3,
        png_ms = timings.encode_png,
        total_ms = timings.total,
        "inference"
    );
    Ok(Json(InferResponse {
        model: model.entry.id.clone(),
        model_name: model.entry.name.clone(),
        tasks,
        bytes_received: bytes.len(),
        width,
        height,
        bits_per_element: bits_per_element(bytes.len(), header.shape),
        codec: header.codec.to_string(),
        bits: header.bits,
        timings_ms: timings,
        outputs: computed.outputs,
    }))
}

/// `tasks` absent means all three; present but empty is a mistake worth reporting.
fn parse_tasks(param: Option<&str>) -> Result<Vec<Task>, ApiError> {
    match param {
        None => Ok(Task::ALL.to_vec()),
        Some(s) if s.split(',').all(|p| p.trim().is_empty()) => Err(ApiError::NoTasks),
        Some(s) => Task::parse_list(s).map_err(ApiError::UnknownTask),
    }
}

struct Computed {
    outputs: Outputs,
    timings: Timings,
}

/// The model's part of a request, on a blocking thread. The heads run one after
/// another so that each is timed on its own (each already uses every core). The
/// outputs' post-processing and PNG encoding are single-threaded per task, so the
/// tasks run in parallel on rayon's pool.
fn compute(
    model: &LoadedModel,
    decoded: &Decoded,
    tasks: &[Task],
    max_disparity: Option<f32>,
) -> Result<Computed, ApiError> {
    let rt = &model.runtime;
    let mut timings = Timings::default();
    let mut heads = Vec::with_capacity(tasks.len());
    for &task in tasks {
        let t = StdInstant::now();
        let mut results = rt.run_heads(decoded, &[task]);
        let values = match results.pop() {
            Some((_, tensor)) => tensor.into_data().try_to_vec::<f32>().map_err(|e| {
                ApiError::Internal(format!("reading back the {} head: {e:?}", task.name()))
            })?,
            None => {
                return Err(ApiError::Internal(format!(
                    "the {} head returned nothing",
                    task.name()
                )));
            }
        };
        timings.heads.set(task, ms_since(t));
        heads.push((task, values));
    }

    let finished: Vec<Result<Finished, ApiError>> = heads
        .into_par_iter()
        .map(|(task, values)| finish(model, task, &values, max_disparity))
        .collect();
    let mut outputs = Outputs::default();
    for f in finished {
        let f = f?;
        timings.postprocess += f.postprocess_ms;
        timings.encode_png += f.encode_ms;
        match f.output {
            FinishedOutput::Seg(o) => outputs.seg = Some(o),
            FinishedOutput::Disp(o) => outputs.disp = Some(o),
            FinishedOutput::Recon(o) => outputs.recon = Some(o),
        }
    }
    Ok(Computed { outputs, timings })
}

struct Finished {
    output: FinishedOutput,
    postprocess_ms: f64,
    encode_ms: f64,
}

enum FinishedOutput {
    Seg(SegOutput),
    Disp(DispOutput),
    Recon(ReconOutput),
}

/// One head's read-back values to its response entry.
fn finish(
    model: &LoadedModel,
    task: Task,
    values: &[f32],
    max_disparity: Option<f32>,
) -> Result<Finished, ApiError> {
    let (width, height) = model.input_size();
    let t = StdInstant::now();
    let output = model.runtime.postprocess(task, values);
    let postprocess_ms = ms_since(t);

    let t = StdInstant::now();
    let top = match (&output, max_disparity) {
        (_, Some(d)) => d,
        (TaskOutput::Disp(d), None) => viz::max_disparity(d),
        _ => 0.0,
    };
    let png = crate::png::encode_rgb(
        width as u32,
        height as u32,
        &crate::png::output_rgb(&output, top),
    )
    .map_err(|e| ApiError::Internal(format!("{} output: {e}", task.name())))?;
    let png = BASE64.encode(png);
    let output = match output {
        TaskOutput::Seg(labels) => FinishedOutput::Seg(SegOutput {
            png,
            class_pixels: class_histogram(&labels),
        }),
        TaskOutput::Disp(_) => FinishedOutput::Disp(DispOutput {
            png,
            max_disparity: top,
        }),
        TaskOutput::Recon(_) => FinishedOutput::Recon(ReconOutput { png }),
    };
    Ok(Finished {
        output,
        postprocess_ms,
        encode_ms: ms_since(t),
    })
}

fn class_histogram(labels: &[u8]) -> Vec<u32> {
    let mut counts = vec![0u32; NUM_CLASSES];
    for &l in labels {
        if let Some(c) = counts.get_mut(l as usize) {
            *c += 1;
        }
    }
    counts
}

fn task_names(tasks: &[Task]) -> String {
    tasks.iter().map(|t| t.name()).collect::<Vec<_>>().join(",")
}

/// Milliseconds since `t`, to the microsecond (finer is noise at this scale).
fn ms_since(t: StdInstant) -> f64 {
    (t.elapsed().as_secs_f64() * 1e6).round() / 1e3
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
    fn task_parameter() {
        assert_eq!(parse_tasks(None).unwrap(), Task::ALL.to_vec());
        assert_eq!(
            parse_tasks(Some("recon,seg")).unwrap(),
            vec![Task::Recon, Task::Seg]
        );
        assert!(matches!(parse_tasks(Some("")), Err(ApiError::NoTasks)));
        assert!(matches!(parse_tasks(Some(" , ")), Err(ApiError::NoTasks)));
        assert!(
            matches!(parse_tasks(Some("seg,depth")), Err(ApiError::UnknownTask(m)) if m.contains("depth"))
        );
    }

    #[test]
    fn histogram_ignores_out_of_range_labels() {
        let h = class_histogram(&[0, 0, 18, 255]);
        assert_eq!((h[0], h[18], h.iter().sum::<u32>()), (2, 1, 3));
    }
}
