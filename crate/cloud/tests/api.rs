//! The HTTP API end to end: a real server on 127.0.0.1, real bitstreams from the edge
//! half of untrained test models, real HTTP requests.

mod common;

use std::time::Duration;

use axum::body::Bytes;
use axum::http::Method;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::{Fixture, TestServer, full, get, post_stream, send};
use splitfeat_core::bitstream::{self, Limits};
use splitfeat_core::codec::CodecId;
use splitfeat_core::pipeline::{FeatureShape, encode_features};
use splitfeat_core::quant::BitDepth;

/// Width and height of a base64 PNG, from its IHDR chunk.
fn png_size(b64: &serde_json::Value) -> (u32, u32) {
    let png = BASE64
        .decode(b64.as_str().expect("png is a string"))
        .expect("base64");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let be = |i: usize| u32::from_be_bytes(png[i..i + 4].try_into().unwrap());
    (be(16), be(20))
}

#[tokio::test]
async fn models_health_and_assets() {
    let fx = Fixture::new();
    let server = TestServer::start(fx.config()).await;

    let health = get(&server.url("/healthz")).await;
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["status"], "ok");
    assert_eq!(health.json()["models"], 2);

    let reply = get(&server.url("/v1/models")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let j = reply.json();
    let models = j["models"].as_array().unwrap();
    assert_eq!(models.len(), 2);
    assert_eq!(models[0]["name"], "a");
    assert_eq!(models[0]["id"], fx.id(0));
    assert_eq!(
        models[0]["input"],
        serde_json::json!({"width": 64, "height": 32})
    );
    assert_eq!(
        models[0]["bottleneck"],
        serde_json::json!({"channels": 16, "height": 4, "width": 8})
    );
    assert_eq!(j["classes"].as_array().unwrap().len(), 19);
    assert_eq!(j["classes"][0]["name"], "road");
    assert_eq!(j["classes"][0]["color"], serde_json::json!([128, 64, 128]));
    assert_eq!(j["tasks"], serde_json::json!(["seg", "disp", "recon"]));

    // The edge weights the catalog points at are served, byte-exact.
    let edge_url = models[0]["edge"]["url"].as_str().unwrap();
    let edge = get(&server.url(edge_url)).await;
    assert_eq!(edge.status, 200);
    assert_eq!(
        edge.header("content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(
        edge.body.len() as u64,
        models[0]["edge"]["bytes"].as_u64().unwrap()
    );
    assert!(edge.header("x-request-id").is_some());

    server.stop().await;
}

#[tokio::test]
async fn infer_returns_every_output_and_timings() {
    let fx = Fixture::new();
    let server = TestServer::start(fx.config()).await;
    let stream = fx.stream(0);

    let reply = post_stream(
        &server.url(&format!(
            "/v1/infer?model={}&tasks=seg,disp,recon",
            fx.id(0)
        )),
        stream.clone(),
    )
    .await;
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert!(reply.header("x-request-id").is_some());
    let j = reply.json();
    assert_eq!(j["model"], fx.id(0));
    assert_eq!(j["tasks"], serde_json::json!(["seg", "disp", "recon"]));
    assert_eq!(j["bytes_received"], stream.len());
    assert_eq!(
        (j["width"].as_u64(), j["height"].as_u64()),
        (Some(64), Some(32))
    );
    let bpe = j["bits_per_element"].as_f64().unwrap();
    assert!((bpe - stream.len() as f64 * 8.0 / (16.0 * 4.0 * 8.0)).abs() < 1e-9);
    assert_eq!(j["codec"], "png");
    for task in ["seg", "disp", "recon"] {
        assert_eq!(png_size(&j["outputs"][task]["png"]), (64, 32), "{task}");
        assert!(j["timings_ms"]["heads"][task].as_f64().unwrap() > 0.0);
    }
    let pixels: u64 = j["outputs"]["seg"]["class_pixels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(pixels, 64 * 32);
    assert!(j["outputs"]["disp"]["max_disparity"].as_f64().is_some());
    let t = &j["timings_ms"];
    for k in ["queue", "decode", "postprocess", "encode_png", "total"] {
        assert!(t[k].as_f64().is_some(), "timing {k}");
    }
    assert!(t["total"].as_f64().unwrap() >= t["heads"]["seg"].as_f64().unwrap());

    // A subset of tasks returns only those; all tasks is the default.
    let reply = post_stream(
        &server.url(&format!(
            "/v1/infer?model={}&tasks=disp&max_disparity=12.5",
            fx.id(0)
        )),
        stream.clone(),
    )
    .await;
    let j = reply.json();
    assert_eq!(j["tasks"], serde_json::json!(["disp"]));
    assert!(j["outputs"].get("seg").is_none() && j["outputs"].get("recon").is_none());
    assert_eq!(j["outputs"]["disp"]["max_disparity"], 12.5);
    assert!(j["timings_ms"]["heads"].get("seg").is_none());
    let reply = post_stream(
        &server.url(&format!("/v1/infer?model={}", fx.id(0))),
        stream,
    )
    .await;
    assert_eq!(
        reply.json()["tasks"],
        serde_json::json!(["seg", "disp", "recon"])
    );

    server.stop().await;
}

#[tokio::test]
async fn bad_requests_get_4xx_json_and_the_server_keeps_working() {
    let fx = Fixture::new();
    let mut config = fx.config();
    config.max_body_bytes = 64 << 10;
    let server = TestServer::start(config).await;
    let good = fx.stream(0);
    let infer_a = server.url(&format!("/v1/infer?model={}", fx.id(0)));
    let octet = [("content-type", "application/octet-stream")];

    // Query problems.
    post_stream(&server.url("/v1/infer"), good.clone())
        .await
        .assert_error(400, "missing_model");
    post_stream(&server.url("/v1/infer?model="), good.clone())
        .await
        .assert_error(400, "missing_model");
    post_stream(&format!("{infer_a}&tasks=seg,depth"), good.clone())
        .await
        .assert_error(400, "unknown_task");
    post_stream(&format!("{infer_a}&tasks="), good.clone())
        .await
        .assert_error(400, "no_tasks");
    post_stream(&format!("{infer_a}&max_disparity=-1"), good.clone())
        .await
        .assert_error(400, "bad_param");
    post_stream(&format!("{infer_a}&max_disparity=abc"), good.clone())
        .await
        .assert_error(400, "bad_query");
    post_stream(
        &server.url("/v1/infer?model=0123456789abcdef"),
        good.clone(),
    )
    .await
    .assert_error(404, "unknown_model");

    // Body and content type.
    send(Method::POST, &infer_a, &[], full(good.clone()))
        .await
        .assert_error(415, "unsupported_media_type");
    send(
        Method::POST,
        &infer_a,
        &[("content-type", "application/json")],
        full(good.clone()),
    )
    .await
    .assert_error(415, "unsupported_media_type");
    post_stream(&infer_a, vec![])
        .await
        .assert_error(400, "empty_body");
    post_stream(&infer_a, vec![0u8; (64 << 10) + 1])
        .await
        .assert_error(413, "payload_too_large");

    // Damaged streams.
    post_stream(&infer_a, good[..good.len() - 9].to_vec())
        .await
        .assert_error(400, "truncated");
    post_stream(&infer_a, good[..20].to_vec())
        .await
        .assert_error(400, "truncated");
    let mut flipped = good.clone();
    let mid = bitstream::HEADER_LEN + 3;
    flipped[mid] ^= 0x40;
    post_stream(&infer_a, flipped)
        .await
        .assert_error(400, "bad_crc");
    let mut magic = good.clone();
    magic[0] = b'X';
    post_stream(&infer_a, magic)
        .await
        .assert_error(400, "bad_magic");
    let mut trailing = good.clone();
    trailing.extend_from_slice(b"xyz");
    post_stream(&infer_a, trailing)
        .await
        .assert_error(400, "trailing_bytes");
    post_stream(&infer_a, vec![0u8; 200])
        .await
        .assert_error(400, "bad_magic");

    // Well-formed streams that do not belong to this model.
    post_stream(&infer_a, fx.stream(1))
        .await
        .assert_error(409, "model_mismatch");
    let id_a = fx.models[0].edge.model_id;
    let small = encode_features(
        &[0.5; 16],
        FeatureShape::new(4, 2, 2),
        id_a,
        CodecId::Png,
        BitDepth::EIGHT,
    )
    .unwrap();
    post_stream(&infer_a, small.bytes)
        .await
        .assert_error(409, "shape_mismatch");

    // A sound header and CRC around a payload that is not a PNG.
    let (header, _) = bitstream::parse(&good, &Limits::default()).unwrap();
    let forged = bitstream::write(&header, &[7u8; 50]).unwrap();
    post_stream(&infer_a, forged)
        .await
        .assert_error(400, "corrupt_payload");

    // Routing.
    get(&infer_a).await.assert_error(405, "method_not_allowed");
    get(&server.url("/v1/nothing"))
        .await
        .assert_error(404, "not_found");
    send(
        Method::DELETE,
        &server.url("/v1/models"),
        &octet,
        full(Bytes::new()),
    )
    .await
    .assert_error(405, "method_not_allowed");

    // Nothing above disturbed the server.
    let ok = post_stream(&infer_a, good).await;
    assert_eq!(ok.status, 200);
    assert_eq!(get(&server.url("/healthz")).await.json()["in_flight"], 0);
    server.stop().await;
}

#[tokio::test]
async fn static_files_have_the_types_browsers_need() {
    let fx = Fixture::new();
    let www = fx.dir.path().join("www");
    std::fs::create_dir_all(www.join("pkg")).unwrap();
    std::fs::write(www.join("index.html"), "<!doctype html><title>t</title>").unwrap();
    std::fs::write(www.join("app.js"), "export {};").unwrap();
    std::fs::write(www.join("pkg/edge_bg.wasm"), b"\0asm\x01\0\0\0").unwrap();
    let server = TestServer::start(fx.config()).await;

    let index = get(&server.url("/")).await;
    assert_eq!(index.status, 200);
    assert!(
        index
            .header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(
        get(&server.url("/app.js")).await.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(
        get(&server.url("/pkg/edge_bg.wasm"))
            .await
            .header("content-type"),
        Some("application/wasm")
    );
    let manifest = get(&server.url("/assets/manifest.json")).await;
    assert_eq!(manifest.status, 200);
    assert_eq!(manifest.header("content-type"), Some("application/json"));
    assert_eq!(get(&server.url("/missing.js")).await.status, 404);
    assert_eq!(get(&server.url("/assets/../Cargo.toml")).await.status, 404);
    server.stop().await;
}

#[tokio::test]
async fn cors_only_for_allowed_origins() {
    let fx = Fixture::new();
    let models = |s: &TestServer| s.url("/v1/models");

    // Default: same origin only, so no CORS headers for anyone.
    let server = TestServer::start(fx.config()).await;
    let r = send(
        Method::GET,
        &models(&server),
        &[("origin", "http://evil.test")],
        full(Bytes::new()),
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(r.header("access-control-allow-origin").is_none());
    server.stop().await;

    let mut config = fx.config();
    config.allow_origins = vec!["http://app.test:3000".into()];
    let server = TestServer::start(config).await;
    let r = send(
        Method::GET,
        &models(&server),
        &[("origin", "http://app.test:3000")],
        full(Bytes::new()),
    )
    .await;
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://app.test:3000")
    );
    let r = send(
        Method::GET,
        &models(&server),
        &[("origin", "http://evil.test")],
        full(Bytes::new()),
    )
    .await;
    assert!(r.header("access-control-allow-origin").is_none());
    let preflight = send(
        Method::OPTIONS,
        &server.url("/v1/infer"),
        &[
            ("origin", "http://app.test:3000"),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "content-type"),
        ],
        full(Bytes::new()),
    )
    .await;
    assert!(preflight.status.is_success());
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        Some("http://app.test:3000")
    );
    assert!(
        preflight
            .header("access-control-allow-methods")
            .unwrap()
            .contains("POST")
    );
    server.stop().await;

    let mut config = fx.config();
    config.allow_origins = vec!["*".into()];
    let server = TestServer::start(config).await;
    let r = send(
        Method::GET,
        &models(&server),
        &[("origin", "http://any.test")],
        full(Bytes::new()),
    )
    .await;
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    server.stop().await;
}

#[tokio::test]
async fn concurrent_requests_queue_or_are_refused_never_fail() {
    let fx = Fixture::new();
    let mut config = fx.config();
    config.max_concurrent = 1;
    config.max_queue = 2;
    let server = TestServer::start(config).await;
    let url = server.url(&format!("/v1/infer?model={}", fx.id(0)));
    let stream = fx.stream(0);
    let replies = futures_join(16, |_| {
        let (url, stream) = (url.clone(), stream.clone());
        async move { post_stream(&url, stream).await }
    })
    .await;
    let mut ok = 0;
    for r in &replies {
        if r.status == 200 {
            ok += 1;
        } else {
            r.assert_error(503, "overloaded");
            assert_eq!(r.header("retry-after"), Some("1"));
        }
    }
    assert!(ok >= 1);
    let health = get(&server.url("/healthz")).await.json();
    assert_eq!(
        (health["in_flight"].as_u64(), health["queued"].as_u64()),
        (Some(0), Some(0))
    );
    server.stop().await;
}

/// Runs `n` futures at once and collects their outputs in order.
async fn futures_join<F, Fut>(n: usize, f: F) -> Vec<common::Reply>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = common::Reply> + Send + 'static,
{
    let handles: Vec<_> = (0..n).map(|i| tokio::spawn(f(i))).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("request task"));
    }
    out
}

