//! Every error the API returns, and the one place where each maps to an HTTP status
//! and a machine-readable code. Bodies are always `{"error": CODE, "message": TEXT}`.
//! The codes are part of the API (docs/api.md); the messages are for people.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use splitfeat_core::bitstream::BitstreamError;
use splitfeat_core::pipeline::PipelineError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("query parameter `model` is required (a model id from GET /v1/models)")]
    MissingModel,
    #[error("bad query string: {0}")]
    BadQuery(String),
    #[error("{0}")]
    UnknownTask(String),
    #[error("`tasks` is empty; give one or more of seg, disp, recon (or leave it out for all)")]
    NoTasks,
    #[error("{0}")]
    BadParam(String),
    #[error("no model {0:?} is loaded (see GET /v1/models)")]
    UnknownModel(String),
    #[error("content type must be application/octet-stream, got {}", .0.as_deref().unwrap_or("none"))]
    UnsupportedMediaType(Option<String>),
    #[error("request body exceeds the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("request body is empty; send the bitstream as the body")]
    EmptyBody,
    #[error("could not read the request body: {0}")]
    BodyRead(String),
    #[error("request body not received within {ms} ms")]
    BodyTimeout { ms: u64 },
    /// The bitstream was refused by the core decoder.
    #[error("{0}")]
    Bitstream(#[from] PipelineError),
    #[error("the server is at capacity ({queued} requests queued); retry later")]
    Overloaded { queued: usize },
    #[error("request not completed within {ms} ms")]
    Timeout { ms: u64 },
    #[error("no such endpoint")]
    NotFound,
    #[error("method not allowed for this endpoint")]
    MethodNotAllowed,
    #[error("internal error: {0}")]
    Internal(String),
}

/// The JSON error body.
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    pub error: &'static str,
    pub message: String,
}

impl ApiError {
    /// HTTP status and machine code.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        use StatusCode as S;
        match self {
            ApiError::MissingModel => (S::BAD_REQUEST, "missing_model"),
            ApiError::BadQuery(_) => (S::BAD_REQUEST, "bad_query"),
            ApiError::UnknownTask(_) => (S::BAD_REQUEST, "unknown_task"),
            ApiError::NoTasks => (S::BAD_REQUEST, "no_tasks"),
            ApiError::BadParam(_) => (S::BAD_REQUEST, "bad_param"),
            ApiError::UnknownModel(_) => (S::NOT_FOUND, "unknown_model"),
            ApiError::UnsupportedMediaType(_) => {
                (S::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            ApiError::PayloadTooLarge { .. } => (S::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::EmptyBody => (S::BAD_REQUEST, "empty_body"),
            ApiError::BodyRead(_) => (S::BAD_REQUEST, "body_read_error"),
            ApiError::BodyTimeout { .. } => (S::REQUEST_TIMEOUT, "body_timeout"),
            ApiError::Bitstream(e) => pipeline_status_and_code(e),
            ApiError::Overloaded { .. } => (S::SERVICE_UNAVAILABLE, "overloaded"),
            ApiError::Timeout { .. } => (S::SERVICE_UNAVAILABLE, "timeout"),
            ApiError::NotFound => (S::NOT_FOUND, "not_found"),
            ApiError::MethodNotAllowed => (S::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::Internal(_) => (S::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.status_and_code().1,
            message: self.to_string(),
        }
    }
}

/// A refused bitstream is always the client's fault (4xx): the decoder is bounded and
/// typed, so nothing it reports is a server failure. A well-formed stream made for
/// another model, or claiming another shape than the model produces, conflicts with
/// the model named in the URL (409); anything damaged or malformed is a 400.
fn pipeline_status_and_code(e: &PipelineError) -> (StatusCode, &'static str) {
    use StatusCode as S;
    match e {
        PipelineError::ModelMismatch { .. } => (S::CONFLICT, "model_mismatch"),
        PipelineError::ShapeMismatch { .. } => (S::CONFLICT, "shape_mismatch"),
        PipelineError::Bitstream(b) => match b {
            BitstreamError::TooShort { .. } | BitstreamError::Truncated { .. } => {
                (S::BAD_REQUEST, "truncated")
            }
            BitstreamError::BadMagic(_) => (S::BAD_REQUEST, "bad_magic"),
            BitstreamError::UnsupportedVersion(_) => (S::BAD_REQUEST, "unsupported_version"),
            BitstreamError::BadCrc { .. } => (S::BAD_REQUEST, "bad_crc"),
            BitstreamError::TrailingBytes { .. } => (S::BAD_REQUEST, "trailing_bytes"),
            BitstreamError::PayloadTooLarge { .. }
            | BitstreamError::Codec(_)
            | BitstreamError::BadBitDepth { .. }
            | BitstreamError::ShapeOutOfLimits { .. }
            | BitstreamError::NonFiniteRange { .. } => (S::BAD_REQUEST, "bad_header"),
        },
        // The header was sound and the CRC matched, yet the payload does not decode:
        // a stream forged or produced by a faulty encoder.
        PipelineError::Codec(_) | PipelineError::Tiling(_) | PipelineError::Quant(_) => {
            (S::BAD_REQUEST, "corrupt_payload")
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
        if matches!(self, ApiError::Overloaded { .. }) {
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
    use splitfeat_core::codec::CodecError;
    use splitfeat_core::pipeline::FeatureShape;

    #[test]
    fn client_errors_are_4xx_and_codes_are_stable() {
        let shape = FeatureShape::new(1, 1, 1);
        let cases = [
            (ApiError::MissingModel, 400, "missing_model"),
            (ApiError::UnknownModel("x".into()), 404, "unknown_model"),
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
                    expected: "a".into(),
                    found: "b".into(),
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
            (ApiError::Overloaded { queued: 3 }, 503, "overloaded"),
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
}
