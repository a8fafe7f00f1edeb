//! Protection of the server: the inference slots and their queue (backpressure), the
//! bounded body reader, the content-type check, CORS, request ids, and the headers of
//! static files.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Result, bail};
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body_util::BodyExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, timeout_at};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestId, RequestId};

use crate::errors::ApiError;

pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// At most `max_concurrent` inferences run at once; up to `max_queue` more wait for a
/// slot (in arrival order: tokio's semaphore is fair). Beyond that a request is
/// refused at once, so a burst cannot pile up unbounded memory and latency.
#[derive(Debug, Clone)]
pub struct InferLimiter {
    slots: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    max_concurrent: usize,
    max_queue: usize,
}

/// Counts a request as queued while it lives, including when the client goes away
/// and the handler future is dropped mid-wait.
struct QueueGuard<'a>(&'a AtomicUsize);

impl Drop for QueueGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl InferLimiter {
    pub fn new(max_concurrent: usize, max_queue: usize) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(max_concurrent)),
            waiting: Arc::new(AtomicUsize::new(0)),
            max_concurrent,
            max_queue,
        }
    }

    /// Waits for a slot until `deadline`. The permit is meant to move into the
    /// blocking job, so that a job outliving its request (timeout, disconnect) still
    /// holds its slot until the computation really ends.
    pub async fn acquire(
        &self,
        deadline: Instant,
        timeout_ms: u64,
    ) -> Result<OwnedSemaphorePermit, ApiError> {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Ok(permit);
        }
        let ahead = self.waiting.fetch_add(1, Ordering::Relaxed);
        let _guard = QueueGuard(&self.waiting);
        if ahead >= self.max_queue {
            return Err(ApiError::Overloaded { queued: ahead });
        }
        match timeout_at(deadline, self.slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) => Err(ApiError::Internal("inference slots closed".into())),
            Err(_) => Err(ApiError::Timeout { ms: timeout_ms }),
        }
    }

    pub fn in_flight(&self) -> usize {
        self.max_concurrent
            .saturating_sub(self.slots.available_permits())
    }

    pub fn queued(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }
}

/// Accepts `application/octet-stream` (parameters allowed, case-insensitive).
pub fn check_octet_stream(headers: &HeaderMap) -> Result<(), ApiError> {
    let value = headers.get(header::CONTENT_TYPE);
    let essence = value
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim);
    match essence {
        Some(e) if e.eq_ignore_ascii_case("application/octet-stream") => Ok(()),
        _ => Err(ApiError::UnsupportedMediaType(value.map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .chars()
                .take(100)
                .collect()
        }))),
    }
}

/// The memory all buffered request bodies may take together: one byte of the
/// budget per byte of body. A request holds its share from the moment it is known
/// (the declared `Content-Length`, or each chunk as it arrives) until the request
/// ends, so that many clients each sending a large, slow body cannot together hold
/// more than the budget.
#[derive(Debug, Clone)]
pub struct BodyBudget {
    bytes: Arc<Semaphore>,
    total: usize,
}

/// A request's share of the [`BodyBudget`], given back when dropped.
#[derive(Debug)]
pub struct BodyPermit {
    permit: Option<OwnedSemaphorePermit>,
}

impl BodyPermit {
    pub fn bytes(&self) -> usize {
        self.permit.as_ref().map_or(0, |p| p.num_permits())
    }
}

impl BodyBudget {
    pub fn new(total: usize) -> Self {
        Self {
            bytes: Arc::new(Semaphore::new(total.min(Semaphore::MAX_PERMITS))),
            total,
        }
    }

    pub fn total(&self) -> usize {
        self.total
    }

    /// Bytes of the budget not held by any request.
    pub fn available(&self) -> usize {
        self.bytes.available_permits()
    }

    fn empty_permit(&self) -> BodyPermit {
        BodyPermit { permit: None }
    }

    /// Adds `n` bytes to `permit`, or refuses at once if the budget has not that much
    /// left (never waits: a waiting body would hold its connection and its bytes).
    fn grow(&self, permit: &mut BodyPermit, n: usize) -> Result<(), ApiError> {
        if n == 0 {
            return Ok(());
        }
        let n32 = u32::try_from(n).map_err(|_| ApiError::BodyBudget)?;
        let more = self
            .bytes
            .clone()
            .try_acquire_many_owned(n32)
            .map_err(|_| ApiError::BodyBudget)?;
        match &mut permit.permit {
            Some(p) => p.merge(more),
            None => permit.permit = Some(more),
        }
        Ok(())
    }
}

