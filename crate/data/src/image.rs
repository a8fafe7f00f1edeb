//! PNG output and false-colour views of samples: the class palette for labels and a
//! turbo colormap for disparity.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use splitfeat_core::classes::label_color;

use crate::{DataError, Sample};

/// Pixel layout of an 8-bit image buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    Gray,
    Rgb,
}

impl PixelFormat {
    fn channels(self) -> usize {
        match self {
            PixelFormat::Gray => 1,
            PixelFormat::Rgb => 3,
        }
    }
}

/// Writes an 8-bit grey or RGB (HWC) image as PNG.
pub fn write_png(
    path: &Path,
    width: u32,
    height: u32,
    format: PixelFormat,
    pixels: &[u8],
) -> Result<(), DataError> {
    let expected = width as usize * height as usize * format.channels();
    if pixels.len() != expected {
        return Err(DataError::BufferLength { width, height, expected, found: pixels.len() });
    }
    let color = match format {
        PixelFormat::Gray => png::ColorType::Grayscale,
        PixelFormat::Rgb => png::ColorType::Rgb,
    };
    encode(path, width, height, color, png::BitDepth::Eight, pixels)
}

/// Writes a 16-bit greyscale PNG (as Cityscapes stores disparity).
pub fn write_png_gray16(path: &Path, width: u32, height: u32, values: &[u16]) -> Result<(), DataError> {
    let expected = width as usize * height as usize;
    if values.len() != expected {
        return Err(DataError::BufferLength { width, height, expected, found: values.len() });
    }
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_be_bytes()).collect();
    encode(path, width, height, png::ColorType::Grayscale, png::BitDepth::Sixteen, &bytes)
}

fn encode(
    path: &Path,
    width: u32,
    height: u32,
    color: png::ColorType,
    depth: png::BitDepth,
    data: &[u8],
) -> Result<(), DataError> {
    let file = File::create(path).map_err(|e| DataError::io(path, e))?;
    let mut enc = png::Encoder::new(BufWriter::new(file), width, height);
    enc.set_color(color);
    enc.set_depth(depth);
    let fail = |source| DataError::Encode { path: path.to_owned(), source };
    let mut writer = enc.write_header().map_err(fail)?;
    writer.write_image_data(data).map_err(fail)?;
    writer.finish().map_err(fail)
}

/// Labels as RGB in the Cityscapes class palette; ignore is black.
pub fn labels_to_rgb(labels: &[u8]) -> Vec<u8> {
    labels.iter().flat_map(|&l| label_color(l)).collect()
}

/// Turbo colormap (Google, 2019), as its published degree-5 polynomial fit;
/// `t` in 0..=1 runs from dark blue (far) through green and yellow to dark red (near).
pub fn turbo(t: f32) -> [u8; 3] {
    let x = t.clamp(0.0, 1.0);
    let poly = |c: [f32; 6]| c[0] + x * (c[1] + x * (c[2] + x * (c[3] + x * (c[4] + x * c[5]))));
    let r = poly([0.135_721_38, 4.615_392_6, -42.660_322, 132.131_08, -152.942_4, 59.286_38]);
    let g = poly([0.091_402_61, 2.194_188_4, 4.842_966_6, -14.185_033, 4.277_298_6, 2.829_566]);
    let b = poly([0.106_673_3, 12.641_946, -60.582_05, 110.362_77, -89.903_11, 27.348_25]);
    [r, g, b].map(|v| (v.clamp(0.0, 1.0) * 255.0 + 0.5) as u8)
}

/// Disparity as RGB through [`turbo`], scaled so that `max` maps to the top of the
/// colormap; invalid pixels (0) are black.
pub fn disparity_to_rgb(disparity: &[f32], max: f32) -> Vec<u8> {
    let inv = if max > 0.0 { 1.0 / max } else { 0.0 };
    disparity
        .iter()
        .flat_map(|&d| if d > 0.0 { turbo(d * inv) } else { [0, 0, 0] })
        .collect()
}

/// Largest disparity of a sample (0 if none is valid).
pub fn max_disparity(disparity: &[f32]) -> f32 {
    disparity.iter().copied().filter(|d| d.is_finite()).fold(0.0, f32::max)
}

/// Image, colourised labels and colourised disparity side by side, separated by
/// `gap` white columns: `(width, height, rgb)`.
pub fn preview_panel(s: &Sample, gap: u32) -> (u32, u32, Vec<u8>) {
    let w = s.width as usize;
    let h = s.height as usize;
    let g = gap as usize;
    let labels = labels_to_rgb(&s.labels);
    let disp = disparity_to_rgb(&s.disparity, max_disparity(&s.disparity));
    let out_w = 3 * w + 2 * g;
    let mut out = vec![255u8; out_w * h * 3];
    for r in 0..h {
        for (k, src) in [&s.rgb, &labels, &disp].into_iter().enumerate() {
            let dst = (r * out_w + k * (w + g)) * 3;
            out[dst..dst + w * 3].copy_from_slice(&src[r * w * 3..(r + 1) * w * 3]);
        }
    }
    (out_w as u32, h as u32, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turbo_runs_blue_to_red() {
        let lo = turbo(0.1);
        let hi = turbo(1.0);
        assert!(lo[2] > lo[0]);
        assert!(hi[0] > hi[2]);
        assert_eq!(disparity_to_rgb(&[0.0], 10.0), vec![0, 0, 0]);
    }

    #[test]
    fn wrong_buffer_length_is_an_error() {
        let err = write_png(Path::new("/nonexistent/x.png"), 2, 2, PixelFormat::Rgb, &[0; 5]);
        assert!(matches!(err, Err(DataError::BufferLength { expected: 12, .. })));
    }
}
