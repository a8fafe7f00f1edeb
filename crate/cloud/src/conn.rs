//! Connections: the accept loop and what bounds each connection. HTTP/1.1 itself is
//! hyper's (`hyper::server::conn::http1` with hyper-util's tokio timer and graceful
//! shutdown); this module only sets its limits and adds what it lacks:
//!
//! - a cap on open connections (`--max-connections`): past it, new connections wait
//!   in the listen backlog, so idle clients cannot exhaust file descriptors;
//! - the header-read timeout (`--header-timeout-ms`), which hyper starts whenever a
//!   connection waits for a request, so it also closes idle keep-alive connections;
//! - a response-write timeout (`--write-timeout-ms`): a write that makes no progress
//!   for that long (the client stopped reading) fails and closes the connection;
//! - a shutdown deadline (`--shutdown-timeout-ms`): requests in flight may finish
//!   within it, then every remaining connection is closed;
//! - JSON bodies for the responses hyper writes by itself when a request cannot be
//!   parsed (400, 414, 431), which otherwise have empty bodies.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Sleep;

use crate::config::Config;
use crate::errors::error_json;

/// Largest request head (request line and headers) in bytes; a larger one gets
/// `431 headers_too_large` (a long request line included).
pub const MAX_HEAD_BYTES: usize = 64 << 10;
/// Most header fields in one request (hyper's default); more gets
/// `431 headers_too_large`.
pub const MAX_HEADERS: usize = 100;

/// The per-connection limits, from the configuration.
#[derive(Debug, Clone)]
pub struct ConnLimits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub write_timeout: Duration,
    pub shutdown_timeout: Duration,
}

impl ConnLimits {
    pub fn from_config(c: &Config) -> Self {
        Self {
            max_connections: c.max_connections,
            header_timeout: c.header_timeout(),
            write_timeout: c.write_timeout(),
            shutdown_timeout: c.shutdown_timeout(),
        }
    }
}

/// Accepts connections and serves `router` on each until `shutdown` resolves, then
/// drains them within the shutdown deadline.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        // The size check applies to a complete head; the buffer bound stops reading
        // one that never completes (both answer 431).
        .max_header_size(MAX_HEAD_BYTES)
        .max_buf_size(2 * MAX_HEAD_BYTES)
        .keep_alive(true);

    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);

    loop {
        // Reap finished connections so the set stays as small as the open ones.
        while tasks.try_join_next().is_some() {}
        // A slot first: at the cap, new connections stay in the backlog.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors or a connection reset before accept: wait a
                    // little (closing connections free descriptors) and go on.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(GuardedIo::new(stream, limits.write_timeout));
        let service = TowerToHyperService::new(router.clone());
        let connection = graceful.watch(builder.serve_connection(io, service));
        tasks.spawn(async move {
            let _slot = slot;
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "connection closed with an error");
            }
        });
    }

    drop(listener);
    let open = tasks.len();
    tracing::info!(
        connections = open,
        deadline_ms = limits.shutdown_timeout.as_millis() as u64,
        "shutting down: finishing requests in flight"
    );
    if tokio::time::timeout(limits.shutdown_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            connections = tasks.len(),
            "shutdown deadline passed: closing the remaining connections"
        );
    }
    tasks.shutdown().await;
    Ok(())
}

/// A TCP stream with a write-stall timeout, which also gives hyper's automatic
/// parse-error responses a JSON body.
pub struct GuardedIo {
    inner: TcpStream,
    write_timeout: Duration,
    /// Armed while a write, flush or shutdown is blocked; cleared on progress.
    stalled: Option<Pin<Box<Sleep>>>,
    /// A replacement response being written in place of hyper's bodyless one.
    replacement: Option<Replacement>,
}

struct Replacement {
    bytes: Vec<u8>,
    written: usize,
}

impl GuardedIo {
    pub fn new(inner: TcpStream, write_timeout: Duration) -> Self {
        Self {
            inner,
            write_timeout,
            stalled: None,
            replacement: None,
        }
    }

    /// Runs one write-side operation; while it stays pending, the stall timer runs,
    /// and when the timer fires the operation fails with `TimedOut`.
    fn guard<T>(
        &mut self,
        cx: &mut Context<'_>,
        op: impl FnOnce(Pin<&mut TcpStream>, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match op(Pin::new(&mut self.inner), cx) {
            Poll::Ready(r) => {
                self.stalled = None;
                Poll::Ready(r)
            }
            Poll::Pending => {
                let timeout = self.write_timeout;
                let timer = self
                    .stalled
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "response write made no progress within the write timeout",
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl AsyncRead for GuardedIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for GuardedIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.replacement.is_none()
            && let Some(bytes) = json_parse_error_response(buf)
        {
            this.replacement = Some(Replacement { bytes, written: 0 });
        }
        if let Some(mut rep) = this.replacement.take() {
            while rep.written < rep.bytes.len() {
                let rest = &rep.bytes[rep.written..];
                match this.guard(cx, |io, cx| io.poll_write(cx, rest)) {
                    Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                    Poll::Ready(Ok(n)) => rep.written += n,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => {
                        this.replacement = Some(rep);
                        return Poll::Pending;
                    }
                }
            }
            // hyper's response counts as written: its replacement is.
            return Poll::Ready(Ok(buf.len()));
        }
        this.guard(cx, |io, cx| io.poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().guard(cx, |io, cx| io.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().guard(cx, |io, cx| io.poll_shutdown(cx))
    }
}

/// hyper answers a request it cannot parse with a status line and no body
/// (`content-length: 0`, no content type) and then closes the connection. The
/// application never sends such a response (every error it makes has a JSON body,
/// see `routes::json_errors`), so one seen on the wire is hyper's, and is replaced
/// by the same status with a JSON body.
fn json_parse_error_response(buf: &[u8]) -> Option<Vec<u8>> {
    let status = [
        StatusCode::BAD_REQUEST,
        StatusCode::URI_TOO_LONG,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
    ]
    .into_iter()
    .find(|s| buf.starts_with(format!("HTTP/1.1 {} ", s.as_u16()).as_bytes()))?;
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let bodyless = head.contains("\r\ncontent-length: 0") && !head.contains("\r\ncontent-type:");
    if !bodyless || buf.len() != end + 4 {
        return None;
    }
    let body = error_json(status);
    let mut out = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bodyless_parse_errors_are_replaced() {
        let hyper_431 = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Mon, 01 Jan 2024 00:00:00 GMT\r\n\r\n";
        let out = json_parse_error_response(hyper_431).expect("replaced");
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 431 "), "{text}");
        assert!(
            text.contains("content-type: application/json\r\n"),
            "{text}"
        );
        let body = text.split("\r\n\r\n").nth(1).unwrap();
        let j: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(j["error"], "headers_too_large");
        assert!(text.contains(&format!("content-length: {}\r\n", body.len())));

        // A response with a body, or a success, is the application's: left alone.
        assert!(
            json_parse_error_response(
                b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
            )
            .is_none()
        );
        assert!(
            json_parse_error_response(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_none()
        );
        assert!(
            json_parse_error_response(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
                .is_none()
        );
    }
}
