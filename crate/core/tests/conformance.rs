//! The bitstream conformance suite (tests/conformance/, docs/bitstream.md): every
//! valid stream must decode to the tensor whose sha256 `cases.json` records, with the
//! header it records; every invalid stream must be refused with its error code (the
//! codes of docs/api.md).
//!
//! The suite's files are fixed bytes, written once by the generator below:
//! `SPLITFEAT_CONFORMANCE_WRITE=1 cargo test -p splitfeat-core --test conformance`.
//! Another implementation of the format checks itself by decoding the same files.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use splitfeat_core::api::pipeline_status_and_code;
use splitfeat_core::bitstream::{HEADER_LEN, Limits};
use splitfeat_core::codec::CodecId;
use splitfeat_core::codec::prior::{ModelTables, PriorTables};
use splitfeat_core::pipeline::{
    Decoded, FeatureShape, PipelineError, decode_features, decode_features_with, encode_features,
    encode_features_with,
};
use splitfeat_core::quant::{BitDepth, RangeRule};
use splitfeat_core::zoo::ModelId;

#[derive(Debug, Serialize, Deserialize)]
struct Suite {
    /// Bitstream format version the streams are written in.
    format_version: u8,
    valid: Vec<ValidCase>,
    invalid: Vec<InvalidCase>,
}

#[derive(Debug, Serialize, Deserialize)]
struct ValidCase {
    file: String,
    model_id: String,
    codec: String,
    bits: BitDepth,
    /// `[channels, height, width]`.
    shape: [u16; 3],
    min: f32,
    max: f32,
    /// sha256 of the decoded features as little-endian f32, CHW order.
    tensor_sha256: String,
    /// For `prior` streams: the model's tables (`ModelTables` JSON) to decode with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tables: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct InvalidCase {
    file: String,
    /// The error code the cloud answers (docs/api.md), given `tables` when set.
    error: String,
    what: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tables: Option<String>,
}

/// The tables file of the suite's `prior` streams.
const TABLES_FILE: &str = "prior-tables.json";

/// The suite's prior tables: per channel a geometric distribution over 40 codes (the
/// escape takes the rest), each channel's ratio its own, so that a decoder that used
/// another channel's table would decode other codes.
fn suite_tables() -> ModelTables {
    let channels: Vec<Vec<f64>> = (0..16)
        .map(|c| {
            let r = 0.80 + 0.01 * c as f64;
            (0..40).map(|k| (1.0 - r) * r.powi(k)).collect()
        })
        .collect();
    ModelTables::from(PriorTables::from_probabilities(&channels))
}

/// Decodes with the tables a case names (read from the suite directory).
fn decode_case(bytes: &[u8], tables: Option<&str>) -> Result<Decoded, PipelineError> {
    let tables = tables.map(|file| {
        let json = std::fs::read(suite_dir().join(file)).expect("the suite's tables file");
        ModelTables::from_json(&json, 16).expect("the suite's tables parse")
    });
    decode_features_with(bytes, &Limits::default(), tables.as_ref())
}

fn suite_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/conformance")
}

fn tensor_sha256(values: &[f32]) -> String {
    let mut h = Sha256::new();
    for v in values {
        h.update(v.to_le_bytes());
    }
    hex::encode(h.finalize())
}

const MODEL_ID: ModelId = ModelId::from_bytes(*b"SFconfrm");

/// Sparse, non-negative features like a ReLU bottleneck's, deterministic.
fn features(shape: FeatureShape, seed: u32) -> Vec<f32> {
    (0..shape.len())
        .map(|i| {
            let x = (i as f32 * 0.37 + seed as f32 * 1.3).sin() * 3.0 + (i % 7) as f32 * 0.11 - 0.6;
            x.max(0.0)
        })
        .collect()
}

/// Recomputes the CRC of an edited stream whose payload length field is right.
fn fix_crc(mut bytes: Vec<u8>) -> Vec<u8> {
    let end = bytes.len() - 4;
    let crc = crc32fast::hash(&bytes[..end]);
    bytes[end..].copy_from_slice(&crc.to_le_bytes());
    bytes
}

/// Replaces the payload, fixing its length field and the CRC.
fn with_payload(stream: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut out = stream[..HEADER_LEN].to_vec();
    out[30..34].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&[0; 4]);
    fix_crc(out)
}

