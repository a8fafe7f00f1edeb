//! The router: API routes, static files, and the layers every request goes through.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, Request, Response, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::json;
use tower::Layer;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::services::ServeDir;
use tower_http::trace::TraceLayer;
use tracing::Span;

use crate::AppState;
use crate::errors::ApiError;
use crate::infer::infer;
use crate::limits::{LOG_FIELD_MAX, RequestIds, X_REQUEST_ID, clip, static_headers};

/// The whole application. Layers, outermost first: request id, access log, panic
/// guard, JSON bodies for every error, CORS (when configured), then the routes.
pub fn app(state: AppState) -> Router {
    // Of the assets directory only the manifest and the weights files are served:
    // checkpoints (with optimizer state) and anything else stay private.
    let assets =
        axum::middleware::from_fn(only_model_files).layer(ServeDir::new(&state.config.assets));
    let static_files = Router::new()
        .nest_service("/assets", assets)
        .fallback_service(ServeDir::new(&state.config.www))
        .layer(axum::middleware::from_fn(static_headers));

    let mut router = Router::new()
        .route("/healthz", get(healthz))
        .route("/v1/models", get(models))
        .route("/v1/infer", post(infer))
        .route("/v1", get(not_found).post(not_found))
        .route("/v1/{*rest}", get(not_found).post(not_found))
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state.clone())
        .merge(static_files);

    if let Some(cors) = state.cors.clone() {
        router = router.layer(cors);
    }
    router
        .layer(axum::middleware::from_fn(json_errors))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(make_span)
                .on_request(())
                .on_response(log_response)
                .on_failure(()),
        )
        .layer(PropagateRequestIdLayer::new(X_REQUEST_ID))
        .layer(SetRequestIdLayer::new(X_REQUEST_ID, RequestIds::new()))
}

fn make_span(request: &Request<Body>) -> Span {
    let id = request
        .headers()
        .get(X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    // The id may be the client's own: clipped, as is the path.
    tracing::info_span!(
        "request",
        id = %clip(id, LOG_FIELD_MAX),
        method = %request.method(),
        path = %clip(request.uri().path(), 256)
    )
}

/// Whether a path under `/assets/` may be served: `manifest.json`, and a model's files
/// under `models/`: weights (`.bpk`) and prior tables (`prior.json`).
pub fn servable_asset(path: &str) -> bool {
    let path = path.trim_start_matches('/');
    path == "manifest.json"
        || (path.starts_with("models/")
            && !path.contains(['%', '\\'])
            && (path.ends_with(".bpk") || path.ends_with("/prior.json"))
            && path
                .split('/')
                .all(|part| !part.is_empty() && part != ".." && part != "."))
}

async fn only_model_files(request: Request<Body>, next: axum::middleware::Next) -> Response<Body> {
    if servable_asset(request.uri().path()) {
        next.run(request).await
    } else {
        ApiError::NotFound.into_response()
    }
}

/// Error responses that did not come from a handler (the static file service's 404,
/// a 405, a library's refusal) get the JSON body every error has; responses that
/// already have one pass through.
async fn json_errors(request: Request<Body>, next: axum::middleware::Next) -> Response<Body> {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let json = ApiError::Http(status).into_response();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::CONTENT_ENCODING);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, json.into_body())
}

/// The access log line. Client errors are logged at info: they are the client's
/// problem, and the refusal itself is logged with its code by [`ApiError`].
fn log_response(response: &Response<Body>, latency: Duration, _span: &Span) {
    let status = response.status().as_u16();
    let ms = round3(latency.as_secs_f64() * 1e3);
    if status >= 500 {
        tracing::error!(status, ms, "response");
    } else {
        tracing::info!(status, ms, "response");
    }
}

fn round3(x: f64) -> f64 {
    (x * 1e3).round() / 1e3
}

/// A panic outside the model call (which has its own guard) still becomes a JSON 500
/// and leaves the server running.
fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    tracing::error!("panic in a request handler");
    ApiError::Internal("the server failed to handle this request".into()).into_response()
}

async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    let body = json!({
        "status": "ok",
        "models": state.models.len(),
        "in_flight": state.limiter.in_flight(),
        "queued": state.limiter.queued(),
    });
    (
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        axum::Json(body),
    )
}

async fn models(State(state): State<AppState>) -> impl IntoResponse {
    // Serialized once at start: the catalog never changes while the server runs.
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        state.catalog_json.clone(),
    )
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_weights_and_the_manifest_are_servable() {
        assert!(servable_asset("/manifest.json"));
        assert!(servable_asset("/models/tiny-l0/edge.bpk"));
        assert!(servable_asset("/models/tiny-l0/heads.bpk"));
        assert!(servable_asset("/models/tiny-l0/prior.json"));
        assert!(!servable_asset("/models/tiny-l0/eval.json"));
        assert!(!servable_asset("/models/../prior.json"));
        assert!(!servable_asset("/checkpoints/tiny-base.sfck"));
        assert!(!servable_asset("/models/tiny-l0/notes.txt"));
        assert!(!servable_asset("/models/../checkpoints/x.bpk"));
        assert!(!servable_asset("/models//x.bpk"));
        assert!(!servable_asset("/models/%2e%2e/x.bpk"));
        assert!(!servable_asset("/"));
        assert!(!servable_asset("/manifest.json.bak"));
    }
}
