//! The router: API routes, static files, and the layers every request goes through.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, Request, Response, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::json;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::services::ServeDir;
use tower_http::trace::TraceLayer;
use tracing::Span;

use crate::AppState;
use crate::errors::ApiError;
use crate::infer::infer;
use crate::limits::{RequestIds, X_REQUEST_ID, static_headers};

/// The whole application. Layers, outermost first: request id, access log, panic
/// guard, CORS (when configured), then the routes.
pub fn app(state: AppState) -> Router {
    let static_files = Router::new()
        .nest_service("/assets", ServeDir::new(&state.config.assets))
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
    tracing::info_span!("request", id = %id, method = %request.method(), path = %request.uri().path())
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