/// The suite's streams: (file, bytes) for valid ones with their metadata, and the
/// invalid ones with their expected code.
fn generate() -> (Suite, Vec<(String, Vec<u8>)>) {
    let small = FeatureShape::new(16, 4, 8);
    let tiny = FeatureShape::new(64, 8, 16);
    let settings: [(&str, FeatureShape, u32, CodecId, u8); 12] = [
        ("png-8", small, 1, CodecId::Png, 8),
        ("png-2", small, 2, CodecId::Png, 2),
        ("png-4", small, 3, CodecId::Png, 4),
        ("png-12", small, 4, CodecId::Png, 12),
        ("png-16", small, 5, CodecId::Png, 16),
        ("png-8-tiny", tiny, 6, CodecId::Png, 8),
        ("ans-8", small, 7, CodecId::Ans, 8),
        ("ans-3", small, 8, CodecId::Ans, 3),
        ("ans-16", small, 9, CodecId::Ans, 16),
        ("ans-8-tiny", tiny, 10, CodecId::Ans, 8),
        ("jpeg90-8", small, 11, CodecId::Jpeg { quality: 90 }, 8),
        ("jpeg50-8-tiny", tiny, 12, CodecId::Jpeg { quality: 50 }, 8),
    ];
    let mut files = Vec::new();
    let mut valid = Vec::new();
    for (name, shape, seed, codec, bits) in settings {
        let bits = BitDepth::new(bits).unwrap();
        let values = features(shape, seed);
        let enc = encode_features(&values, shape, MODEL_ID, codec, bits).expect("encode");
        let decoded = decode_features(&enc.bytes, &Limits::default()).expect("decode");
        let file = format!("valid/{name}.spft");
        valid.push(ValidCase {
            file: file.clone(),
            model_id: MODEL_ID.to_string(),
            codec: codec.to_string(),
            bits,
            shape: [shape.channels, shape.height, shape.width],
            min: enc.header.min,
            max: enc.header.max,
            tensor_sha256: tensor_sha256(&decoded.values),
            tables: None,
        });
        files.push((file, enc.bytes));
    }
    // A constant tensor: min == max, every code 0.
    let shape = small;
    let enc = encode_features(
        &vec![0.75; shape.len()],
        shape,
        MODEL_ID,
        CodecId::Png,
        BitDepth::EIGHT,
    )
    .unwrap();
    let decoded = decode_features(&enc.bytes, &Limits::default()).unwrap();
    valid.push(ValidCase {
        file: "valid/png-8-constant.spft".into(),
        model_id: MODEL_ID.to_string(),
        codec: "png".into(),
        bits: BitDepth::EIGHT,
        shape: [16, 4, 8],
        min: 0.75,
        max: 0.75,
        tensor_sha256: tensor_sha256(&decoded.values),
        tables: None,
    });
    files.push(("valid/png-8-constant.spft".into(), enc.bytes));

    // `prior` streams: the codes under the suite's tables (codes past a table take the
    // escape), decodable only with them.
    let tables = suite_tables();
    let mut prior_streams = Vec::new();
    for (name, seed, bits) in [("prior-8", 13, 8), ("prior-4", 14, 4)] {
        let bits = BitDepth::new(bits).unwrap();
        let values = features(small, seed);
        let enc = encode_features_with(
            &values,
            small,
            MODEL_ID,
            CodecId::Prior,
            bits,
            RangeRule::MinMax,
            Some(&tables),
        )
        .expect("encode prior");
        let decoded = decode_features_with(&enc.bytes, &Limits::default(), Some(&tables))
            .expect("decode prior");
        let file = format!("valid/{name}.spft");
        valid.push(ValidCase {
            file: file.clone(),
            model_id: MODEL_ID.to_string(),
            codec: "prior".into(),
            bits,
            shape: [16, 4, 8],
            min: enc.header.min,
            max: enc.header.max,
            tensor_sha256: tensor_sha256(&decoded.values),
            tables: Some(TABLES_FILE.into()),
        });
        prior_streams.push(enc.bytes.clone());
        files.push((file, enc.bytes));
    }
    let mut tables_json = tables.to_json().unwrap();
    tables_json.push(b'\n');
    files.push((TABLES_FILE.into(), tables_json));

    let base = files[0].1.clone();
    let ans = files[6].1.clone();
    let prior = prior_streams[0].clone();
    let n = base.len();
    let edit = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = base.clone();
        f(&mut b);
        b
    };
    let invalid: Vec<(&str, &str, &str, Vec<u8>)> = vec![
        ("empty", "truncated", "no bytes", vec![]),
        (
            "short",
            "truncated",
            "20 bytes, shorter than any stream",
            base[..20].to_vec(),
        ),
        (
            "bad-magic",
            "bad_magic",
            "magic XPFT",
            edit(&|b| b[0] = b'X'),
        ),
        (
            "version-2",
            "unsupported_version",
            "version byte 2",
            edit(&|b| b[4] = 2),
        ),
        (
            "bad-crc",
            "bad_crc",
            "one payload bit flipped",
            edit(&|b| b[HEADER_LEN + 5] ^= 0x04),
        ),
        (
            "bad-crc-header",
            "bad_crc",
            "one bit of the max field flipped",
            edit(&|b| b[27] ^= 0x01),
        ),
        (
            "truncated-payload",
            "truncated",
            "last 10 bytes missing",
            base[..n - 10].to_vec(),
        ),
        (
            "trailing-bytes",
            "trailing_bytes",
            "3 bytes after the CRC",
            {
                let mut b = base.clone();
                b.extend_from_slice(b"xyz");
                b
            },
        ),
        (
            "payload-too-large",
            "bad_header",
            "payload length 2^32 - 1",
            edit(&|b| b[30..34].copy_from_slice(&u32::MAX.to_le_bytes())),
        ),
        (
            "unknown-codec",
            "bad_header",
            "codec tag 9, CRC valid",
            fix_crc(edit(&|b| b[13] = 9)),
        ),
        (
            "png-with-parameter",
            "bad_header",
            "png with parameter byte 5, CRC valid",
            fix_crc(edit(&|b| b[14] = 5)),
        ),
        (
            "bits-1",
            "bad_header",
            "bit depth 1, CRC valid",
            fix_crc(edit(&|b| b[15] = 1)),
        ),
        (
            "bits-17",
            "bad_header",
            "bit depth 17, CRC valid",
            fix_crc(edit(&|b| b[15] = 17)),
        ),
        (
            "jpeg-12-bits",
            "bad_header",
            "jpeg at 12 bits, CRC valid",
            fix_crc({
                let mut b = files[10].1.clone();
                b[15] = 12;
                b
            }),
        ),
        (
            "jpeg-quality-0",
            "bad_header",
            "jpeg quality 0, CRC valid",
            fix_crc({
                let mut b = files[10].1.clone();
                b[14] = 0;
                b
            }),
        ),
        (
            "zero-channels",
            "bad_header",
            "0 channels, CRC valid",
            fix_crc(edit(&|b| b[16..18].copy_from_slice(&0u16.to_le_bytes()))),
        ),
        (
            "huge-shape",
            "bad_header",
            "65535 x 65535 x 65535, CRC valid",
            fix_crc(edit(&|b| b[16..22].copy_from_slice(&[0xff; 6]))),
        ),
        (
            "nan-min",
            "bad_header",
            "min is NaN, CRC valid",
            fix_crc(edit(&|b| {
                b[22..26].copy_from_slice(&f32::NAN.to_le_bytes())
            })),
        ),
        (
            "infinite-max",
            "bad_header",
            "max is +inf, CRC valid",
            fix_crc(edit(&|b| {
                b[26..30].copy_from_slice(&f32::INFINITY.to_le_bytes())
            })),
        ),
        (
            "min-over-max",
            "bad_header",
            "min 5 > max 1, CRC valid",
            fix_crc(edit(&|b| {
                b[22..26].copy_from_slice(&5f32.to_le_bytes());
                b[26..30].copy_from_slice(&1f32.to_le_bytes());
            })),
        ),
        (
            "png-garbage",
            "corrupt_payload",
            "png payload of noise, CRC valid",
            with_payload(&base, &[0x5a; 64]),
        ),
        (
            "png-empty-payload",
            "corrupt_payload",
            "empty png payload, CRC valid",
            with_payload(&base, &[]),
        ),
        (
            "png-wrong-size",
            "corrupt_payload",
            "a valid PNG of another shape, CRC valid",
            {
                // The 64x8x16 stream's PNG in a 16x4x8 header.
                let tiny_png = &files[5].1[HEADER_LEN..files[5].1.len() - 4];
                with_payload(&base, tiny_png)
            },
        ),
        (
            "ans-garbage",
            "corrupt_payload",
            "ans payload of noise, CRC valid",
            with_payload(&ans, &[0x07, 0x00, 0x91, 0x33, 0x12, 0x00, 0xff, 0xee]),
        ),
        (
            "ans-cut",
            "corrupt_payload",
            "ans payload missing its last 4 bytes, CRC valid",
            {
                let payload = &ans[HEADER_LEN..ans.len() - 4];
                with_payload(&ans, &payload[..payload.len() - 4])
            },
        ),
    ];
    // Decoded with the suite's tables: what is wrong is the payload itself.
    let with_tables: Vec<(&str, &str, &str, Vec<u8>)> = vec![
        (
            "prior-garbage",
            "corrupt_payload",
            "prior payload of noise, CRC valid (decoded with the suite's tables)",
            with_payload(&prior, &[0x3c, 0x91, 0x00, 0x17, 0xe2, 0x05]),
        ),
        (
            "prior-cut",
            "corrupt_payload",
            "prior payload missing its last 4 bytes, CRC valid (with the suite's tables)",
            {
                let payload = &prior[HEADER_LEN..prior.len() - 4];
                with_payload(&prior, &payload[..payload.len() - 4])
            },
        ),
    ];
    let mut cases = Vec::new();
    let tagged = invalid
        .into_iter()
        .map(|c| (c, None))
        .chain(with_tables.into_iter().map(|c| (c, Some(TABLES_FILE))));
    for ((name, code, what, bytes), tables) in tagged {
        let file = format!("invalid/{name}.spft");
        cases.push(InvalidCase {
            file: file.clone(),
            error: code.into(),
            what: what.into(),
            tables: tables.map(String::from),
        });
        files.push((file, bytes));
    }
    (
        Suite {
            format_version: splitfeat_core::bitstream::VERSION,
            valid,
            invalid: cases,
        },
        files,
    )
}

