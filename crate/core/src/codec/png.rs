//! Lossless grayscale PNG (the paper's codec).
//!
//! Planes of up to 8 bits are stored as 8-bit samples, deeper planes as 16-bit
//! (big-endian, as PNG defines). Encoder settings: see [`DEFLATE_LEVEL`] and
//! [`FILTERS`].

use std::io::Cursor;

use png::{ColorType, DeflateCompression, Filter};

use super::{CodecError, CodecId, FeatureCodec, checked_samples, try_zeroed};
use crate::quant::BitDepth;
use crate::tiling::Plane;

/// zlib level 9: on feature images about 1 % smaller than level 6 at 2-3x the
/// encode time (docs/results-codec.md).
pub const DEFLATE_LEVEL: u8 = 9;

/// Row filters the encoder tries; it keeps the smaller file. On sparse ReLU
/// features no filter wins by 20-25 % (prediction turns zero runs into noise); on
/// spatially smooth features, which the compressibility loss produces, the png
/// crate's per-row adaptive filter wins by about 10 %. PNG is the reference codec
/// of every rate comparison, so it gets the better of the two (docs/results-codec.md).
pub const FILTERS: [Filter; 2] = [Filter::NoFilter, Filter::Adaptive];

/// DEFLATE expands at most 1032:1 (258-byte matches coded in under two bits each);
/// a payload too short for the expected image even at that ratio is refused before
/// the image buffer is allocated.
const MAX_DEFLATE_RATIO: usize = 1032;

/// Allowance for the PNG decoder's own buffers (row buffers, ancillary chunks) on
/// top of the image itself.
const DECODER_SLACK_BYTES: usize = 1 << 20;

/// The PNG codec.
#[derive(Debug, Clone, Copy, Default)]
pub struct PngCodec;

/// The PNG sample depth that holds `bits`-bit codes.
fn depth_for(bits: BitDepth) -> png::BitDepth {
    if bits <= BitDepth::EIGHT {
        png::BitDepth::Eight
    } else {
        png::BitDepth::Sixteen
    }
}

fn png_err(e: impl std::fmt::Display) -> CodecError {
    CodecError::Png(e.to_string())
}

impl PngCodec {
    /// Encodes with explicit settings (for measuring alternatives).
    pub fn encode_with(
        plane: &Plane,
        compression: DeflateCompression,
        filter: Filter,
    ) -> Result<Vec<u8>, CodecError> {
        plane.validate()?;
        let depth = depth_for(plane.bits);
        let bytes: Vec<u8> = match depth {
            png::BitDepth::Sixteen => plane.data.iter().flat_map(|v| v.to_be_bytes()).collect(),
            _ => plane.data.iter().map(|&v| v as u8).collect(),
        };
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, plane.width, plane.height);
        encoder.set_color(ColorType::Grayscale);
        encoder.set_depth(depth);
        encoder.set_deflate_compression(compression);
        encoder.set_filter(filter);
        let mut writer = encoder.write_header().map_err(png_err)?;
        writer.write_image_data(&bytes).map_err(png_err)?;
        writer.finish().map_err(png_err)?;
        Ok(out)
    }
}

impl FeatureCodec for PngCodec {
    fn id(&self) -> CodecId {
        CodecId::Png
    }

    fn encode(&self, plane: &Plane) -> Result<Vec<u8>, CodecError> {
        let mut best: Option<Vec<u8>> = None;
        for filter in FILTERS {
            let png = Self::encode_with(plane, DeflateCompression::Level(DEFLATE_LEVEL), filter)?;
            if best.as_ref().is_none_or(|b| png.len() < b.len()) {
                best = Some(png);
            }
        }
        best.ok_or_else(|| CodecError::Png("no filter configured".into()))
    }

    fn decode(
        &self,
        payload: &[u8],
        width: u32,
        height: u32,
        bits: BitDepth,
    ) -> Result<Plane, CodecError> {
        let samples = checked_samples(width, height)?;
        let depth = depth_for(bits);
        let bytes_per_sample = if depth == png::BitDepth::Sixteen {
            2
        } else {
            1
        };
        let image_bytes = samples
            .checked_mul(bytes_per_sample)
            .ok_or(CodecError::TooLarge { width, height })?;
        // Filtered PNG data: one filter byte per row plus the samples.
        let raw_bytes = image_bytes.saturating_add(height as usize);
        let max_raw = payload
            .len()
            .saturating_mul(MAX_DEFLATE_RATIO)
            .saturating_add(1024);
        if raw_bytes > max_raw {
            return Err(CodecError::Png(format!(
                "{}-byte payload cannot hold a {width}x{height} image",
                payload.len()
            )));
        }
        let limits = png::Limits {
            bytes: image_bytes.saturating_add(DECODER_SLACK_BYTES),
        };
        let mut decoder = png::Decoder::new_with_limits(Cursor::new(payload), limits);
        // The header is checked against the expected image before any image-sized
        // buffer exists, so a payload claiming a huge image costs nothing.
        let info = decoder.read_header_info().map_err(png_err)?;
        if (info.width, info.height) != (width, height) {
            return Err(CodecError::DimensionMismatch {
                width,
                height,
                got_width: info.width,
                got_height: info.height,
            });
        }
        if info.color_type != ColorType::Grayscale || info.bit_depth != depth {
            return Err(CodecError::FormatMismatch {
                expected: format!("{:?} {:?}", ColorType::Grayscale, depth),
                got: format!("{:?} {:?}", info.color_type, info.bit_depth),
            });
        }
        let mut reader = decoder.read_info().map_err(png_err)?;
        if reader.output_buffer_size() != Some(image_bytes) {
            return Err(CodecError::FormatMismatch {
                expected: format!("{image_bytes} bytes"),
                got: format!("{:?} bytes", reader.output_buffer_size()),
            });
        }
        let mut buf = try_zeroed::<u8>(image_bytes)?;
        reader.next_frame(&mut buf).map_err(png_err)?;
        let data: Vec<u16> = if bytes_per_sample == 2 {
            buf.chunks_exact(2)
                .map(|b| u16::from_be_bytes([b[0], b[1]]))
                .collect()
        } else {
            buf.iter().map(|&b| u16::from(b)).collect()
        };
        let plane = Plane {
            width,
            height,
            bits,
            data,
        };
        // Samples above 2^bits - 1 fit the container but not the plane.
        plane.validate()?;
        Ok(plane)
    }
}
