//! What the compressibility loss does to the features themselves: the cost of each
//! channel, and the tiled code image the edge sends.

use anyhow::Result;
use splitfeat_core::image::rgb_to_input;
use splitfeat_core::quant::{BitDepth, quantize_by_rule};
use splitfeat_core::runtime::EdgeRuntime;
use splitfeat_core::tiling::{Plane, tile};
use splitfeat_data::{Dataset, SyntheticDataset};

/// Per-channel statistics of one model's quantized features over some scenes.
pub struct ChannelStats {
    /// Bits per element of each channel: the order-0 entropy of its horizontal
    /// prediction residuals (each code minus its left neighbour; the first column
    /// as is), the part of the signal a predictive lossless coder pays for.
    pub residual_bits: Vec<f64>,
    /// The tiled code image of the first scene.
    pub first_plane: Plane,
}

/// Order-0 entropy in bits per symbol of a histogram.
pub fn entropy_bits(histogram: &[u64]) -> f64 {
    let total: u64 = histogram.iter().sum();
    if total == 0 {
        return 0.0;
    }
    histogram
        .iter()
        .filter(|&&n| n > 0)
        .map(|&n| {
            let p = n as f64 / total as f64;
            -p * p.log2()
        })
        .sum::<f64>()
        // A one-symbol histogram sums to -0.0, which would print as "-0.000".
        + 0.0
}

/// Adds the horizontal residuals of one `h x w` channel of `bits`-bit codes to
/// `histogram` (indexed by residual + 2^bits - 1, so `2^(bits+1) - 1` bins).
fn add_residuals(codes: &[u16], w: usize, bits: BitDepth, histogram: &mut [u64]) {
    let offset = i32::from(bits.max_code());
    for row in codes.chunks(w) {
        let mut left = 0i32;
        for &q in row {
            let q = i32::from(q);
            histogram[(q - left + offset) as usize] += 1;
            left = q;
        }
    }
}

/// Runs the edge on the first `scenes` validation scenes and quantizes each frame to
/// `bits` bits as deployment does (per frame, with the model's range rule).
pub fn channel_stats(edge: &EdgeRuntime, scenes: usize, bits: BitDepth) -> Result<ChannelStats> {
    let config = &edge.config;
    let (h, w) = (config.input_height, config.input_width);
    let [c, fh, fw] = config.bottleneck_shape();
    let shape = edge.feature_shape();
    let data = SyntheticDataset::new(splitfeat_data::Split::Val, scenes, w as u32, h as u32)?;
    let bins = 2 * bits.levels() as usize - 1;
    let mut histograms = vec![vec![0u64; bins]; c];
    let mut first_plane = None;
    for i in 0..scenes {
        let sample = data.get(i)?;
        let features = edge
            .edge
            .forward(rgb_to_input(&sample.rgb, 1, h, w, &edge.device));
        let values = features
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let (codes, _) = quantize_by_rule(&values, bits, config.quantizer)?;
        for (ch, hist) in histograms.iter_mut().enumerate() {
            add_residuals(&codes[ch * fh * fw..(ch + 1) * fh * fw], fw, bits, hist);
        }
        if first_plane.is_none() {
            first_plane = Some(tile(&codes, shape, bits)?);
        }
    }
    Ok(ChannelStats {
        residual_bits: histograms.iter().map(|h| entropy_bits(h)).collect(),
        first_plane: first_plane.ok_or_else(|| anyhow::anyhow!("no scenes"))?,
    })
}

/// Nearest-neighbour upscaling of an 8-bit grayscale image by `k`.
pub fn upscale(gray: &[u8], width: usize, k: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(gray.len() * k * k);
    for row in gray.chunks(width) {
        let wide: Vec<u8> = row
            .iter()
            .flat_map(|&v| std::iter::repeat_n(v, k))
            .collect();
        for _ in 0..k {
            out.extend_from_slice(&wide);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_of_known_histograms() {
        assert_eq!(entropy_bits(&[0, 0]), 0.0);
        assert_eq!(entropy_bits(&[5, 0, 0]), 0.0);
        assert!(entropy_bits(&[5, 0, 0]).is_sign_positive());
        assert!((entropy_bits(&[1, 1]) - 1.0).abs() < 1e-12);
        assert!((entropy_bits(&[1, 1, 1, 1]) - 2.0).abs() < 1e-12);
        // p = (1/2, 1/4, 1/4): 1.5 bits.
        assert!((entropy_bits(&[2, 1, 1]) - 1.5).abs() < 1e-12);
    }

    #[test]
    fn residuals_of_a_ramp_are_one_symbol_after_the_first_column() {
        // Two rows of 0,1,2,3 at 2 bits: residuals 0,1,1,1 per row.
        let mut hist = vec![0u64; 7];
        add_residuals(&[0, 1, 2, 3, 0, 1, 2, 3], 4, BitDepth::MIN, &mut hist);
        assert_eq!(hist, [0, 0, 0, 2, 6, 0, 0]);
        // Extremes stay in range: 3 then 0 is -3, the first bin.
        let mut hist = vec![0u64; 7];
        add_residuals(&[3, 0], 2, BitDepth::MIN, &mut hist);
        assert_eq!(hist, [1, 0, 0, 0, 0, 0, 1]);
    }

    #[test]
    fn upscale_repeats_pixels() {
        assert_eq!(
            upscale(&[1, 2, 3, 4], 2, 2),
            [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]
        );
    }
}
