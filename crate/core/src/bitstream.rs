//! The feature bitstream: a versioned, self-describing, checksummed container for one
//! coded feature tensor. Byte layout (all little-endian) in docs/bitstream.md:
//!
//! ```text
//! offset size field
//!      0    4 magic "SPFT"
//!      4    1 version (1)
//!      5    8 model id
//!     13    1 codec tag        (1 png, 2 jpeg, 3 ans)
//!     14    1 codec parameter  (jpeg quality 1..=100, else 0)
//!     15    1 bit depth        (2..=16; jpeg: 8)
//!     16    2 channels
//!     18    2 height
//!     20    2 width
//!     22    4 min (f32)
//!     26    4 max (f32)
//!     30    4 payload length L
//!     34    L payload
//!   34+L    4 CRC-32 (IEEE) of bytes 0 .. 34+L
//! ```
//!
//! [`parse`] checks, in this order: length, magic, version, payload length against
//! [`Limits`] and the data, CRC, then the fields (codec, bit depth, shape, range).
//! So a damaged stream reports the damage (mostly `BadCrc`) and a well-formed stream
//! with unacceptable content reports the field.

use serde::{Deserialize, Serialize};

use crate::codec::{CodecError, CodecId};
use crate::quant::{BitDepth, BitDepthError, QuantParams};
use crate::tiling::FeatureShape;
use crate::zoo::ModelId;

/// The four magic bytes.
pub const MAGIC: [u8; 4] = *b"SPFT";
/// The format version this code writes and reads.
pub const VERSION: u8 = 1;
/// Bytes before the payload.
pub const HEADER_LEN: usize = 34;
/// Bytes after the payload (the CRC).
pub const TRAILER_LEN: usize = 4;
/// Smallest possible stream (empty payload).
pub const MIN_LEN: usize = HEADER_LEN + TRAILER_LEN;

/// Everything the stream says about the payload.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// The edge model that produced the features.
    pub model_id: ModelId,
    pub codec: CodecId,
    /// Bit depth of the quantized codes.
    pub bits: BitDepth,
    pub shape: FeatureShape,
    /// Quantization range (f32 side information).
    pub min: f32,
    pub max: f32,
}

impl Header {
    /// The quantization parameters.
    pub fn quant(&self) -> QuantParams {
        QuantParams {
            bits: self.bits,
            min: self.min,
            max: self.max,
        }
    }

    /// Checks the fields against the format and `limits` (the bit depth is in range
    /// by its type; the codec must carry it).
    pub fn validate(&self, limits: &Limits) -> Result<(), BitstreamError> {
        self.codec.validate()?;
        self.codec.check_bits(self.bits)?;
        limits.check_shape(self.shape)?;
        if !(self.min.is_finite() && self.max.is_finite()) || self.min > self.max {
            return Err(BitstreamError::NonFiniteRange {
                min: self.min,
                max: self.max,
            });
        }
        Ok(())
    }
}

/// Bounds that [`parse`] enforces before anything is decoded, so a stream can never
/// make the decoder allocate more than these allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    pub max_channels: u16,
    pub max_height: u16,
    pub max_width: u16,
    /// Largest `C * H * W`.
    pub max_elements: usize,
    /// Largest payload in bytes.
    pub max_payload: usize,
}

impl Default for Limits {
    /// Generous defaults: 4096 channels, 1024 x 1024 per channel, 16 Mi elements,
    /// 64 MiB of payload.
    fn default() -> Self {
        Self {
            max_channels: 4096,
            max_height: 1024,
            max_width: 1024,
            max_elements: 16 << 20,
            max_payload: 64 << 20,
        }
    }
}