/// Reads the whole body, refusing more than `limit` bytes (a declared
/// `Content-Length` over the limit is refused before reading anything), a body that
/// does not fit in the [`BodyBudget`], and a body that has not fully arrived by
/// `deadline`.
///
/// Memory grows only with the bytes that have arrived: the declared length reserves
/// budget but allocates nothing, so a request declaring a large body and sending
/// little costs little.
pub async fn read_body(
    headers: &HeaderMap,
    mut body: Body,
    limit: usize,
    budget: &BodyBudget,
    deadline: Instant,
    timeout_ms: u64,
) -> Result<(Bytes, BodyPermit), ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let mut permit = budget.empty_permit();
    // Within the limit, so it fits in usize.
    let declared = declared.map(|n| n as usize);
    if let Some(n) = declared {
        budget.grow(&mut permit, n)?;
    }
    let read = async {
        let mut buf: Vec<u8> = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| ApiError::BodyRead(e.to_string()))?;
            if let Ok(data) = frame.into_data() {
                let len = buf.len() + data.len();
                if len > limit {
                    return Err(ApiError::PayloadTooLarge { limit });
                }
                let held = permit.bytes();
                if len > held {
                    budget.grow(&mut permit, len - held)?;
                }
                buf.extend_from_slice(&data);
            }
        }
        Ok(Bytes::from(buf))
    };
    let bytes = timeout_at(deadline, read)
        .await
        .map_err(|_| ApiError::BodyTimeout { ms: timeout_ms })??;
    Ok((bytes, permit))
}

/// At most `max` characters of a client-supplied string, for logs and messages, with
/// `…` when cut.
pub fn clip(s: &str, max: usize) -> String {
    let mut chars = s.chars();
    let mut out: String = chars.by_ref().take(max).collect();
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

/// Longest client-supplied string (model id, request id) written to the log.
pub const LOG_FIELD_MAX: usize = 64;

/// The CORS policy: none at all without `--allow-origin` (same-origin pages only),
/// every origin for `*`, else exactly the listed origins.
pub fn cors_layer(origins: &[String]) -> Result<Option<CorsLayer>> {
    if origins.is_empty() {
        return Ok(None);
    }
    let allow = if origins.iter().any(|o| o == "*") {
        if origins.len() > 1 {
            bail!("--allow-origin '*' already allows every origin; give it alone");
        }
        AllowOrigin::any()
    } else {
        let mut list = Vec::new();
        for o in origins {
            list.push(parse_origin(o)?);
        }
        AllowOrigin::list(list)
    };
    Ok(Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::HEAD, Method::POST])
            .allow_headers([header::CONTENT_TYPE])
            .expose_headers([X_REQUEST_ID])
            .max_age(Duration::from_secs(600)),
    ))
}

/// An origin is `scheme://host[:port]` exactly as browsers send it: a trailing slash
/// or a path would never match, so it is refused at start rather than ignored.
fn parse_origin(o: &str) -> Result<HeaderValue> {
    let Some((scheme, rest)) = o.split_once("://") else {
        bail!("--allow-origin {o:?}: expected scheme://host[:port]");
    };
    if !matches!(scheme, "http" | "https") || rest.is_empty() || rest.contains(['/', '?', '#', ' '])
    {
        bail!(
            "--allow-origin {o:?}: expected http(s)://host[:port] with no path or trailing slash"
        );
    }
    Ok(HeaderValue::from_str(o)?)
}

/// Request ids: `<8 hex digits of the start time>-<counter>`, unique per process and
/// distinct across restarts. A client's own `x-request-id` is kept.
#[derive(Debug, Clone)]
pub struct RequestIds {
    prefix: u32,
    next: Arc<AtomicU64>,
}

impl RequestIds {
    pub fn new() -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Self {
            prefix: now.as_millis() as u32,
            next: Arc::new(AtomicU64::new(1)),
        }
    }
}

impl Default for RequestIds {
    fn default() -> Self {
        Self::new()
    }
}

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("{:08x}-{n}", self.prefix))
            .ok()
            .map(RequestId::new)
    }
}

/// Content types that the page depends on, fixed here rather than left to the MIME
/// table of a dependency: browsers compile `.wasm` only as `application/wasm` and
/// run module scripts only with a JavaScript type.
pub fn static_content_type(path: &str) -> Option<&'static str> {
    let ext = path.rsplit_once('.').map(|(_, e)| e)?;
    Some(match ext.to_ascii_lowercase().as_str() {
        "wasm" => "application/wasm",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "bpk" => "application/octet-stream",
        "json" => "application/json",
        "html" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        _ => return None,
    })
}

