//! The planes format against the JSON one, through the real server: for the same
//! stream both give the same pixels for every output and the same figures.

mod common;

use axum::http::Method;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use burn::prelude::Device;
use common::{Fixture, Reply, TestServer, full, post_stream, send};
use splitfeat_cloud::Config;
use splitfeat_core::api::planes::{self, PlanesResponse};
use splitfeat_core::codec::CodecId;
use splitfeat_core::quant::BitDepth;
use splitfeat_core::runtime::EdgeRuntime;
use splitfeat_core::runtime::Task;
use splitfeat_core::viz;
use splitfeat_core::zoo::Zoo;

async fn post_planes(url: &str, body: Vec<u8>) -> Reply {
    send(
        Method::POST,
        url,
        &[
            ("content-type", "application/octet-stream"),
            ("accept", planes::MEDIA_TYPE),
        ],
        full(body),
    )
    .await
}

fn png_rgb(json: &serde_json::Value, task: &str) -> Vec<u8> {
    let b64 = json["outputs"][task]["png"].as_str().expect("png");
    let png = BASE64.decode(b64).expect("base64");
    viz::decode_png_rgb(&png).expect("png").rgb
}

fn decode(reply: &Reply) -> PlanesResponse {
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(reply.header("content-type"), Some(planes::MEDIA_TYPE));
    planes::decode(&reply.body).expect("a planes response")
}

/// Every output of `planes` is drawn exactly as the PNG of `json` shows it, and
/// every figure but the timings is the same.
fn assert_same(json: &serde_json::Value, planes: &PlanesResponse, what: &str) {
    // Through JSON text, as a client reads it (f32 fields print as f32).
    let mut meta: serde_json::Value =
        serde_json::from_str(&serde_json::to_string(&planes.meta).unwrap()).unwrap();
    let mut json_meta = json.clone();
    for m in [&mut meta, &mut json_meta] {
        let m = m.as_object_mut().unwrap();
        m.remove("timings_ms");
        for task in ["seg", "disp", "recon"] {
            if let Some(o) = m["outputs"].get_mut(task) {
                o.as_object_mut().unwrap().remove("png");
            }
        }
    }
    assert_eq!(meta, json_meta, "{what}: metadata");
    for task in planes.outputs.tasks() {
        let drawn = planes.outputs.rgb(task).unwrap();
        let png = png_rgb(json, task.name());
        assert_eq!(drawn.len(), png.len(), "{what}: {} size", task.name());
        let differ = drawn
            .chunks(3)
            .zip(png.chunks(3))
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(differ, 0, "{what}: {} pixels differ", task.name());
    }
}

#[tokio::test]
async fn raw_planes_and_json_pngs_give_identical_pixels_for_every_output() {
    let fx = Fixture::new();
    let server = TestServer::start(fx.config()).await;
    let stream = fx.stream(0);
    let id = fx.id(0);

    for query in ["", "&tasks=disp,recon&max_disparity=0.75", "&tasks=seg"] {
        let url = server.url(&format!("/v1/infer?model={id}{query}"));
        let json = post_stream(&url, stream.clone()).await;
        assert_eq!(json.status, 200);
        assert_eq!(json.header("content-type"), Some("application/json"));
        assert_eq!(json.header("vary"), Some("accept"));
        let json = json.json();
        let by_accept = decode(&post_planes(&url, stream.clone()).await);
        let by_param = decode(&post_stream(&format!("{url}&format=planes"), stream.clone()).await);
        assert_same(&json, &by_accept, &format!("Accept, {query}"));
        assert_same(&json, &by_param, &format!("format=planes, {query}"));
        // Both ways of asking give the same planes.
        assert_eq!(by_accept.outputs, by_param.outputs);
        // `format=json` wins over the header.
        let forced = post_planes(&format!("{url}&format=json"), stream.clone()).await;
        assert_eq!(forced.header("content-type"), Some("application/json"));
        assert_eq!(forced.json()["outputs"], json["outputs"]);
    }

    server.stop().await;
}

/// The shipped model `tiny-l0` on a sample scene: real segmentation, disparity with
/// both black (no positive disparity) and coloured pixels, a real reconstruction.
#[tokio::test]
async fn the_shipped_model_draws_the_same_pixels_in_both_formats() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let zoo = Zoo::open(root.join("assets")).expect("assets/manifest.json");
    let entry = zoo.find("tiny-l0").expect("the shipped tiny-l0").clone();
    let weights = zoo.weights(&entry).expect("weights");
    let edge = EdgeRuntime::load(entry.config.clone(), &weights.edge, &Device::flex()).unwrap();
    let png = std::fs::read(root.join("www/samples/scene-3.png")).unwrap();
    let img = viz::decode_png_rgb(&png).unwrap();
    let stream = futures_lite::future::block_on(edge.encode_image(
        &img.rgb,
        img.height,
        img.width,
        CodecId::Ans,
        BitDepth::EIGHT,
    ))
    .unwrap()
    .bytes;

    let server = TestServer::start(Config {
        port: 0,
        assets: root.join("assets"),
        www: root.join("www"),
        models: vec!["tiny-l0".into()],
        ..Config::default()
    })
    .await;
    let url = server.url(&format!("/v1/infer?model={}", entry.id));
    let json = post_stream(&url, stream.clone()).await.json();
    let planes = decode(&post_planes(&url, stream.clone()).await);
    assert_same(&json, &planes, "tiny-l0");

    // The comparison sees something in every output.
    let colours = |task| {
        let rgb = planes.outputs.rgb(task).unwrap();
        let mut c: Vec<&[u8]> = rgb.chunks(3).collect();
        c.sort();
        c.dedup();
        c.len()
    };
    let d = planes.outputs.disp.as_ref().unwrap();
    let zero = d.values.iter().filter(|&&v| v == 0.0).count();
    println!(
        "tiny-l0, scene-3: {} seg colours, {} disp colours ({zero} of {} black), {} recon colours",
        colours(Task::Seg),
        colours(Task::Disp),
        d.values.len(),
        colours(Task::Recon)
    );
    assert!(colours(Task::Seg) >= 4);
    assert!(colours(Task::Disp) > 50);
    assert!(colours(Task::Recon) > 100);
    // In the planes format the PNG step is skipped.
    assert_eq!(planes.meta.timings_ms.encode_png, 0.0);

    server.stop().await;
}

#[tokio::test]
async fn errors_stay_json_and_a_bad_format_is_refused() {
    let fx = Fixture::new();
    let server = TestServer::start(fx.config()).await;
    let id = fx.id(0);
    let url = server.url(&format!("/v1/infer?model={id}"));

    let reply = post_planes(&url, vec![b'x'; 200]).await;
    reply.assert_error(400, "bad_magic");
    let reply = post_planes(
        &server.url("/v1/infer?model=0000000000000000"),
        fx.stream(0),
    )
    .await;
    reply.assert_error(404, "unknown_model");
    let reply = post_stream(&format!("{url}&format=png"), fx.stream(0)).await;
    reply.assert_error(400, "bad_param");
    assert!(
        reply.json()["message"]
            .as_str()
            .unwrap()
            .contains("\"png\"")
    );

    server.stop().await;
}
