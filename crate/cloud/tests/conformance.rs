//! The bitstream conformance suite (tests/conformance/) through the server: every
//! stream posted to `POST /v1/infer` of a served fixture model gets the answer the
//! suite expects (tests/conformance/README.md), so the server reports each defect
//! with the same code as the decoder library.
//!
//! The suite's streams carry their own model id; the server would refuse them all
//! as `model_mismatch` before looking further. So a stream whose CRC holds gets the
//! fixture model's id written in, and its CRC recomputed: the defect it was made for
//! is then the first one the server meets. Streams of another shape than the fixture
//! model's (16x4x8) must be refused as `shape_mismatch` once their header is valid,
//! and the empty stream as `empty_body` (docs/api.md: the body is checked first).
//! The fixture model ships no prior tables, so the suite's `prior` streams (valid or
//! not: they need tables before their payload can be read) are `no_tables`.

mod common;

use common::{Fixture, TestServer, post_stream};
use splitfeat_core::bitstream::{Limits, parse};
use splitfeat_core::pipeline::FeatureShape;

/// Where the model id sits in a stream (docs/bitstream.md, "Container").
const MODEL_ID: std::ops::Range<usize> = 5..13;

fn suite() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/conformance")
}

fn crc_holds(bytes: &[u8]) -> bool {
    bytes.len() >= 4 && {
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        crc32fast::hash(body).to_le_bytes() == crc
    }
}

/// The stream as if made for model `id`, when its CRC holds (else unchanged).
fn for_model(mut bytes: Vec<u8>, id: &[u8; 8]) -> Vec<u8> {
    if bytes.len() >= MODEL_ID.end + 4 && crc_holds(&bytes) {
        bytes[MODEL_ID].copy_from_slice(id);
        let body = bytes.len() - 4;
        let crc = crc32fast::hash(&bytes[..body]);
        bytes[body..].copy_from_slice(&crc.to_le_bytes());
    }
    bytes
}

#[tokio::test]
async fn the_server_answers_every_conformance_stream_as_the_suite_expects() {
    let fx = Fixture::new();
    let server = TestServer::start(fx.config()).await;
    let id = fx.models[0].entry.id.to_bytes();
    let url = server.url(&format!("/v1/infer?model={}&tasks=seg", fx.id(0)));
    let served = FeatureShape::new(16, 4, 8);
    let cases: serde_json::Value =
        serde_json::from_slice(&std::fs::read(suite().join("cases.json")).unwrap()).unwrap();
    let (mut accepted, mut refused) = (0, 0);
    for (kind, expected) in [("valid", None), ("invalid", Some("error"))] {
        for case in cases[kind].as_array().unwrap() {
            let file = case["file"].as_str().unwrap();
            let bytes = for_model(std::fs::read(suite().join(file)).unwrap(), &id);
            let other_shape =
                parse(&bytes, &Limits::default()).is_ok_and(|(h, _)| h.shape != served);
            let want = match (other_shape, expected) {
                // An empty body is refused by the HTTP layer before any decoding.
                _ if bytes.is_empty() => Some("empty_body"),
                (true, _) => Some("shape_mismatch"),
                // A prior stream needs the model's tables; the served one has none.
                _ if case.get("tables").is_some() => Some("no_tables"),
                (false, Some(field)) => case[field].as_str(),
                (false, None) => None,
            };
            let reply = post_stream(&url, bytes).await;
            match want {
                None => {
                    assert_eq!(
                        reply.status,
                        200,
                        "{file}: {}",
                        String::from_utf8_lossy(&reply.body)
                    );
                    accepted += 1;
                }
                Some(code) => {
                    let j = reply.json();
                    assert!(
                        reply.status.is_client_error(),
                        "{file}: {} {j}",
                        reply.status
                    );
                    assert_eq!(j["error"], code, "{file}: {j}");
                    refused += 1;
                }
            }
        }
    }
    // Every case was posted: the suite's 15 valid and 27 invalid streams.
    assert_eq!(
        accepted + refused,
        42,
        "{accepted} accepted, {refused} refused"
    );
    assert!(
        accepted >= 5,
        "only {accepted} valid streams of the served shape"
    );
    server.stop().await;
}
