//! Deterministic feature-like tensors shared by the integration tests, the benches
//! and the `codec_sizes` example (included there with `#[path]`).
//!
//! Statistics of a post-ReLU bottleneck: a Gaussian field with some spatial
//! correlation, a per-channel scale (log-normal) and offset, passed through ReLU;
//! about 55 % of the elements are exactly zero.

#![allow(dead_code)]

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use splitfeat_core::quant::BitDepth;
use splitfeat_core::tiling::FeatureShape;
use splitfeat_core::zoo::ModelId;

/// Standard normal sample (Box-Muller).
pub fn normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Feature-like tensor with mild spatial correlation (neighbour weight 0.5).
pub fn feature_like(shape: FeatureShape, seed: u64) -> Vec<f32> {
    features_with_correlation(shape, seed, 0.5, 2)
}

/// Feature-like tensor whose channels are spatially smooth (what the
/// compressibility loss aims for).
pub fn smooth_features(shape: FeatureShape, seed: u64) -> Vec<f32> {
    features_with_correlation(shape, seed, 1.0, 20)
}

/// `passes` rounds of mixing each sample with `weight` times the mean of its four
/// neighbours, renormalized to unit variance, then scale, offset and ReLU per
/// channel.
pub fn features_with_correlation(
    shape: FeatureShape,
    seed: u64,
    weight: f64,
    passes: usize,
) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    let (h, w) = (usize::from(shape.height), usize::from(shape.width));
    let mut out = Vec::with_capacity(shape.len());
    for _ in 0..shape.channels {
        let scale = (0.5 * normal(&mut rng)).exp();
        let offset = -0.15 + 0.3 * normal(&mut rng);
        let mut field: Vec<f64> = (0..h * w).map(|_| normal(&mut rng)).collect();
        for _ in 0..passes {
            let prev = field.clone();
            for y in 0..h {
                for x in 0..w {
                    let mut sum = 0.0;
                    let mut n = 0.0;
                    for (dy, dx) in [(-1i64, 0i64), (1, 0), (0, -1), (0, 1)] {
                        let (yy, xx) = (y as i64 + dy, x as i64 + dx);
                        if yy >= 0 && xx >= 0 && (yy as usize) < h && (xx as usize) < w {
                            sum += prev[yy as usize * w + xx as usize];
                            n += 1.0;
                        }
                    }
                    let mean = if n > 0.0 { sum / n } else { 0.0 };
                    field[y * w + x] = prev[y * w + x] + weight * mean;
                }
            }
            let var = field.iter().map(|v| v * v).sum::<f64>() / field.len() as f64;
            let sd = var.sqrt().max(1e-12);
            field.iter_mut().for_each(|v| *v /= sd);
        }
        out.extend(
            field
                .iter()
                .map(|&v| (scale * (v + offset)).max(0.0) as f32),
        );
    }
    out
}

/// Fraction of exact zeros.
pub fn zero_fraction(values: &[f32]) -> f64 {
    values.iter().filter(|&&v| v == 0.0).count() as f64 / values.len().max(1) as f64
}

/// Recomputes the trailing CRC-32 of a stream in place (so a mutated stream gets past
/// the checksum and exercises the decoders behind it).
pub fn fix_crc(bytes: &mut [u8]) {
    if bytes.len() >= splitfeat_core::bitstream::MIN_LEN {
        let body = bytes.len() - 4;
        let crc = crc32fast::hash(&bytes[..body]);
        bytes[body..].copy_from_slice(&crc.to_le_bytes());
    }
}

/// Valid streams of every codec at several shapes and bit depths.
pub fn sample_streams() -> Vec<Vec<u8>> {
    use splitfeat_core::codec::CodecId;
    use splitfeat_core::pipeline::encode_features;
    let mut out = Vec::new();
    for (i, shape) in [
        FeatureShape::new(16, 4, 8),
        FeatureShape::new(5, 3, 7),
        FeatureShape::new(1, 1, 1),
    ]
    .into_iter()
    .enumerate()
    {
        let values = feature_like(shape, 100 + i as u64);
        for (codec, bits) in [
            (CodecId::Png, 8),
            (CodecId::Png, 16),
            (CodecId::Ans, 8),
            (CodecId::Ans, 16),
            (CodecId::Ans, 3),
            (CodecId::Jpeg { quality: 90 }, 8),
        ] {
            let enc = encode_features(
                &values,
                shape,
                ModelId::from_bytes(*b"fuzzseed"),
                codec,
                BitDepth::new(bits).unwrap(),
            )
            .expect("valid features encode");
            out.push(enc.bytes);
        }
    }
    out
}

/// Geometric tables (ratio 1/2, 12 codes) for `channels` channels, as the fuzz tests
/// decode `prior` streams with.
pub fn geometric_tables(channels: usize) -> splitfeat_core::codec::prior::PriorTables {
    let table: Vec<f64> = (0..12).map(|k| 0.5f64.powi(k + 1)).collect();
    splitfeat_core::codec::prior::PriorTables::from_probabilities(&vec![table; channels])
}

/// Valid `prior` streams (fixed-step quantizer, [`geometric_tables`]) of the shapes of
/// [`sample_streams`].
pub fn prior_streams() -> Vec<Vec<u8>> {
    use splitfeat_core::codec::CodecId;
    use splitfeat_core::pipeline::encode_features_with;
    use splitfeat_core::quant::RangeRule;
    [
        FeatureShape::new(16, 4, 8),
        FeatureShape::new(5, 3, 7),
        FeatureShape::new(1, 1, 1),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, shape)| {
        let values = feature_like(shape, 200 + i as u64);
        let tables = geometric_tables(usize::from(shape.channels));
        let rule = RangeRule::Step { step: 0.25 };
        encode_features_with(
            &values,
            shape,
            ModelId::from_bytes(*b"fuzzseed"),
            CodecId::Prior,
            BitDepth::EIGHT,
            rule,
            Some(&tables.into()),
        )
        .expect("valid features encode")
        .bytes
    })
    .collect()
}
