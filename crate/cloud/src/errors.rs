//! Every error the API returns, and the one place where each maps to an HTTP status
//! and a machine-readable code. Bodies are always `{"error": CODE, "message": TEXT}`.
//! The codes are part of the API (docs/api.md); the messages are for people.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use splitfeat_core::api::InferError;
use splitfeat_core::pipeline::PipelineError;

pub use splitfeat_core::api::ErrorBody;

/// The errors of the HTTP transport, plus [`InferError`]: the refusals and failures
/// the server shares with the browser's cloud worker (codes and messages from core).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("query parameter `model` is required (a model id from GET /v1/models)")]
    MissingModel,
    #[error("bad query string: {0}")]
    BadQuery(String),
    #[error("content type must be application/octet-stream, got {}", .0.as_deref().unwrap_or("none"))]
    UnsupportedMediaType(Option<String>),
    #[error("request body exceeds the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("could not read the request body: {0}")]
    BodyRead(String),
    #[error("request body not received within {ms} ms")]
    BodyTimeout { ms: u64 },
    /// Task or parameter errors, unknown model, empty body, a refused bitstream, or a
    /// failure in the model's code path.
    #[error("{0}")]
    Infer(#[from] InferError),
    #[error("the server is at capacity ({queued} requests queued); retry later")]
    Overloaded { queued: usize },
    /// The request bodies held at once would exceed `--max-body-budget-bytes`.
    #[error("the server is receiving too many request bodies at once; retry later")]
    BodyBudget,
    #[error("request not completed within {ms} ms")]
    Timeout { ms: u64 },
    #[error("no such endpoint")]
    NotFound,
    #[error("method not allowed for this endpoint")]
    MethodNotAllowed,
    #[error("internal error: {0}")]
    Internal(String),
    /// An error response made by a library (the HTTP parser, the static file
    /// service) rather than by a handler, given a JSON body of its own.
    #[error("{}", http_message(*.0))]
    Http(StatusCode),
}

/// Machine code of an error status that no handler produced.
fn http_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "request_timeout",
        413 => "payload_too_large",
        414 => "uri_too_long",
        416 => "range_not_satisfiable",
        431 => "headers_too_large",
        500..=599 => "internal",
        _ => "bad_request",
    }
}

fn http_message(status: StatusCode) -> String {
    match status.as_u16() {
        400 => "the request could not be parsed as HTTP/1.1".into(),
        404 => "no such file or endpoint".into(),
        414 => "the request URI is too long".into(),
        431 => "the request headers are too large".into(),
        _ => status
            .canonical_reason()
            .unwrap_or("request refused")
            .to_string(),
    }
}

/// The JSON body of an error response, as bytes (for responses built below the
/// router, such as the HTTP parser's own refusals).
pub fn error_json(status: StatusCode) -> Vec<u8> {
    serde_json::to_vec(&ApiError::Http(status).body()).unwrap_or_else(|_| b"{}".to_vec())
}

impl From<PipelineError> for ApiError {
    fn from(e: PipelineError) -> Self {
        ApiError::Infer(e.into())
    }
}

impl ApiError {
    /// HTTP status and machine code.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        use StatusCode as S;
        match self {
            ApiError::MissingModel => (S::BAD_REQUEST, "missing_model"),
            ApiError::BadQuery(_) => (S::BAD_REQUEST, "bad_query"),
            ApiError::UnsupportedMediaType(_) => {
                (S::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            ApiError::PayloadTooLarge { .. } => (S::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::BodyRead(_) => (S::BAD_REQUEST, "body_read_error"),
            ApiError::BodyTimeout { .. } => (S::REQUEST_TIMEOUT, "body_timeout"),
            ApiError::Infer(e) => {
                let (status, code) = e.status_and_code();
                (
                    S::from_u16(status).unwrap_or(S::INTERNAL_SERVER_ERROR),
                    code,
                )
            }
            ApiError::Overloaded { .. } | ApiError::BodyBudget => {
                (S::SERVICE_UNAVAILABLE, "overloaded")
            }
            ApiError::Timeout { .. } => (S::SERVICE_UNAVAILABLE, "timeout"),
            ApiError::NotFound => (S::NOT_FOUND, "not_found"),
            ApiError::MethodNotAllowed => (S::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::Internal(_) => (S::INTERNAL_SERVER_ERROR, "internal"),
            ApiError::Http(status) => (*status, http_code(*status)),
        }
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.status_and_code().1.to_string(),
            message: self.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        // Logged inside the request span, so the line carries the request id.
        if status.is_server_error() {
            tracing::error!(error = code, "{self}");
        } else {
            tracing::info!(error = code, "refused: {self}");
        }
        let mut response = (status, Json(self.body())).into_response();
        if matches!(self, ApiError::Overloaded { .. } | ApiError::BodyBudget) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use splitfeat_core::bitstream::BitstreamError;
    use splitfeat_core::pipeline::PipelineError;

    #[test]
    fn transport_errors_have_stable_statuses_and_codes() {
        let cases = [
            (ApiError::MissingModel, 400, "missing_model"),
            (
                ApiError::UnsupportedMediaType(None),
                415,
                "unsupported_media_type",
            ),
            (
                ApiError::PayloadTooLarge { limit: 1 },
                413,
                "payload_too_large",
            ),
            (ApiError::Overloaded { queued: 3 }, 503, "overloaded"),
            (ApiError::BodyBudget, 503, "overloaded"),
            (
                ApiError::Http(StatusCode::URI_TOO_LONG),
                414,
                "uri_too_long",
            ),
            (
                ApiError::Http(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE),
                431,
                "headers_too_large",
            ),
            (ApiError::Http(StatusCode::BAD_REQUEST), 400, "bad_request"),
        ];
        for (err, status, code) in cases {
            assert_eq!(
                err.status_and_code(),
                (StatusCode::from_u16(status).unwrap(), code),
                "{err}"
            );
            assert_eq!(err.body().error, code);
        }
    }

    #[test]
    fn library_errors_keep_the_status_and_code_core_gives_them() {
        // Core's table of codes is tested in `splitfeat_core::api`.
        for e in [
            InferError::EmptyBody,
            InferError::UnknownModel("x".into()),
            PipelineError::Bitstream(BitstreamError::TooShort { len: 3 }).into(),
        ] {
            let (status, code) = e.status_and_code();
            let err = ApiError::from(e);
            assert_eq!(
                err.status_and_code(),
                (StatusCode::from_u16(status).unwrap(), code)
            );
            assert_eq!(err.body().error, code);
        }
    }
}
