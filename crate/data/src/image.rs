//! PNG files and false-colour views of samples: the class palette for labels and the
//! turbo colormap for disparity (the colourising itself lives in
//! `splitfeat_core::viz`, shared with the cloud and the browser).

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

pub use splitfeat_core::viz::{disparity_to_rgb, labels_to_rgb, max_disparity, turbo};

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
        return Err(DataError::BufferLength {
            width,
            height,
            expected,
            found: pixels.len(),
        });
    }
    let color = match format {
        PixelFormat::Gray => png::ColorType::Grayscale,
        PixelFormat::Rgb => png::ColorType::Rgb,
    };
    encode(path, width, height, color, png::BitDepth::Eight, pixels)
}

/// Writes a 16-bit greyscale PNG (as Cityscapes stores disparity).
pub fn write_png_gray16(
    path: &Path,
    width: u32,
    height: u32,
    values: &[u16],
) -> Result<(), DataError> {
    let expected = width as usize * height as usize;
    if values.len() != expected {
        return Err(DataError::BufferLength {
            width,
            height,
            expected,
            found: values.len(),
        });
    }
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_be_bytes()).collect();
    encode(
        path,
        width,
        height,
        png::ColorType::Grayscale,
        png::BitDepth::Sixteen,
        &bytes,
    )
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
    let fail = |source| DataError::Encode {
        path: path.to_owned(),
        source,
    };
    let mut writer = enc.write_header().map_err(fail)?;
    writer.write_image_data(data).map_err(fail)?;
    writer.finish().map_err(fail)
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
    fn panel_puts_three_views_side_by_side() {
        let s = Sample {
            width: 2,
            height: 1,
            rgb: vec![1, 2, 3, 4, 5, 6],
            labels: vec![0, 255],
            disparity: vec![0.0, 4.0],
        };
        let (w, h, px) = preview_panel(&s, 1);
        assert_eq!((w, h), (8, 1));
        assert_eq!(&px[..6], &[1, 2, 3, 4, 5, 6]);
        assert_eq!(&px[6..9], &[255, 255, 255]);
        assert_eq!(&px[9..15], &[128, 64, 128, 0, 0, 0]);
        assert_eq!(&px[18..21], &[0, 0, 0]);
        assert_eq!(&px[21..24], &turbo(1.0));
    }

    #[test]
    fn wrong_buffer_length_is_an_error() {
        let err = write_png(
            Path::new("/nonexistent/x.png"),
            2,
            2,
            PixelFormat::Rgb,
            &[0; 5],
        );
        assert!(matches!(
            err,
            Err(DataError::BufferLength { expected: 12, .. })
        ));
    }
}
