//! Round-trip properties of every pipeline stage over random shapes and values.

mod common;

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use splitfeat_core::bitstream::{self, Header, Limits};
use splitfeat_core::codec::CodecId;
use splitfeat_core::pipeline::{self, FeatureShape};
use splitfeat_core::quant::{self, BitDepth, QuantParams};
use splitfeat_core::tiling::{self, Plane, TileGrid};
use splitfeat_core::zoo::ModelId;

/// Largest tensor a case may use, so that the unoptimized test build stays fast.
const MAX_ELEMENTS: usize = 8_192;

/// Shapes with 1..=600 channels (powers of two or not) and 1..=32 rows/columns,
/// the spatial size shrunk where needed to stay under [`MAX_ELEMENTS`].
fn shapes() -> impl Strategy<Value = FeatureShape> {
    (1u16..=600, 1u16..=32, 1u16..=32).prop_map(|(c, h, w)| {
        let per_channel = (MAX_ELEMENTS / usize::from(c)).max(1);
        let h = h.min(per_channel as u16).max(1);
        let w = w.min((per_channel / usize::from(h)).max(1) as u16).max(1);
        FeatureShape::new(c, h, w)
    })
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Post-ReLU-like: ~60 % zeros, the rest positive with varied scale.
    Sparse,
    /// Every element equal.
    Constant,
    /// Signed values over a wide range.
    Wide,
    /// Few distinct values.
    Levels,
}

fn kinds() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::Sparse),
        Just(Kind::Constant),
        Just(Kind::Wide),
        Just(Kind::Levels)
    ]
}

fn values(kind: Kind, n: usize, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    let scale = 10f32.powf(rng.random_range(-3.0..3.0));
    let constant = rng.random_range(-5.0f32..5.0);
    (0..n)
        .map(|_| match kind {
            Kind::Sparse => {
                if rng.random::<f32>() < 0.6 {
                    0.0
                } else {
                    scale * rng.random::<f32>().powi(2)
                }
            }
            Kind::Constant => constant,
            Kind::Wide => scale * rng.random_range(-1.0f32..1.0),
            Kind::Levels => f32::from(rng.random_range(0u8..5)) * 0.25,
        })
        .collect()
}

/// A bit depth of the supported range, as the strategies draw it.
fn depth(bits: u8) -> BitDepth {
    BitDepth::new(bits).unwrap()
}

