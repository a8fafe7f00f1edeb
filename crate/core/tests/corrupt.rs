//! Malformed streams: every one gives a typed error, never a panic.

mod common;

use splitfeat_core::bitstream::{self, BitstreamError, HEADER_LEN, Header, Limits, MIN_LEN};
use splitfeat_core::codec::png::PngCodec;
use splitfeat_core::codec::{CodecError, CodecId, FeatureCodec};
use splitfeat_core::pipeline::{self, FeatureShape, PipelineError};
use splitfeat_core::quant::{BitDepth, BitDepthError};
use splitfeat_core::tiling::{self, Plane};
use splitfeat_core::zoo::ModelId;

fn stream(codec: CodecId) -> Vec<u8> {
    let shape = FeatureShape::new(16, 4, 8);
    let values = common::feature_like(shape, 1);
    let model = ModelId::from_bytes(*b"model-01");
    pipeline::encode_features(&values, shape, model, codec, BitDepth::EIGHT)
        .unwrap()
        .bytes
}

fn bitstream_err(bytes: &[u8]) -> BitstreamError {
    match pipeline::decode_features(bytes, &Limits::default()) {
        Err(PipelineError::Bitstream(e)) => e,
        other => panic!("expected a bitstream error, got {other:?}"),
    }
}

fn depth(bits: u8) -> BitDepth {
    BitDepth::new(bits).unwrap()
}

const CODECS: [CodecId; 3] = [CodecId::Png, CodecId::Ans, CodecId::Jpeg { quality: 90 }];

#[test]
fn every_truncation_is_rejected() {
    for codec in CODECS {
        let bytes = stream(codec);
        for len in 0..bytes.len() {
            let err = bitstream_err(&bytes[..len]);
            if len < MIN_LEN {
                assert_eq!(err, BitstreamError::TooShort { len }, "{codec} {len}");
            } else {
                assert_eq!(
                    err,
                    BitstreamError::Truncated {
                        needed: bytes.len(),
                        available: len
                    },
                    "{codec} {len}"
                );
            }
        }
    }
}

#[test]
fn every_bit_flip_is_rejected() {
    for codec in CODECS {
        let bytes = stream(codec);
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut b = bytes.clone();
                b[i] ^= 1 << bit;
                let err = bitstream_err(&b);
                let expected_kind = match i {
                    0..4 => matches!(err, BitstreamError::BadMagic(_)),
                    4 => matches!(err, BitstreamError::UnsupportedVersion(_)),
                    30..34 => matches!(
                        err,
                        BitstreamError::Truncated { .. }
                            | BitstreamError::TrailingBytes { .. }
                            | BitstreamError::PayloadTooLarge { .. }
                    ),
                    _ => matches!(err, BitstreamError::BadCrc { .. }),
                };
                assert!(expected_kind, "{codec}: byte {i} bit {bit}: {err:?}");
            }
        }
    }
}