impl Limits {
    /// Errors when a dimension is zero or the shape exceeds these limits.
    pub fn check_shape(&self, shape: FeatureShape) -> Result<(), BitstreamError> {
        let ok = shape.channels > 0
            && shape.height > 0
            && shape.width > 0
            && shape.channels <= self.max_channels
            && shape.height <= self.max_height
            && shape.width <= self.max_width
            && shape.len() <= self.max_elements;
        if ok {
            Ok(())
        } else {
            Err(BitstreamError::ShapeOutOfLimits {
                shape,
                limits: *self,
            })
        }
    }
}

/// Why a stream was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BitstreamError {
    #[error("stream is {len} bytes, shorter than the {MIN_LEN}-byte minimum")]
    TooShort { len: usize },
    #[error("bad magic {0:02x?} (expected \"SPFT\")")]
    BadMagic([u8; 4]),
    #[error("unsupported bitstream version {0} (this decoder reads {VERSION})")]
    UnsupportedVersion(u8),
    #[error("payload of {len} bytes exceeds the limit of {max}")]
    PayloadTooLarge { len: usize, max: usize },
    #[error("stream truncated: {needed} bytes needed, {available} present")]
    Truncated { needed: usize, available: usize },
    #[error("{extra} bytes after the end of the stream")]
    TrailingBytes { extra: usize },
    #[error("CRC mismatch: stored {stored:08x}, computed {computed:08x}")]
    BadCrc { stored: u32, computed: u32 },
    #[error("codec: {0}")]
    Codec(#[from] CodecError),
    /// The bit depth byte is outside the range ([`BitDepth`]).
    #[error(transparent)]
    BadBitDepth(#[from] BitDepthError),
    #[error("shape {shape} outside limits {limits:?}")]
    ShapeOutOfLimits { shape: FeatureShape, limits: Limits },
    #[error("quantization range min {min} max {max} is not finite or has min > max")]
    NonFiniteRange { min: f32, max: f32 },
}

/// Serializes a stream. Errors when the header is invalid (under default limits)
/// or the payload does not fit the 32-bit length field.
pub fn write(header: &Header, payload: &[u8]) -> Result<Vec<u8>, BitstreamError> {
    header.validate(&Limits {
        max_channels: u16::MAX,
        max_height: u16::MAX,
        max_width: u16::MAX,
        max_elements: usize::MAX,
        max_payload: usize::MAX,
    })?;
    let len = u32::try_from(payload.len()).map_err(|_| BitstreamError::PayloadTooLarge {
        len: payload.len(),
        max: u32::MAX as usize,
    })?;
    let (tag, param) = header.codec.to_tag();
    let mut out = Vec::with_capacity(MIN_LEN + payload.len());
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&header.model_id.to_bytes());
    out.extend_from_slice(&[tag, param, header.bits.get()]);
    out.extend_from_slice(&header.shape.channels.to_le_bytes());
    out.extend_from_slice(&header.shape.height.to_le_bytes());
    out.extend_from_slice(&header.shape.width.to_le_bytes());
    out.extend_from_slice(&header.min.to_le_bytes());
    out.extend_from_slice(&header.max.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(out)
}

/// Total stream length for a payload of `payload_len` bytes.
pub fn stream_len(payload_len: usize) -> usize {
    MIN_LEN + payload_len
}

/// Fixed-size little-endian field reader over the (already length-checked) header.
struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    fn array<const N: usize>(&self, at: usize) -> [u8; N] {
        let mut out = [0u8; N];
        if let Some(src) = self.0.get(at..at + N) {
            out.copy_from_slice(src);
        }
        out
    }
    fn u8(&self, at: usize) -> u8 {
        self.array::<1>(at)[0]
    }
    fn u16(&self, at: usize) -> u16 {
        u16::from_le_bytes(self.array(at))
    }
    fn u32(&self, at: usize) -> u32 {
        u32::from_le_bytes(self.array(at))
    }
    fn f32(&self, at: usize) -> f32 {
        f32::from_le_bytes(self.array(at))
    }
}