#[tokio::test]
async fn slow_uploads_time_out_with_408() {
    let fx = Fixture::new();
    let mut config = fx.config();
    config.timeout_ms = 300;
    let server = TestServer::start(config).await;
    let url = server.url(&format!("/v1/infer?model={}", fx.id(0)));
    let (mut tx, body) = http_body_util::channel::Channel::<Bytes, common::BoxError>::new(1);
    let sender = tokio::spawn(async move {
        let _ = tx.send_data(Bytes::from_static(b"SPFT")).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        drop(tx);
    });
    let reply = send(
        Method::POST,
        &url,
        &[("content-type", "application/octet-stream")],
        http_body_util::BodyExt::boxed(body),
    )
    .await;
    reply.assert_error(408, "body_timeout");
    sender.abort();
    server.stop().await;
}

#[tokio::test]
async fn graceful_shutdown_finishes_the_request_in_flight() {
    let fx = Fixture::new();
    let mut server = TestServer::start(fx.config()).await;
    let url = server.url(&format!("/v1/infer?model={}", fx.id(0)));
    let stream = fx.stream(0);

    // The request is under way (headers and half the body sent) when shutdown starts.
    let (mut tx, body) = http_body_util::channel::Channel::<Bytes, common::BoxError>::new(2);
    let half = stream.len() / 2;
    let (first, rest) = (
        Bytes::copy_from_slice(&stream[..half]),
        Bytes::copy_from_slice(&stream[half..]),
    );
    let request = tokio::spawn(async move {
        send(
            Method::POST,
            &url,
            &[("content-type", "application/octet-stream")],
            http_body_util::BodyExt::boxed(body),
        )
        .await
    });
    tx.send_data(first).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.begin_shutdown();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !server.handle.is_finished(),
        "server must wait for the request in flight"
    );
    tx.send_data(rest).await.unwrap();
    drop(tx);

    let reply = request.await.unwrap();
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    tokio::time::timeout(Duration::from_secs(10), server.handle)
        .await
        .expect("server stops")
        .unwrap()
        .unwrap();
    // And it no longer accepts connections.
    assert!(tokio::net::TcpStream::connect(server.addr).await.is_err());
}

