//! Coded size of each feature codec on feature-like tensors, against the order-0
//! empirical entropy of the quantized symbols plus its side information.
//!
//! `cargo run --release -p splitfeat-core --example codec_sizes`

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use png::{DeflateCompression, Filter};
use splitfeat_core::bitstream;
use splitfeat_core::codec::CodecId;
use splitfeat_core::codec::ans::{self, AnsCodec, Transform};
use splitfeat_core::codec::png::PngCodec;
use splitfeat_core::pipeline::{self, FeatureShape};
use splitfeat_core::quant;
use splitfeat_core::tiling::{self, Plane};
use splitfeat_core::zoo::ModelId;

/// Median encode time in microseconds over a few runs, with the output size.
fn timed(mut f: impl FnMut() -> usize) -> (usize, f64) {
    let mut times = Vec::new();
    let mut size = 0;
    for _ in 0..7 {
        let t = Instant::now();
        size = f();
        times.push(t.elapsed().as_secs_f64() * 1e6);
    }
    times.sort_by(f64::total_cmp);
    (size, times[times.len() / 2])
}

fn report(name: &str, shape: FeatureShape, values: &[f32]) {
    let (codes, _) = quant::quantize(values, quant::BitDepth::EIGHT).unwrap();
    let plane: Plane = tiling::tile(&codes, shape, quant::BitDepth::EIGHT).unwrap();
    let n = shape.len();
    println!(
        "## {name}: {shape} = {n} elements, {:.1} % zeros",
        100.0 * common::zero_fraction(values)
    );

    let r0 = ans::order0_reference(&plane);
    println!(
        "order-0 entropy {:.1} B ({:.3} bit/elem, {} distinct) + side info {} B = {:.1} B",
        r0.entropy_bits / 8.0,
        r0.entropy_bits / n as f64,
        r0.distinct,
        r0.side_info_bytes,
        r0.total_bytes()
    );

    let choice = AnsCodec::analyze(&plane).unwrap();
    let (ans_len, ans_us) = timed(|| CodecId::Ans.encode(&plane).unwrap().len());
    let order0_len = AnsCodec::encode_with(&plane, Transform::Identity, false, 0)
        .unwrap()
        .len();
    println!(
        "ans payload {ans_len} B ({:.3} bit/elem, {ans_us:.0} us): model {:?}, context {}, k {}, ideal {:.1} B (entropy {:.1} + side {} B)",
        ans_len as f64 * 8.0 / n as f64,
        choice.transform,
        choice.context,
        choice.k,
        choice.ideal_bytes(),
        choice.entropy_bits / 8.0,
        choice.side_info_bytes
    );
    println!(
        "ans payload / order-0 reference = {:.4}; ans forced to plain order-0 model: {order0_len} B ({:.4} of reference)",
        ans_len as f64 / r0.total_bytes(),
        order0_len as f64 / r0.total_bytes()
    );

    let png_variants: [(&str, DeflateCompression, Filter); 9] = [
        (
            "level 6, adaptive (crate default)",
            DeflateCompression::Level(6),
            Filter::Adaptive,
        ),
        (
            "level 9, adaptive",
            DeflateCompression::Level(9),
            Filter::Adaptive,
        ),
        (
            "level 9, min-entropy",
            DeflateCompression::Level(9),
            Filter::MinEntropy,
        ),
        (
            "level 9, none",
            DeflateCompression::Level(9),
            Filter::NoFilter,
        ),
        ("level 9, sub", DeflateCompression::Level(9), Filter::Sub),
        ("level 9, up", DeflateCompression::Level(9), Filter::Up),
        (
            "level 9, paeth",
            DeflateCompression::Level(9),
            Filter::Paeth,
        ),
        (
            "level 6, none",
            DeflateCompression::Level(6),
            Filter::NoFilter,
        ),
        (
            "fdeflate, up",
            DeflateCompression::FdeflateUltraFast,
            Filter::Up,
        ),
    ];
    for (label, compression, filter) in png_variants {
        let (len, us) = timed(|| {
            PngCodec::encode_with(&plane, compression, filter)
                .unwrap()
                .len()
        });
        println!("png {label:<34} {len:>7} B  {us:>8.0} us");
    }
    let (png_len, _) = timed(|| CodecId::Png.encode(&plane).unwrap().len());
    for q in [95, 90, 85, 80] {
        let len = CodecId::Jpeg { quality: q }.encode(&plane).unwrap().len();
        println!("jpeg{q} payload {len} B");
    }
    let stream = |codec| {
        pipeline::encode_features(
            values,
            shape,
            ModelId::from_bytes([0; 8]),
            codec,
            quant::BitDepth::EIGHT,
        )
        .unwrap()
        .bytes
        .len()
    };
    println!(
        "png (shipped setting) payload {png_len} B; whole streams: png {} B, ans {} B (header + CRC {} B)",
        stream(CodecId::Png),
        stream(CodecId::Ans),
        bitstream::MIN_LEN
    );
    println!(
        "ans / png = {:.3} (payload), {:.3} (stream)\n",
        ans_len as f64 / png_len as f64,
        stream(CodecId::Ans) as f64 / stream(CodecId::Png) as f64
    );
}

fn main() {
    for channels in [64u16, 512] {
        let shape = FeatureShape::new(channels, 8, 16);
        report("feature-like", shape, &common::feature_like(shape, 7));
    }
    for channels in [64u16, 512] {
        let shape = FeatureShape::new(channels, 8, 16);
        report("smooth", shape, &common::smooth_features(shape, 7));
    }
}