fn codes(n: usize, bits: BitDepth, seed: u64) -> Vec<u16> {
    let mut rng = StdRng::seed_from_u64(seed);
    let top = bits.max_code();
    // Mostly zeros, like quantized ReLU output, with arbitrary codes in between.
    (0..n)
        .map(|_| {
            if rng.random::<f32>() < 0.5 {
                0
            } else {
                rng.random_range(0..=top)
            }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn dequantized_error_is_at_most_half_a_step(
        n in 1usize..3000, kind in kinds(), seed in any::<u64>(), bits in 2u8..=16
    ) {
        let x = values(kind, n, seed);
        let (q, p) = quant::quantize(&x, depth(bits)).unwrap();
        prop_assert!(q.iter().all(|&c| c <= p.max_code()));
        let back = quant::dequantize(&q, &p);
        let slack = 4.0 * f64::from(f32::EPSILON) * f64::from(p.min.abs().max(p.max.abs()));
        for (a, b) in x.iter().zip(&back) {
            let err = (f64::from(*a) - f64::from(*b)).abs();
            prop_assert!(err <= p.step() / 2.0 + slack, "err {err} step {}", p.step());
        }
        if let Kind::Constant = kind {
            prop_assert!(q.iter().all(|&c| c == 0));
            prop_assert_eq!(back, x);
        }
    }

    #[test]
    fn tile_untile_is_exact(shape in shapes(), bits in 2u8..=16, seed in any::<u64>()) {
        let bits = depth(bits);
        let q = codes(shape.len(), bits, seed);
        let plane = tiling::tile(&q, shape, bits).unwrap();
        let grid = TileGrid::for_feature_shape(shape).unwrap();
        prop_assert_eq!((plane.width, plane.height), (grid.image_width(), grid.image_height()));
        prop_assert!(grid.tiles() >= u32::from(shape.channels));
        prop_assert!(grid.tiles() < 2 * u32::from(shape.channels).max(1));
        prop_assert!(grid.cols == grid.rows || grid.cols == 2 * grid.rows);
        // Padding tiles are zero, so the image holds exactly the codes' sum.
        let sum_q: u64 = q.iter().map(|&v| u64::from(v)).sum();
        let sum_p: u64 = plane.data.iter().map(|&v| u64::from(v)).sum();
        prop_assert_eq!(sum_q, sum_p);
        prop_assert_eq!(tiling::untile(&plane, shape).unwrap(), q);
    }

    #[test]
    fn lossless_codecs_are_bit_exact(
        shape in shapes(), bits in prop_oneof![Just(8u8), Just(16u8), 2u8..=16], seed in any::<u64>()
    ) {
        let bits = depth(bits);
        let q = codes(shape.len(), bits, seed);
        let plane = tiling::tile(&q, shape, bits).unwrap();
        for id in CodecId::LOSSLESS {
            let payload = id.encode(&plane).unwrap();
            let back = id.decode(&payload, plane.width, plane.height, bits).unwrap();
            prop_assert_eq!(&back, &plane, "{}", id);
        }
    }

    #[test]
    fn bitstream_write_parse_is_identity(
        shape in shapes(),
        model_id in any::<[u8; 8]>(),
        codec in prop_oneof![Just(CodecId::Png), Just(CodecId::Ans), (1u8..=100).prop_map(|quality| CodecId::Jpeg { quality })],
        bits in 2u8..=16,
        min in -1e6f32..1e6,
        width in 0f32..1e6,
        payload in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let bits = if codec.supports_bits(depth(bits)) { depth(bits) } else { BitDepth::EIGHT };
        let header = Header { model_id: ModelId::from_bytes(model_id), codec, bits, shape, min, max: min + width };
        let bytes = bitstream::write(&header, &payload).unwrap();
        prop_assert_eq!(bytes.len(), bitstream::stream_len(payload.len()));
        let (parsed, body) = bitstream::parse(&bytes, &Limits::default()).unwrap();
        prop_assert_eq!(parsed, header);
        prop_assert_eq!(body, &payload[..]);
    }

    #[test]
    fn lossless_pipeline_reproduces_dequantized_values(
        shape in shapes(), kind in kinds(), seed in any::<u64>(),
        bits in prop_oneof![Just(8u8), Just(16u8), 2u8..=16],
    ) {
        let bits = depth(bits);
        let x = values(kind, shape.len(), seed);
        let (q, p) = quant::quantize(&x, bits).unwrap();
        let expected = quant::dequantize(&q, &p);
        for codec in CodecId::LOSSLESS {
            let enc = pipeline::encode_features(&x, shape, ModelId::from_bytes(*b"proptest"), codec, bits).unwrap();
            prop_assert_eq!(&enc.plane, &tiling::tile(&q, shape, bits).unwrap());
            let dec = pipeline::decode_features(&enc.bytes, &Limits::default()).unwrap();
            prop_assert_eq!(&dec.values, &expected);
            prop_assert_eq!(dec.header, enc.header);
            prop_assert_eq!(dec.header.quant(), QuantParams { bits, min: p.min, max: p.max });
        }
    }
}

#[test]
fn reported_sizes_are_the_written_sizes() {
    let shape = FeatureShape::new(64, 8, 16);
    let x = common::feature_like(shape, 11);
    let (q, _) = quant::quantize(&x, BitDepth::EIGHT).unwrap();
    let plane = tiling::tile(&q, shape, BitDepth::EIGHT).unwrap();
    for codec in [CodecId::Png, CodecId::Ans, CodecId::Jpeg { quality: 90 }] {
        let payload = codec.encode(&plane).unwrap();
        let enc = pipeline::encode_features(
            &x,
            shape,
            ModelId::from_bytes([7; 8]),
            codec,
            BitDepth::EIGHT,
        )
        .unwrap();
        // The stream is header + payload + CRC, and the payload is what the codec
        // alone produces for the same plane.
        assert_eq!(
            enc.bytes.len(),
            bitstream::stream_len(payload.len()),
            "{codec}"
        );
        let (_, body) = bitstream::parse(&enc.bytes, &Limits::default()).unwrap();
        assert_eq!(body, &payload[..], "{codec}");
        let bpe = enc.bits_per_element();
        assert_eq!(bpe, enc.bytes.len() as f64 * 8.0 / 8192.0);
        assert_eq!(pipeline::bits_per_element(enc.bytes.len(), shape), bpe);
        let stats = pipeline::RateStats::new(enc.bytes.len(), shape);
        assert_eq!((stats.bytes, stats.elements), (enc.bytes.len(), 8192));
    }
}

#[test]
fn jpeg_is_close_and_eight_bit_only() {
    let shape = FeatureShape::new(64, 8, 16);
    let x = common::feature_like(shape, 5);
    let (q, p) = quant::quantize(&x, BitDepth::EIGHT).unwrap();
    let plane = tiling::tile(&q, shape, BitDepth::EIGHT).unwrap();
    let exact = quant::dequantize(&q, &p);
    let mut last_size = usize::MAX;
    for quality in [95u8, 90, 85, 80] {
        let enc = pipeline::encode_features(
            &x,
            shape,
            ModelId::from_bytes([0; 8]),
            CodecId::Jpeg { quality },
            BitDepth::EIGHT,
        )
        .unwrap();
        // Lower quality, fewer bytes.
        assert!(enc.bytes.len() < last_size, "jpeg{quality}");
        last_size = enc.bytes.len();
        let dec = pipeline::decode_features(&enc.bytes, &Limits::default()).unwrap();
        let mse: f64 = dec
            .values
            .iter()
            .zip(&exact)
            .map(|(a, b)| f64::from(a - b).powi(2))
            .sum::<f64>()
            / exact.len() as f64;
        // Error in units of quantization steps: JPEG at these qualities stays within
        // a few steps on average.
        let rms_steps = mse.sqrt() / p.step();
        assert!(rms_steps < 12.0, "jpeg{quality}: rms {rms_steps} steps");
    }
    let deep = Plane {
        bits: depth(10),
        ..plane.clone()
    };
    assert!(CodecId::Jpeg { quality: 90 }.encode(&deep).is_err());
    assert!(
        CodecId::Jpeg { quality: 90 }
            .decode(
                &CodecId::Jpeg { quality: 90 }.encode(&plane).unwrap(),
                plane.width,
                plane.height,
                depth(10)
            )
            .is_err()
    );
}
