//! Lossy grayscale JPEG (the paper's lossy codec, quality 95/90/85/80).
//!
//! Encoded with `jpeg-encoder` (baseline, one luma component, standard tables
//! scaled by quality), decoded with `zune-jpeg`. 8-bit planes only; JPEG dimensions
//! are limited to 65535.

use jpeg_encoder::ColorType as JpegColor;
use zune_jpeg::JpegDecoder;
use zune_jpeg::zune_core::bytestream::ZCursor;
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;

use super::{CodecError, CodecId, FeatureCodec, checked_samples, try_zeroed};
use crate::quant::BitDepth;
use crate::tiling::Plane;

/// The JPEG codec at a fixed quality (1..=100).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JpegCodec {
    pub quality: u8,
}

fn jpeg_err(e: impl std::fmt::Display) -> CodecError {
    CodecError::Jpeg(e.to_string())
}

fn jpeg_dims(width: u32, height: u32) -> Result<(u16, u16), CodecError> {
    match (u16::try_from(width), u16::try_from(height)) {
        (Ok(w), Ok(h)) if w > 0 && h > 0 => Ok((w, h)),
        _ => Err(CodecError::TooLarge { width, height }),
    }
}

impl FeatureCodec for JpegCodec {
    fn id(&self) -> CodecId {
        CodecId::Jpeg {
            quality: self.quality,
        }
    }

    fn encode(&self, plane: &Plane) -> Result<Vec<u8>, CodecError> {
        let id = self.id();
        id.validate()?;
        id.check_bits(plane.bits)?;
        plane.validate()?;
        let (w, h) = jpeg_dims(plane.width, plane.height)?;
        let bytes: Vec<u8> = plane.data.iter().map(|&v| v as u8).collect();
        let mut out = Vec::new();
        let encoder = jpeg_encoder::Encoder::new(&mut out, self.quality);
        encoder
            .encode(&bytes, w, h, JpegColor::Luma)
            .map_err(jpeg_err)?;
        Ok(out)
    }

    fn decode(
        &self,
        payload: &[u8],
        width: u32,
        height: u32,
        bits: BitDepth,
    ) -> Result<Plane, CodecError> {
        self.id().check_bits(bits)?;
        let samples = checked_samples(width, height)?;
        jpeg_dims(width, height)?;
        // The decoder refuses larger frames before allocating for them; strict mode
        // turns truncated or damaged entropy-coded data into errors instead of grey.
        let options = DecoderOptions::default()
            .jpeg_set_out_colorspace(ColorSpace::Luma)
            .set_max_width(width as usize)
            .set_max_height(height as usize)
            .set_strict_mode(true);
        let mut decoder = JpegDecoder::new_with_options(ZCursor::new(payload), options);
        decoder.decode_headers().map_err(jpeg_err)?;
        let info = decoder
            .info()
            .ok_or_else(|| CodecError::Jpeg("no image header".into()))?;
        if (u32::from(info.width), u32::from(info.height)) != (width, height) {
            return Err(CodecError::DimensionMismatch {
                width,
                height,
                got_width: u32::from(info.width),
                got_height: u32::from(info.height),
            });
        }
        if info.components != 1 {
            return Err(CodecError::FormatMismatch {
                expected: "1 component".into(),
                got: format!("{} components", info.components),
            });
        }
        if decoder.output_buffer_size() != Some(samples) {
            return Err(CodecError::FormatMismatch {
                expected: format!("{samples} bytes"),
                got: format!("{:?} bytes", decoder.output_buffer_size()),
            });
        }
        let mut buf = try_zeroed::<u8>(samples)?;
        decoder.decode_into(&mut buf).map_err(jpeg_err)?;
        Ok(Plane {
            width,
            height,
            bits,
            data: buf.into_iter().map(u16::from).collect(),
        })
    }
}