#[tokio::test]
async fn start_up_refuses_bad_model_files_naming_them() {
    let fx = Fixture::new();
    let heads = fx.dir.path().join(&fx.models[1].entry.heads.path);

    let mut config = fx.config();
    config.models = vec!["nope".into()];
    let err = format!(
        "{:#}",
        splitfeat_cloud::bind(config)
            .await
            .err()
            .expect("unknown --model")
    );
    assert!(err.contains("nope"), "{err}");

    // Selecting a model loads only that one, so a broken other model does not matter.
    std::fs::write(&heads, b"tampered").unwrap();
    let mut config = fx.config();
    config.models = vec!["a".into()];
    let server = TestServer::start(config).await;
    assert_eq!(
        get(&server.url("/v1/models")).await.json()["models"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    server.stop().await;

    let err = format!(
        "{:#}",
        splitfeat_cloud::bind(fx.config())
            .await
            .err()
            .expect("tampered heads")
    );
    assert!(err.contains("heads.bpk") && err.contains("b"), "{err}");

    std::fs::remove_file(&heads).unwrap();
    let err = format!(
        "{:#}",
        splitfeat_cloud::bind(fx.config())
            .await
            .err()
            .expect("missing heads")
    );
    assert!(err.contains(&heads.display().to_string()), "{err}");

    // An edge file that does not match its id is refused too.
    std::fs::remove_dir_all(fx.dir.path().join("models/b")).unwrap();
    let edge_a = fx.dir.path().join(&fx.models[0].entry.edge.path);
    std::fs::write(&edge_a, b"other").unwrap();
    let mut config = fx.config();
    config.models = vec!["a".into()];
    let err = format!(
        "{:#}",
        splitfeat_cloud::bind(config).await.err().expect("bad edge")
    );
    assert!(err.contains("edge.bpk"), "{err}");

    std::fs::remove_file(fx.dir.path().join("manifest.json")).unwrap();
    let err = format!(
        "{:#}",
        splitfeat_cloud::bind(fx.config())
            .await
            .err()
            .expect("no manifest")
    );
    assert!(err.contains("manifest.json"), "{err}");
}

#[tokio::test]
async fn a_panic_in_the_model_is_a_500_and_the_server_survives() {
    use std::sync::Arc;

    use burn::prelude::Device;
    use splitfeat_cloud::models::{LoadedModel, Models};
    use splitfeat_cloud::{AppState, app};
    use splitfeat_core::runtime::CloudRuntime;

    let fx = Fixture::new();
    let config = fx.config();
    let state = tokio::task::spawn_blocking(move || AppState::new(config))
        .await
        .unwrap()
        .unwrap();

    // A model whose runtime believes the bottleneck has 8 channels while its heads
    // take 16: the stream decodes, and the heads' first convolution panics in burn.
    let entry = fx.models[0].entry.clone();
    let heads = std::fs::read(fx.dir.path().join(&entry.heads.path)).unwrap();
    let id = fx.models[0].edge.model_id;
    let mut runtime =
        CloudRuntime::load(entry.config.clone(), &heads, id, &Device::flex()).unwrap();
    runtime.config.stages.last_mut().unwrap().channels = 8;
    let mut models = Models::new();
    models.insert(
        entry.id,
        Arc::new(LoadedModel {
            entry: entry.clone(),
            runtime,
        }),
    );
    let state = AppState {
        models: Arc::new(models),
        ..state
    };

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app(state)).await });

    let stream = encode_features(
        &[0.25; 8 * 4 * 8],
        FeatureShape::new(8, 4, 8),
        id,
        CodecId::Png,
        BitDepth::EIGHT,
    )
    .unwrap();
    let url = format!("http://{addr}/v1/infer?model={}", entry.id);
    for _ in 0..2 {
        post_stream(&url, stream.bytes.clone())
            .await
            .assert_error(500, "internal");
    }
    let health = get(&format!("http://{addr}/healthz")).await;
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["in_flight"], 0);
    server.abort();
}
