//! Test harness: fixture assets in a temp dir, an in-process server on an ephemeral
//! loopback port, and a small HTTP/1.1 client.

#![allow(dead_code)]

use std::convert::Infallible;
use std::error::Error as StdError;
use std::net::SocketAddr;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use splitfeat_cloud::Config;
use splitfeat_cloud::fixture::{FixtureModel, write_assets};
use tokio::io::AsyncReadExt;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub type BoxError = Box<dyn StdError + Send + Sync>;
pub type ReqBody = BoxBody<Bytes, BoxError>;

/// Two untrained models, `a` and `b`, in a temp assets dir (removed on drop).
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub models: Vec<FixtureModel>,
}

impl Fixture {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let models = write_assets(dir.path(), &["a", "b"]).expect("fixture assets");
        assert_ne!(
            models[0].entry.id, models[1].entry.id,
            "fixture models must differ"
        );
        Fixture { dir, models }
    }

    /// A configuration serving these assets on an ephemeral port.
    pub fn config(&self) -> Config {
        Config {
            port: 0,
            assets: self.dir.path().to_path_buf(),
            www: self.dir.path().join("www"),
            ..Config::default()
        }
    }

    /// A valid stream for model `i` of a deterministic 40x70 test image.
    pub fn stream(&self, i: usize) -> Vec<u8> {
        let (h, w) = (40, 70);
        let rgb: Vec<u8> = (0..h * w * 3).map(|k| ((k * 7) % 251) as u8).collect();
        self.models[i].stream(&rgb, h, w).expect("stream")
    }

    pub fn id(&self, i: usize) -> String {
        self.models[i].entry.id.to_string()
    }
}

pub struct TestServer {
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    pub handle: JoinHandle<anyhow::Result<()>>,
}

impl TestServer {
    pub async fn start(config: Config) -> Self {
        let server = splitfeat_cloud::bind(config).await.expect("server starts");
        let addr = server.local_addr();
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(server.run(async {
            let _ = rx.await;
        }));
        TestServer {
            addr,
            shutdown: Some(tx),
            handle,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Starts graceful shutdown without waiting for it.
    pub fn begin_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    pub async fn stop(mut self) {
        self.begin_shutdown();
        self.handle
            .await
            .expect("server task")
            .expect("server result");
    }
}

pub fn client() -> Client<HttpConnector, ReqBody> {
    Client::builder(TokioExecutor::new()).build_http()
}

pub fn full(bytes: impl Into<Bytes>) -> ReqBody {
    Full::new(bytes.into())
        .map_err(|e: Infallible| -> BoxError { match e {} })
        .boxed()
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a JSON error reply with this status and code.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        let j = self.json();
        assert_eq!(self.status.as_u16(), status, "{j}");
        assert_eq!(j["error"], code, "{j}");
        assert!(j["message"].as_str().is_some_and(|m| !m.is_empty()), "{j}");
        assert_eq!(self.header("content-type"), Some("application/json"));
    }
}

pub async fn send(method: Method, url: &str, headers: &[(&str, &str)], body: ReqBody) -> Reply {
    let mut req = Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = client()
        .request(req.body(body).expect("request"))
        .await
        .expect("response");
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

pub async fn get(url: &str) -> Reply {
    send(Method::GET, url, &[], full(Bytes::new())).await
}

pub async fn post_stream(url: &str, body: Vec<u8>) -> Reply {
    send(
        Method::POST,
        url,
        &[("content-type", "application/octet-stream")],
        full(body),
    )
    .await
}

/// Reads one response whose body is `content-length` long; returns head and body.
pub async fn read_response(stream: &mut tokio::net::TcpStream) -> (String, Vec<u8>) {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        loop {
            if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&data[..end]).to_string();
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length: ")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap_or(0);
                if data.len() >= end + 4 + len {
                    return (head, data[end + 4..end + 4 + len].to_vec());
                }
            }
            let n = stream.read(&mut buf).await.expect("read");
            assert!(n > 0, "connection closed mid-response: {data:?}");
            data.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), read)
        .await
        .expect("a response within 10 s")
}

pub fn status_of(head: &str) -> u16 {
    head.split(' ').nth(1).unwrap().parse().unwrap()
}