#[test]
fn header_fields_are_checked_behind_a_valid_crc() {
    let bytes = stream(CodecId::Ans);
    let patched = |at: usize, value: &[u8]| {
        let mut b = bytes.clone();
        b[at..at + value.len()].copy_from_slice(value);
        common::fix_crc(&mut b);
        bitstream_err(&b)
    };
    assert!(matches!(patched(0, b"SPFU"), BitstreamError::BadMagic(m) if &m == b"SPFU"));
    assert_eq!(patched(4, &[2]), BitstreamError::UnsupportedVersion(2));
    assert_eq!(patched(4, &[0]), BitstreamError::UnsupportedVersion(0));
    assert!(matches!(
        patched(13, &[9]),
        BitstreamError::Codec(CodecError::UnknownTag(9))
    ));
    assert!(matches!(
        patched(13, &[2, 0]),
        BitstreamError::Codec(CodecError::BadQuality(0))
    ));
    assert!(matches!(
        patched(14, &[5]),
        BitstreamError::Codec(CodecError::BadParam { tag: 3, param: 5 })
    ));
    // The bit depth byte becomes a BitDepth or the stream is refused with the byte.
    for bits in [0u8, 1, 17, 255] {
        assert_eq!(
            patched(15, &[bits]),
            BitstreamError::BadBitDepth(BitDepthError::OutOfRange(bits))
        );
    }
    for bits in [2u8, 16] {
        let mut b = bytes.clone();
        b[15] = bits;
        common::fix_crc(&mut b);
        let (header, _) = bitstream::parse(&b, &Limits::default()).unwrap();
        assert_eq!(header.bits.get(), bits);
    }
    // JPEG carries 8-bit planes only.
    let mut b = stream(CodecId::Jpeg { quality: 90 });
    b[15] = 12;
    common::fix_crc(&mut b);
    assert_eq!(
        bitstream_err(&b),
        BitstreamError::Codec(CodecError::UnsupportedBitDepth {
            codec: CodecId::Jpeg { quality: 90 },
            bits: BitDepth::new(12).unwrap()
        })
    );
    // Oversize and empty shapes.
    for (at, value) in [
        (16, 5000u16),
        (18, 2000),
        (20, 2000),
        (16, 0),
        (18, 0),
        (20, 0),
    ] {
        assert!(
            matches!(
                patched(at, &value.to_le_bytes()),
                BitstreamError::ShapeOutOfLimits { .. }
            ),
            "{at} {value}"
        );
    }
    for (min, max) in [(f32::NAN, 1.0), (0.0, f32::INFINITY), (2.0, 1.0)] {
        let mut b = bytes.clone();
        b[22..26].copy_from_slice(&min.to_le_bytes());
        b[26..30].copy_from_slice(&max.to_le_bytes());
        common::fix_crc(&mut b);
        assert!(matches!(
            bitstream_err(&b),
            BitstreamError::NonFiniteRange { .. }
        ));
    }
    let mut b = bytes.clone();
    b[40] ^= 0xff;
    assert!(matches!(bitstream_err(&b), BitstreamError::BadCrc { .. }));
}

#[test]
fn element_count_limit_applies_even_when_each_dimension_is_allowed() {
    let header = Header {
        model_id: ModelId::from_bytes([0; 8]),
        codec: CodecId::Ans,
        bits: BitDepth::EIGHT,
        shape: FeatureShape::new(4096, 1024, 1024),
        min: 0.0,
        max: 1.0,
    };
    let bytes = bitstream::write(&header, &[]).unwrap();
    assert!(matches!(
        bitstream_err(&bytes),
        BitstreamError::ShapeOutOfLimits { .. }
    ));
    let tight = Limits {
        max_payload: 10,
        ..Limits::default()
    };
    let big = bitstream::write(
        &Header {
            shape: FeatureShape::new(1, 1, 1),
            ..header
        },
        &[0; 11],
    )
    .unwrap();
    assert_eq!(
        bitstream::parse(&big, &tight).unwrap_err(),
        BitstreamError::PayloadTooLarge { len: 11, max: 10 }
    );
}

#[test]
fn payload_length_lies_are_rejected() {
    let bytes = stream(CodecId::Png);
    let real = u32::from_le_bytes(bytes[30..34].try_into().unwrap());
    for (claimed, shorter) in [
        (real + 1, true),
        (real + 1000, true),
        (real - 1, false),
        (0, false),
    ] {
        let mut b = bytes.clone();
        b[30..34].copy_from_slice(&claimed.to_le_bytes());
        common::fix_crc(&mut b);
        let err = bitstream_err(&b);
        if shorter {
            assert!(
                matches!(err, BitstreamError::Truncated { .. }),
                "{claimed}: {err:?}"
            );
        } else {
            assert!(
                matches!(err, BitstreamError::TrailingBytes { .. }),
                "{claimed}: {err:?}"
            );
        }
    }
    let mut b = bytes.clone();
    b[30..34].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        bitstream_err(&b),
        BitstreamError::PayloadTooLarge { .. }
    ));
    let mut b = bytes.clone();
    b.push(0);
    assert_eq!(
        bitstream_err(&b),
        BitstreamError::TrailingBytes { extra: 1 }
    );
}