/// Middleware for static files: the content types above, and `no-cache` so that
/// browsers revalidate (by ETag) and never run a stale page against a newer server.
pub async fn static_headers(request: Request, next: Next) -> Response {
    let content_type = static_content_type(request.uri().path());
    let mut response = next.run(request).await;
    if response.status().is_success() {
        let headers = response.headers_mut();
        if let Some(ct) = content_type {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_check() {
        let mut h = HeaderMap::new();
        assert!(check_octet_stream(&h).is_err());
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("Application/Octet-Stream; x=1"),
        );
        assert!(check_octet_stream(&h).is_ok());
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        assert!(check_octet_stream(&h).is_err());
    }

    #[test]
    fn origins_are_validated() {
        assert!(cors_layer(&[]).unwrap().is_none());
        assert!(cors_layer(&["*".into()]).unwrap().is_some());
        assert!(
            cors_layer(&["http://localhost:3000".into()])
                .unwrap()
                .is_some()
        );
        assert!(cors_layer(&["http://localhost:3000/".into()]).is_err());
        assert!(cors_layer(&["localhost".into()]).is_err());
        assert!(cors_layer(&["*".into(), "http://a.test".into()]).is_err());
    }

    #[test]
    fn static_types() {
        assert_eq!(
            static_content_type("/pkg/edge_bg.wasm"),
            Some("application/wasm")
        );
        assert_eq!(
            static_content_type("/app.js"),
            Some("text/javascript; charset=utf-8")
        );
        assert_eq!(
            static_content_type("/models/tiny/edge.bpk"),
            Some("application/octet-stream")
        );
        assert_eq!(static_content_type("/img.png"), None);
        assert_eq!(static_content_type("/"), None);
    }

    #[test]
    fn client_strings_are_clipped() {
        assert_eq!(clip("abc", 5), "abc");
        assert_eq!(clip("abcdef", 3), "abc…");
        let long = "x".repeat(60_000);
        assert_eq!(
            clip(&long, LOG_FIELD_MAX).chars().count(),
            LOG_FIELD_MAX + 1
        );
        assert_eq!(clip("ééé", 2), "éé…");
    }

    /// A body of these chunks, without a length (as a chunked upload).
    fn body_of(chunks: &[&'static [u8]]) -> Body {
        let (mut tx, body) =
            http_body_util::channel::Channel::<Bytes, std::io::Error>::new(chunks.len().max(1));
        for c in chunks {
            tx.try_send(hyper::body::Frame::data(Bytes::from_static(c)))
                .unwrap();
        }
        Body::new(body)
    }

    #[tokio::test]
    async fn body_budget_is_held_while_the_body_lives_and_refuses_beyond() {
        let budget = BodyBudget::new(10);
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut headers = HeaderMap::new();
        // Chunked (no Content-Length): the budget grows with what arrives.
        let (bytes, permit) = read_body(
            &headers,
            body_of(&[b"abc", b"def"]),
            100,
            &budget,
            deadline,
            1,
        )
        .await
        .unwrap();
        assert_eq!(&bytes[..], b"abcdef");
        assert_eq!(budget.available(), 4);
        let refused = read_body(
            &headers,
            body_of(&[b"abc", b"de"]),
            100,
            &budget,
            deadline,
            1,
        )
        .await;
        assert!(matches!(refused, Err(ApiError::BodyBudget)), "{refused:?}");
        assert_eq!(budget.available(), 4, "a refused body gives its share back");
        // A declared length reserves its share before anything arrives.
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("5"));
        let refused = read_body(&headers, body_of(&[]), 100, &budget, deadline, 1).await;
        assert!(matches!(refused, Err(ApiError::BodyBudget)), "{refused:?}");
        drop(permit);
        assert_eq!(budget.available(), 10);
        let (bytes, permit) = read_body(&headers, body_of(&[b"12345"]), 100, &budget, deadline, 1)
            .await
            .unwrap();
        assert_eq!((bytes.len(), permit.bytes(), budget.available()), (5, 5, 5));
        // Over the limit: 413 before any budget is taken.
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("101"));
        let refused = read_body(&headers, body_of(&[]), 100, &budget, deadline, 1).await;
        assert!(
            matches!(refused, Err(ApiError::PayloadTooLarge { .. })),
            "{refused:?}"
        );
    }

    #[tokio::test]
    async fn queue_is_bounded() {
        let limiter = InferLimiter::new(1, 0);
        let deadline = Instant::now() + Duration::from_millis(50);
        let held = limiter.acquire(deadline, 50).await.unwrap();
        assert_eq!(limiter.in_flight(), 1);
        assert!(matches!(
            limiter.acquire(deadline, 50).await,
            Err(ApiError::Overloaded { .. })
        ));
        let limiter = InferLimiter::new(1, 4);
        let _held2 = limiter.acquire(deadline, 50).await.unwrap();
        assert!(matches!(
            limiter.acquire(deadline, 50).await,
            Err(ApiError::Timeout { .. })
        ));
        assert_eq!(limiter.queued(), 0);
        drop(held);
    }
}
