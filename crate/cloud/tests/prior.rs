//! The `prior` codec through the server: a model that ships prior tables lists and
//! serves them, and decodes its `prior` streams to what the same codes under `ans`
//! give; a model without tables refuses such a stream as a conflict (409 no_tables).

mod common;

use common::{TestServer, get, post_stream};
use splitfeat_cloud::Config;
use splitfeat_cloud::fixture::write_assets_with_prior;
use splitfeat_core::codec::CodecId;
use splitfeat_core::quant::BitDepth;
use splitfeat_core::zoo::sha256_hex;

#[tokio::test]
async fn prior_streams_decode_with_the_models_tables() {
    let dir = tempfile::tempdir().unwrap();
    let mut models =
        write_assets_with_prior(dir.path(), &["plain", "learned"], &["learned"]).unwrap();
    let server = TestServer::start(Config {
        port: 0,
        assets: dir.path().to_path_buf(),
        www: dir.path().join("www"),
        ..Config::default()
    })
    .await;

    // The catalogue points at the tables of the model that ships them, byte-exact.
    let catalog = get(&server.url("/v1/models")).await.json();
    let list = catalog["models"].as_array().unwrap();
    assert_eq!(
        (list[0]["name"].as_str(), list[1]["name"].as_str()),
        (Some("plain"), Some("learned"))
    );
    assert!(list[0].get("prior").is_none());
    let file = get(&server.url(list[1]["prior"]["url"].as_str().unwrap())).await;
    assert_eq!(file.status, 200);
    assert_eq!(
        file.body.len() as u64,
        list[1]["prior"]["bytes"].as_u64().unwrap()
    );
    assert_eq!(
        sha256_hex(&file.body),
        list[1]["prior"]["sha256"].as_str().unwrap()
    );

    let (h, w) = (32, 64);
    let rgb: Vec<u8> = (0..h * w * 3).map(|k| ((k * 13) % 247) as u8).collect();
    let learned = &models[1];
    let url = server.url(&format!("/v1/infer?model={}", learned.entry.id));
    for bits in [8, 4, 2].map(|b| BitDepth::new(b).unwrap()) {
        let prior = learned
            .stream_with(&rgb, h, w, CodecId::Prior, bits)
            .unwrap();
        let ans = learned.stream_with(&rgb, h, w, CodecId::Ans, bits).unwrap();
        let (by_prior, by_ans) = (post_stream(&url, prior).await, post_stream(&url, ans).await);
        assert_eq!(
            by_prior.status,
            200,
            "{}",
            String::from_utf8_lossy(&by_prior.body)
        );
        let (p, a) = (by_prior.json(), by_ans.json());
        assert_eq!(
            (p["codec"].as_str(), p["bits"].as_u64()),
            (Some("prior"), Some(u64::from(bits.get())))
        );
        // Same codes, so the same features and the same outputs.
        assert_eq!(p["outputs"], a["outputs"], "{bits} bits");
    }

    // The plain model's edge coding with borrowed tables: a sound stream its server
    // model cannot decode without tables of its own.
    models[0].edge.tables = models[1].edge.tables.clone();
    let stream = models[0]
        .stream_with(&rgb, h, w, CodecId::Prior, BitDepth::EIGHT)
        .unwrap();
    let reply = post_stream(
        &server.url(&format!("/v1/infer?model={}", models[0].entry.id)),
        stream,
    )
    .await;
    assert_eq!(reply.status, 409);
    assert_eq!(reply.json()["error"], "no_tables");

    server.stop().await;
}