#[test]
fn payload_of_another_codec_or_garbage_is_a_codec_error() {
    let shape = FeatureShape::new(16, 4, 8);
    let header = |codec| Header {
        model_id: ModelId::from_bytes([1; 8]),
        codec,
        bits: BitDepth::EIGHT,
        shape,
        min: 0.0,
        max: 1.0,
    };
    let payloads: Vec<Vec<u8>> = CODECS
        .iter()
        .map(|&c| {
            let b = stream(c);
            b[HEADER_LEN..b.len() - 4].to_vec()
        })
        .chain([vec![], vec![0; 3], vec![0xff; 200]])
        .collect();
    for codec in CODECS {
        for (i, payload) in payloads.iter().enumerate() {
            let bytes = bitstream::write(&header(codec), payload).unwrap();
            let result = pipeline::decode_features(&bytes, &Limits::default());
            let own = i < CODECS.len() && CODECS[i] == codec;
            assert_eq!(result.is_ok(), own, "{codec} given payload {i}: {result:?}");
            if !own {
                assert!(
                    matches!(result, Err(PipelineError::Codec(_))),
                    "{codec} {i}: {result:?}"
                );
            }
        }
    }
}

/// A PNG whose IHDR claims `width x height` (chunk CRC fixed), built from a real one.
fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let plane = Plane {
        width: 4,
        height: 2,
        bits: BitDepth::EIGHT,
        data: vec![1; 8],
    };
    let mut png = PngCodec.encode(&plane).unwrap();
    png[16..20].copy_from_slice(&width.to_be_bytes());
    png[20..24].copy_from_slice(&height.to_be_bytes());
    let crc = crc32fast::hash(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    png
}

#[test]
fn decoders_check_dimensions_before_allocating() {
    let huge = png_claiming(60000, 60000);
    assert!(matches!(
        PngCodec.decode(&huge, 4, 2, BitDepth::EIGHT),
        Err(CodecError::DimensionMismatch {
            got_width: 60000,
            got_height: 60000,
            ..
        })
    ));
    // Even when the caller expects that size, a 3.6 GB image cannot come out of a
    // payload this short, so it is refused before anything is allocated.
    assert!(matches!(
        PngCodec.decode(&huge, 60000, 60000, BitDepth::EIGHT),
        Err(CodecError::Png(_))
    ));
    assert!(matches!(
        PngCodec.decode(&png_claiming(4, 2), 4, 2, depth(16)),
        Err(CodecError::FormatMismatch { .. })
    ));

    let shape = FeatureShape::new(16, 4, 8);
    let values = common::feature_like(shape, 2);
    let (q, _) = splitfeat_core::quant::quantize(&values, BitDepth::EIGHT).unwrap();
    let plane = tiling::tile(&q, shape, BitDepth::EIGHT).unwrap();
    for codec in CODECS {
        let payload = codec.encode(&plane).unwrap();
        assert!(
            codec
                .decode(&payload, plane.width + 1, plane.height, BitDepth::EIGHT)
                .is_err(),
            "{codec}"
        );
        assert!(
            codec
                .decode(&payload, plane.width, plane.height * 2, BitDepth::EIGHT)
                .is_err(),
            "{codec}"
        );
        assert!(
            codec.decode(&payload, 0, 0, BitDepth::EIGHT).is_err(),
            "{codec}"
        );
    }
    // PNG samples above the stream's bit depth are rejected.
    let png8 = PngCodec
        .encode(&Plane {
            width: 2,
            height: 1,
            bits: BitDepth::EIGHT,
            data: vec![0, 200],
        })
        .unwrap();
    assert!(matches!(
        PngCodec.decode(&png8, 2, 1, depth(6)),
        Err(CodecError::InvalidPlane(_))
    ));
}

#[test]
fn mismatched_model_and_shape_are_typed_errors() {
    let bytes = stream(CodecId::Png);
    let dec = pipeline::decode_features(&bytes, &Limits::default()).unwrap();
    assert!(pipeline::expect_model(&dec.header, ModelId::from_bytes(*b"model-01")).is_ok());
    assert!(matches!(
        pipeline::expect_model(&dec.header, ModelId::from_bytes(*b"model-02")),
        Err(PipelineError::ModelMismatch { .. })
    ));
    assert!(matches!(
        pipeline::expect_shape(&dec.header, FeatureShape::new(64, 8, 16)),
        Err(PipelineError::ShapeMismatch { .. })
    ));
}
