//! Colourising network outputs for display, and PNG encoding of display images.
//! Used by the cloud (HTTP responses and the browser's cloud worker) and the CLI
//! previews.

use crate::classes::label_color;

/// Labels as RGB in the Cityscapes class palette; ignore is black.
pub fn labels_to_rgb(labels: &[u8]) -> Vec<u8> {
    labels.iter().flat_map(|&l| label_color(l)).collect()
}

/// Turbo colormap (Google, 2019), as its published degree-5 polynomial fit;
/// `t` in 0..=1 runs from dark blue (far) through green and yellow to dark red (near).
pub fn turbo(t: f32) -> [u8; 3] {
    let x = t.clamp(0.0, 1.0);
    let poly = |c: [f32; 6]| c[0] + x * (c[1] + x * (c[2] + x * (c[3] + x * (c[4] + x * c[5]))));
    let r = poly([
        0.135_721_38,
        4.615_392_6,
        -42.660_32,
        132.131_08,
        -152.942_4,
        59.286_38,
    ]);
    let g = poly([
        0.091_402_61,
        2.194_188_4,
        4.842_966_6,
        -14.185_033,
        4.277_298_6,
        2.829_566,
    ]);
    let b = poly([
        0.106_673_3,
        12.641_946,
        -60.582_05,
        110.362_77,
        -89.903_11,
        27.348_25,
    ]);
    [r, g, b].map(|v| (v.clamp(0.0, 1.0) * 255.0 + 0.5) as u8)
}

/// Disparity as RGB through [`turbo`], scaled so that `max` maps to the top of the
/// colormap; invalid pixels (0 or less) are black.
pub fn disparity_to_rgb(disparity: &[f32], max: f32) -> Vec<u8> {
    let inv = if max > 0.0 { 1.0 / max } else { 0.0 };
    disparity
        .iter()
        .flat_map(|&d| if d > 0.0 { turbo(d * inv) } else { [0, 0, 0] })
        .collect()
}

/// Largest finite disparity (0 if none is valid).
/// Top of the colour scale of a *predicted* disparity map when the caller gives none:
/// the 98th percentile (nearest rank) of the finite values. A prediction has a few
/// confident outliers where disparity means nothing (the sky, where the ground truth
/// is invalid); with the maximum as the top they would stretch the scale and leave the
/// road and the cars in the bottom few colours. Values above it saturate to the top
/// colour. 0 for an empty map.
pub fn display_top(disparity: &[f32]) -> f32 {
    let mut finite: Vec<f32> = disparity
        .iter()
        .copied()
        .filter(|d| d.is_finite())
        .collect();
    if finite.is_empty() {
        return 0.0;
    }
    let rank = (finite.len() * 98).div_ceil(100).clamp(1, finite.len()) - 1;
    let (_, top, _) = finite.select_nth_unstable_by(rank, f32::total_cmp);
    top.max(0.0)
}

pub fn max_disparity(disparity: &[f32]) -> f32 {
    disparity
        .iter()
        .copied()
        .filter(|d| d.is_finite())
        .fold(0.0, f32::max)
}

#[derive(Debug, thiserror::Error)]
#[error("PNG: {0}")]
pub struct PngError(String);

/// A decoded image: packed 8-bit RGB, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct RgbImage {
    pub width: usize,
    pub height: usize,
    pub rgb: Vec<u8>,
}

/// Largest side of a PNG [`decode_png_rgb`] takes (the runtimes' input limit).
pub const MAX_PNG_SIDE: u32 = 4096;

/// Decodes a PNG of any colour type and depth to packed 8-bit RGB: palettes expanded,
/// 16-bit samples reduced, alpha dropped, gray repeated. A PNG larger than
/// [`MAX_PNG_SIDE`] on a side is refused before its pixels are decoded.
pub fn decode_png_rgb(bytes: &[u8]) -> Result<RgbImage, PngError> {
    let err = |e: png::DecodingError| PngError(e.to_string());
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(err)?;
    let (width, height) = (reader.info().width, reader.info().height);
    if width > MAX_PNG_SIDE || height > MAX_PNG_SIDE {
        return Err(PngError(format!(
            "{width}x{height} is larger than {MAX_PNG_SIDE} on a side"
        )));
    }
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| PngError("image too large".into()))?;
    let mut buf = vec![0; size];
    let info = reader.next_frame(&mut buf).map_err(err)?;
    buf.truncate(info.buffer_size());
    let rgb = match info.color_type {
        png::ColorType::Rgb => buf,
        png::ColorType::Rgba => buf
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect(),
        png::ColorType::Grayscale => buf.iter().flat_map(|&g| [g, g, g]).collect(),
        png::ColorType::GrayscaleAlpha => buf
            .chunks_exact(2)
            .flat_map(|p| [p[0], p[0], p[0]])
            .collect(),
        other => return Err(PngError(format!("unsupported colour type {other:?}"))),
    };
    Ok(RgbImage {
        width: info.width as usize,
        height: info.height as usize,
        rgb,
    })
}