/// Parses and checks a stream; returns the header and the payload slice.
pub fn parse<'a>(bytes: &'a [u8], limits: &Limits) -> Result<(Header, &'a [u8]), BitstreamError> {
    if bytes.len() < MIN_LEN {
        return Err(BitstreamError::TooShort { len: bytes.len() });
    }
    let f = Fields(bytes);
    let magic: [u8; 4] = f.array(0);
    if magic != MAGIC {
        return Err(BitstreamError::BadMagic(magic));
    }
    let version = f.u8(4);
    if version != VERSION {
        return Err(BitstreamError::UnsupportedVersion(version));
    }
    let payload_len = f.u32(30) as usize;
    if payload_len > limits.max_payload {
        return Err(BitstreamError::PayloadTooLarge {
            len: payload_len,
            max: limits.max_payload,
        });
    }
    let needed = HEADER_LEN + payload_len + TRAILER_LEN;
    if bytes.len() < needed {
        return Err(BitstreamError::Truncated {
            needed,
            available: bytes.len(),
        });
    }
    if bytes.len() > needed {
        return Err(BitstreamError::TrailingBytes {
            extra: bytes.len() - needed,
        });
    }
    let body_end = HEADER_LEN + payload_len;
    let stored = f.u32(body_end);
    let computed = crc32fast::hash(bytes.get(..body_end).unwrap_or_default());
    if stored != computed {
        return Err(BitstreamError::BadCrc { stored, computed });
    }
    let header = Header {
        model_id: ModelId::from_bytes(f.array(5)),
        codec: CodecId::from_tag(f.u8(13), f.u8(14))?,
        bits: BitDepth::new(f.u8(15))?,
        shape: FeatureShape::new(f.u16(16), f.u16(18), f.u16(20)),
        min: f.f32(22),
        max: f.f32(26),
    };
    header.validate(limits)?;
    Ok((header, bytes.get(HEADER_LEN..body_end).unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            model_id: ModelId::from_bytes(*b"modelid1"),
            codec: CodecId::Jpeg { quality: 90 },
            bits: BitDepth::EIGHT,
            shape: FeatureShape::new(64, 8, 16),
            min: 0.0,
            max: 3.5,
        }
    }

    #[test]
    fn layout_matches_the_spec() {
        let bytes = write(&header(), &[0xaa, 0xbb]).unwrap();
        assert_eq!(bytes.len(), MIN_LEN + 2);
        assert_eq!(&bytes[0..4], b"SPFT");
        assert_eq!(bytes[4], 1);
        assert_eq!(&bytes[5..13], b"modelid1");
        assert_eq!(&bytes[13..16], &[2, 90, 8]);
        assert_eq!(&bytes[16..22], &[64, 0, 8, 0, 16, 0]);
        assert_eq!(&bytes[22..26], &0.0f32.to_le_bytes());
        assert_eq!(&bytes[26..30], &3.5f32.to_le_bytes());
        assert_eq!(&bytes[30..34], &[2, 0, 0, 0]);
        assert_eq!(&bytes[34..36], &[0xaa, 0xbb]);
        assert_eq!(&bytes[36..40], &crc32fast::hash(&bytes[..36]).to_le_bytes());
        let (h, payload) = parse(&bytes, &Limits::default()).unwrap();
        assert_eq!(h, header());
        assert_eq!(payload, &[0xaa, 0xbb]);
    }

    #[test]
    fn write_refuses_invalid_headers() {
        let mut h = header();
        h.min = f32::NAN;
        assert!(matches!(
            write(&h, &[]),
            Err(BitstreamError::NonFiniteRange { .. })
        ));
        let mut h = header();
        h.bits = BitDepth::new(10).unwrap();
        assert!(matches!(
            write(&h, &[]),
            Err(BitstreamError::Codec(
                CodecError::UnsupportedBitDepth { .. }
            ))
        ));
        let mut h = header();
        h.shape.width = 0;
        assert!(matches!(
            write(&h, &[]),
            Err(BitstreamError::ShapeOutOfLimits { .. })
        ));
    }
}
