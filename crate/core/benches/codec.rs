//! Encode and decode throughput of each codec through the full pipeline
//! (quantize, tile, code, wrap / parse, decode, untile, dequantize), in MB/s of f32
//! features, on feature-like 64x8x16 and 512x8x16 tensors.
//!
//! `cargo bench -p splitfeat-core --bench codec -- --warm-up-time 1 --measurement-time 3`

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use splitfeat_core::bitstream::Limits;
use splitfeat_core::codec::CodecId;
use splitfeat_core::pipeline::{FeatureShape, decode_features, encode_features};
use splitfeat_core::quant::BitDepth;
use splitfeat_core::zoo::ModelId;

const CODECS: [CodecId; 3] = [CodecId::Png, CodecId::Jpeg { quality: 90 }, CodecId::Ans];

fn pipeline(c: &mut Criterion) {
    for channels in [64u16, 512] {
        let shape = FeatureShape::new(channels, 8, 16);
        let values = common::feature_like(shape, 7);
        let mut group = c.benchmark_group(format!("pipeline/{shape}"));
        group.throughput(Throughput::Bytes((values.len() * 4) as u64));
        for codec in CODECS {
            let encoded = encode_features(
                &values,
                shape,
                ModelId::from_bytes([0; 8]),
                codec,
                BitDepth::EIGHT,
            )
            .unwrap();
            group.bench_with_input(BenchmarkId::new("encode", codec), &codec, |b, &codec| {
                b.iter(|| {
                    encode_features(
                        black_box(&values),
                        shape,
                        ModelId::from_bytes([0; 8]),
                        codec,
                        BitDepth::EIGHT,
                    )
                    .unwrap()
                })
            });
            group.bench_with_input(
                BenchmarkId::new("decode", codec),
                &encoded.bytes,
                |b, bytes| {
                    b.iter(|| decode_features(black_box(bytes), &Limits::default()).unwrap())
                },
            );
        }
        group.finish();
    }
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