/// Encodes 8-bit RGB (`channels = 3`) or grayscale (`channels = 1`) pixels as PNG.
pub fn encode_png8(
    width: u32,
    height: u32,
    channels: u8,
    data: &[u8],
) -> Result<Vec<u8>, PngError> {
    let color = match channels {
        1 => png::ColorType::Grayscale,
        3 => png::ColorType::Rgb,
        n => return Err(PngError(format!("unsupported channel count {n}"))),
    };
    if data.len() != width as usize * height as usize * channels as usize {
        return Err(PngError(format!(
            "{} bytes for {width}x{height}x{channels}",
            data.len()
        )));
    }
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, width, height);
    enc.set_color(color);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().map_err(|e| PngError(e.to_string()))?;
    writer
        .write_image_data(data)
        .map_err(|e| PngError(e.to_string()))?;
    writer.finish().map_err(|e| PngError(e.to_string()))?;
    Ok(out)
}

/// Encodes 8-bit RGB pixels as PNG with the png crate's `Fast` compression: what the
/// cloud answers with (`api::finish`).
///
/// The default (`Balanced`, [`encode_png8`]) took 17 ms for the three 256x128 outputs
/// of the `tiny` model on the reference machine, 46 % of the head time, against under
/// 1 ms with `Fast` (docs/results-cloud.md). The pixels are identical; the files are
/// somewhat larger, which costs nothing next to that on the networks the cloud serves.
pub fn encode_rgb_fast(width: u32, height: u32, rgb: &[u8]) -> Result<Vec<u8>, PngError> {
    if rgb.len() != width as usize * height as usize * 3 {
        return Err(PngError(format!(
            "{} bytes for {width}x{height} RGB",
            rgb.len()
        )));
    }
    let mut out = Vec::with_capacity(rgb.len() / 2);
    let mut enc = png::Encoder::new(&mut out, width, height);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_compression(png::Compression::Fast);
    let mut writer = enc.write_header().map_err(|e| PngError(e.to_string()))?;
    writer
        .write_image_data(rgb)
        .map_err(|e| PngError(e.to_string()))?;
    writer.finish().map_err(|e| PngError(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn png_decodes_to_rgb_from_rgb_and_gray_and_refuses_garbage() {
        let rgb: Vec<u8> = (0..2 * 3 * 3).map(|i| (i * 13) as u8).collect();
        let png = super::encode_png8(3, 2, 3, &rgb).unwrap();
        let back = super::decode_png_rgb(&png).unwrap();
        assert_eq!((back.width, back.height, back.rgb), (3, 2, rgb));
        let gray = super::encode_png8(2, 1, 1, &[7, 200]).unwrap();
        assert_eq!(
            super::decode_png_rgb(&gray).unwrap().rgb,
            [7, 7, 7, 200, 200, 200]
        );
        assert!(super::decode_png_rgb(b"not a png").is_err());
        assert!(super::decode_png_rgb(&png[..png.len() - 20]).is_err());
        let huge = super::encode_png8(super::MAX_PNG_SIDE + 1, 1, 1, &vec![0; 4097]).unwrap();
        assert!(
            super::decode_png_rgb(&huge)
                .unwrap_err()
                .to_string()
                .contains("4097x1")
        );
    }

    use super::*;

    #[test]
    fn colours_and_png_sizes() {
        assert_eq!(labels_to_rgb(&[0, 255]), vec![128, 64, 128, 0, 0, 0]);
        assert_eq!(disparity_to_rgb(&[0.0], 10.0), vec![0, 0, 0]);
        assert_ne!(turbo(0.0), turbo(1.0));
        assert_eq!(max_disparity(&[1.0, f32::NAN, 3.0]), 3.0);
        let png = encode_png8(2, 1, 3, &[1, 2, 3, 4, 5, 6]).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        assert!(encode_png8(2, 1, 3, &[1, 2, 3]).is_err());
        assert!(encode_png8(2, 1, 2, &[1, 2, 3, 4]).is_err());
    }

    #[test]
    fn the_display_top_ignores_the_largest_two_percent() {
        // 0..99 and two outliers: 102 values, rank ceil(0.98 * 102) - 1 = 99 -> 99.
        let mut d: Vec<f32> = (0..100).map(|v| v as f32).collect();
        d.extend([500.0, 900.0, f32::NAN, f32::INFINITY]);
        assert_eq!(display_top(&d), 99.0);
        assert_eq!(max_disparity(&d), 900.0);
        assert_eq!(display_top(&[]), 0.0);
        assert_eq!(display_top(&[f32::NAN]), 0.0);
        assert_eq!(display_top(&[4.0]), 4.0);
    }
}