#[test]
fn conformance_suite() {
    let dir = suite_dir();
    if std::env::var_os("SPLITFEAT_CONFORMANCE_WRITE").is_some() {
        let (suite, files) = generate();
        for (file, bytes) in &files {
            let path = dir.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, bytes).unwrap();
        }
        let mut json = serde_json::to_vec_pretty(&suite).unwrap();
        json.push(b'\n');
        std::fs::write(dir.join("cases.json"), json).unwrap();
    }

    let suite: Suite = serde_json::from_slice(
        &std::fs::read(dir.join("cases.json")).expect("tests/conformance/cases.json"),
    )
    .expect("cases.json parses");
    assert_eq!(suite.format_version, splitfeat_core::bitstream::VERSION);
    assert!(suite.valid.len() >= 10 && suite.invalid.len() >= 20);
    let codecs: std::collections::BTreeSet<&str> = suite
        .valid
        .iter()
        .map(|c| c.codec.trim_end_matches(char::is_numeric))
        .collect();
    assert_eq!(
        codecs.into_iter().collect::<Vec<_>>(),
        ["ans", "jpeg", "png", "prior"]
    );

    for case in &suite.valid {
        let bytes =
            std::fs::read(dir.join(&case.file)).unwrap_or_else(|e| panic!("{}: {e}", case.file));
        let decoded = decode_case(&bytes, case.tables.as_deref())
            .unwrap_or_else(|e| panic!("{}: {e}", case.file));
        if case.tables.is_some() {
            // Without the model's tables a sound prior stream is a conflict, not damage.
            let err = decode_case(&bytes, None).expect_err(&case.file);
            assert_eq!(
                pipeline_status_and_code(&err),
                (409, "no_tables"),
                "{}",
                case.file
            );
        }
        let h = &decoded.header;
        assert_eq!(h.model_id.to_string(), case.model_id, "{}", case.file);
        assert_eq!(h.codec.to_string(), case.codec, "{}", case.file);
        assert_eq!(h.bits, case.bits, "{}", case.file);
        assert_eq!(
            [h.shape.channels, h.shape.height, h.shape.width],
            case.shape,
            "{}",
            case.file
        );
        assert_eq!((h.min, h.max), (case.min, case.max), "{}", case.file);
        assert_eq!(decoded.values.len(), h.shape.len(), "{}", case.file);
        assert_eq!(
            tensor_sha256(&decoded.values),
            case.tensor_sha256,
            "{}: decoded tensor differs",
            case.file
        );
    }
    for case in &suite.invalid {
        let bytes =
            std::fs::read(dir.join(&case.file)).unwrap_or_else(|e| panic!("{}: {e}", case.file));
        match decode_case(&bytes, case.tables.as_deref()) {
            Ok(_) => panic!("{} ({}) decoded", case.file, case.what),
            Err(e) => assert_eq!(
                pipeline_status_and_code(&e).1,
                case.error,
                "{} ({}): {e}",
                case.file,
                case.what
            ),
        }
    }

    // The committed files are what the generator makes: invalid streams exactly, and
    // valid streams up to the encoders' choices (they must still decode to the same
    // tensors, checked above).
    let (generated, files) = generate();
    assert_eq!(
        generated.invalid.len(),
        suite.invalid.len(),
        "regenerate the suite"
    );
    for (file, bytes) in files.iter().filter(|(f, _)| f.starts_with("valid/")) {
        let case = suite
            .valid
            .iter()
            .find(|c| &c.file == file)
            .expect("case listed");
        let fresh = decode_case(bytes, case.tables.as_deref()).unwrap();
        assert_eq!(
            tensor_sha256(&fresh.values),
            case.tensor_sha256,
            "encoder changed {file}'s tensor"
        );
    }
}
