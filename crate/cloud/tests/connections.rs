//! Connection and memory bounds on loopback, with raw TCP clients that misbehave:
//! partial headers (slow-loris), idle keep-alive, a connection cap, a global budget
//! for buffered bodies, a huge declared Content-Length, a client that stops reading,
//! the shutdown deadline, and JSON bodies for the HTTP parser's own refusals. Every
//! wait is bounded, so a regression fails instead of hanging.

mod common;

use std::time::{Duration, Instant};

use common::{Fixture, TestServer, get, post_stream, read_response, status_of};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the peer closes (EOF or reset), at most `within`. Returns the bytes
/// read, or `None` if the connection was still open at the end.
async fn read_to_close(stream: &mut TcpStream, within: Duration) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 << 10];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(out),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn partial_headers_and_idle_connections_are_closed() {
    let fx = Fixture::new();
    let mut config = fx.config();
    config.header_timeout_ms = 300;
    let server = TestServer::start(config).await;

    // Half a request head, then nothing.
    let mut partial = TcpStream::connect(server.addr).await.unwrap();
    partial
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // A head trickled one field every 100 ms: progress does not extend the limit.
    let mut trickle = TcpStream::connect(server.addr).await.unwrap();
    trickle
        .write_all(b"GET /healthz HTTP/1.1\r\n")
        .await
        .unwrap();
    let trickler = tokio::spawn(async move {
        for i in 0..50 {
            if trickle
                .write_all(format!("x-{i}: y\r\n").as_bytes())
                .await
                .is_err()
            {
                return Some(i);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    });
    // A keep-alive connection that answered one request and then stays idle.
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (head, _) = read_response(&mut idle).await;
    assert_eq!(status_of(&head), 200, "{head}");

    let t = Instant::now();
    let got = read_to_close(&mut partial, Duration::from_secs(5)).await;
    assert!(got.is_some(), "partial headers still open after 5 s");
    assert!(
        t.elapsed() >= Duration::from_millis(150),
        "{:?}",
        t.elapsed()
    );
    assert!(
        read_to_close(&mut idle, Duration::from_secs(5))
            .await
            .is_some(),
        "idle keep-alive connection still open after 5 s"
    );
    let stopped_at = tokio::time::timeout(Duration::from_secs(10), trickler)
        .await
        .expect("trickling client stopped")
        .unwrap();
    assert!(
        stopped_at.is_some_and(|i| i < 40),
        "trickled head was not cut off: {stopped_at:?}"
    );

    // The server itself is fine.
    assert_eq!(get(&server.url("/healthz")).await.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn the_connection_cap_holds_new_connections_until_one_closes() {
    let fx = Fixture::new();
    let mut config = fx.config();
    config.max_connections = 2;
    let server = TestServer::start(config).await;

    let first = TcpStream::connect(server.addr).await.unwrap();
    let _second = TcpStream::connect(server.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let url = server.url("/healthz");
    let waiting = tokio::spawn(async move { get(&url).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !waiting.is_finished(),
        "a third connection was served past a cap of 2"
    );
    drop(first);
    let reply = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("served once a slot is free")
        .unwrap();
    assert_eq!(reply.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn bodies_over_the_global_budget_get_503_with_retry_after() {
    let fx = Fixture::new();
    let stream = fx.stream(0);
    let limit = 4096;
    assert!(stream.len() < limit);
    let mut config = fx.config();
    config.max_body_bytes = limit;
    // Room for one full-size body and not for another stream besides.
    config.max_body_budget_bytes = limit + stream.len() - 1;
    let server = TestServer::start(config).await;
    let path = format!("/v1/infer?model={}", fx.id(0));

    // A client declares a full-size body and sends 10 bytes of it.
    let mut holder = TcpStream::connect(server.addr).await.unwrap();
    holder
        .write_all(
            format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: {limit}\r\n\r\n0123456789"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let reply = post_stream(&server.url(&path), stream.clone()).await;
    reply.assert_error(503, "overloaded");
    assert_eq!(reply.header("retry-after"), Some("1"));

    // Once the holder goes away its share comes back.
    drop(holder);
    let t = Instant::now();
    loop {
        let reply = post_stream(&server.url(&path), stream.clone()).await;
        if reply.status == 200 {
            break;
        }
        reply.assert_error(503, "overloaded");
        assert!(t.elapsed() < Duration::from_secs(5), "budget not released");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.stop().await;
}

/// Virtual memory of this process, in bytes (Linux).
#[tokio::test]
async fn an_unbounded_body_limit_is_refused_at_start_up() {
    let fx = Fixture::new();
    let mut config = fx.config();
    config.max_body_bytes = 1 << 40;
    let err = format!(
        "{:#}",
        splitfeat_cloud::bind(config).await.err().expect("refused")
    );
    assert!(err.contains("--max-body-bytes 1099511627776"), "{err}");
}

#[tokio::test]
async fn a_client_that_stops_reading_is_cut_off_by_the_write_timeout() {
    let fx = Fixture::new();
    let www = fx.dir.path().join("www");
    std::fs::create_dir_all(&www).unwrap();
    let size = 32usize << 20;
    std::fs::write(www.join("big.bin"), vec![7u8; size]).unwrap();
    let mut config = fx.config();
    config.write_timeout_ms = 300;
    let server = TestServer::start(config).await;

    let mut client = TcpStream::connect(server.addr).await.unwrap();
    client
        .write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    // Not reading: the socket buffers fill and the server's write stalls.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got = read_to_close(&mut client, Duration::from_secs(10))
        .await
        .expect("connection closed");
    assert!(
        got.len() < size,
        "the whole file arrived ({} bytes)",
        got.len()
    );
    assert_eq!(get(&server.url("/healthz")).await.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn shutdown_ends_within_its_deadline_despite_stalled_clients() {
    let fx = Fixture::new();
    let mut config = fx.config();
    config.header_timeout_ms = 60_000;
    config.timeout_ms = 60_000;
    config.shutdown_timeout_ms = 300;
    let mut server = TestServer::start(config).await;

    let mut partial_head = TcpStream::connect(server.addr).await.unwrap();
    partial_head
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut partial_body = TcpStream::connect(server.addr).await.unwrap();
    partial_body
        .write_all(
            format!(
                "POST /v1/infer?model={} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 100\r\n\r\n0123",
                fx.id(0)
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let t = Instant::now();
    server.begin_shutdown();
    tokio::time::timeout(Duration::from_secs(5), &mut server.handle)
        .await
        .expect("server stopped within 5 s")
        .unwrap()
        .unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(250),
        "stopped before the deadline: {:?}",
        t.elapsed()
    );
    for s in [&mut partial_head, &mut partial_body] {
        assert!(
            read_to_close(s, Duration::from_secs(2)).await.is_some(),
            "a stalled connection outlived the server"
        );
    }
}

#[tokio::test]
async fn the_http_parsers_refusals_have_json_bodies() {
    let fx = Fixture::new();
    let server = TestServer::start(fx.config()).await;

    let cases: [(Vec<u8>, u16, &str); 4] = [
        (b"NOT HTTP AT ALL\r\n\r\n".to_vec(), 400, "bad_request"),
        (
            // A long request line counts against the head's 64 KiB.
            format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000)).into_bytes(),
            431,
            "headers_too_large",
        ),
        (
            format!(
                "GET /healthz HTTP/1.1\r\nHost: x\r\nx-big: {}\r\n\r\n",
                "a".repeat(100_000)
            )
            .into_bytes(),
            431,
            "headers_too_large",
        ),
        (
            format!(
                "GET /healthz HTTP/1.1\r\nHost: x\r\n{}\r\n",
                (0..200)
                    .map(|i| format!("x-{i}: y\r\n"))
                    .collect::<String>()
            )
            .into_bytes(),
            431,
            "headers_too_large",
        ),
    ];
    for (request, status, code) in cases {
        let mut client = TcpStream::connect(server.addr).await.unwrap();
        // The server may answer and close before all of a large head is written.
        let _ = client.write_all(&request).await;
        let (head, body) = read_response(&mut client).await;
        assert_eq!(status_of(&head), status, "{head}");
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{head}"
        );
        let j: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(j["error"], code, "{j}");
        assert!(j["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    server.stop().await;
}

#[tokio::test]
async fn only_model_files_are_served_from_assets_and_every_404_is_json() {
    let fx = Fixture::new();
    let checkpoints = fx.dir.path().join("checkpoints");
    std::fs::create_dir_all(&checkpoints).unwrap();
    std::fs::write(checkpoints.join("base.sfck"), b"optimizer state").unwrap();
    std::fs::write(fx.dir.path().join("notes.txt"), b"private").unwrap();
    let server = TestServer::start(fx.config()).await;

    let manifest = get(&server.url("/assets/manifest.json")).await;
    assert_eq!(manifest.status, 200);
    assert_eq!(manifest.json()["models"].as_array().unwrap().len(), 2);
    let heads = &fx.models[0].entry.heads.path;
    assert_eq!(
        get(&server.url(&format!("/assets/{heads}"))).await.status,
        200
    );
    for path in [
        "/assets/checkpoints/base.sfck",
        "/assets/notes.txt",
        "/assets/models/%2e%2e/checkpoints/base.sfck",
        "/no-such-page.html",
    ] {
        get(&server.url(path)).await.assert_error(404, "not_found");
    }
    server.stop().await;
}
