//! Coding of the tiled feature image ([`Plane`]) into a payload and back.
//!
//! Three codecs, named by [`CodecId`]:
//! - `png`: lossless grayscale PNG, 8-bit samples for bit depths up to 8, 16-bit
//!   above ([`png::PngCodec`]);
//! - `jpeg<q>`: baseline grayscale JPEG at quality `q` in 1..=100, 8-bit planes only
//!   ([`jpeg::JpegCodec`]); lossy;
//! - `ans`: a lossless entropy coder on `constriction`'s ANS, built for sparse
//!   post-ReLU features ([`ans::AnsCodec`], payload format in docs/bitstream.md);
//! - `prior`: lossless, the codes under the model's own learned per-channel tables
//!   ([`prior`]); it needs the model's tables, so it codes the CHW codes, not a plane,
//!   and [`CodecId::encode`] / [`CodecId::decode`] refuse it.
//!
//! Every decoder checks the payload against the width, height and bit depth that the
//! caller expects (from the bitstream header) and never allocates more than that
//! image needs. A [`BitDepth`] is always in range; only JPEG, which carries 8-bit
//! planes alone, checks it ([`CodecId::check_bits`]).

pub mod ans;
pub mod jpeg;
pub mod png;
pub mod prior;
mod varint;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::quant::BitDepth;
use crate::tiling::{Plane, TilingError};

/// Which codec produced a payload, with its parameter.
///
/// Serialized (serde, CLI, HTTP) as its name: `png`, `jpeg95`, `ans`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum CodecId {
    /// Lossless PNG.
    Png,
    /// Lossy JPEG at `quality` 1..=100 (8-bit planes only).
    Jpeg { quality: u8 },
    /// Lossless ANS entropy coder.
    Ans,
    /// Lossless ANS coding under the model's learned tables ([`prior`]).
    Prior,
}

/// Bitstream tag of [`CodecId::Png`].
pub const TAG_PNG: u8 = 1;
/// Bitstream tag of [`CodecId::Jpeg`]; the parameter byte is the quality.
pub const TAG_JPEG: u8 = 2;
/// Bitstream tag of [`CodecId::Ans`].
pub const TAG_ANS: u8 = 3;
/// Bitstream tag of [`CodecId::Prior`].
pub const TAG_PRIOR: u8 = 4;

impl CodecId {
    /// The lossless codecs that code any plane (not [`CodecId::Prior`], which needs
    /// a model's tables).
    pub const LOSSLESS: [CodecId; 2] = [CodecId::Png, CodecId::Ans];

    /// JPEG at `quality`, checked to lie in 1..=100.
    pub fn jpeg(quality: u8) -> Result<Self, CodecError> {
        let id = CodecId::Jpeg { quality };
        id.validate()?;
        Ok(id)
    }

    /// Rejects a JPEG quality outside 1..=100.
    pub fn validate(&self) -> Result<(), CodecError> {
        match *self {
            CodecId::Jpeg { quality } if !(1..=100).contains(&quality) => {
                Err(CodecError::BadQuality(quality))
            }
            _ => Ok(()),
        }
    }

    /// `(tag, parameter)` bytes written to the bitstream.
    pub fn to_tag(&self) -> (u8, u8) {
        match *self {
            CodecId::Png => (TAG_PNG, 0),
            CodecId::Jpeg { quality } => (TAG_JPEG, quality),
            CodecId::Ans => (TAG_ANS, 0),
            CodecId::Prior => (TAG_PRIOR, 0),
        }
    }

    /// Inverse of [`CodecId::to_tag`]; errors on an unknown tag or a parameter the
    /// codec does not define (non-zero for png/ans, quality outside 1..=100).
    pub fn from_tag(tag: u8, param: u8) -> Result<Self, CodecError> {
        let id = match (tag, param) {
            (TAG_PNG, 0) => CodecId::Png,
            (TAG_JPEG, quality) => CodecId::Jpeg { quality },
            (TAG_ANS, 0) => CodecId::Ans,
            (TAG_PRIOR, 0) => CodecId::Prior,
            (TAG_PNG | TAG_ANS | TAG_PRIOR, _) => return Err(CodecError::BadParam { tag, param }),
            _ => return Err(CodecError::UnknownTag(tag)),
        };
        id.validate()?;
        Ok(id)
    }

    /// True when decoding reproduces the plane bit-exactly.
    pub fn is_lossless(&self) -> bool {
        !matches!(self, CodecId::Jpeg { .. })
    }

    /// Whether the codec can carry planes of `bits` bits: every bit depth, except for
    /// JPEG, which is 8-bit only.
    pub fn supports_bits(&self, bits: BitDepth) -> bool {
        match self {
            CodecId::Jpeg { .. } => bits == BitDepth::EIGHT,
            CodecId::Png | CodecId::Ans | CodecId::Prior => true,
        }
    }

    /// Errors unless the codec can carry planes of `bits` bits.
    pub fn check_bits(&self, bits: BitDepth) -> Result<(), CodecError> {
        if self.supports_bits(bits) {
            Ok(())
        } else {
            Err(CodecError::UnsupportedBitDepth { codec: *self, bits })
        }
    }

    /// True for codecs that code with a model's own tables ([`CodecId::Prior`]).
    pub fn needs_tables(&self) -> bool {
        *self == CodecId::Prior
    }

    /// Encodes `plane` with this codec.
    pub fn encode(&self, plane: &Plane) -> Result<Vec<u8>, CodecError> {
        match *self {
            CodecId::Png => png::PngCodec.encode(plane),
            CodecId::Jpeg { quality } => jpeg::JpegCodec { quality }.encode(plane),
            CodecId::Ans => ans::AnsCodec.encode(plane),
            CodecId::Prior => Err(CodecError::NeedsTables),
        }
    }

    /// Decodes a payload of this codec into a `width x height` plane of `bits` bits.
    pub fn decode(
        &self,
        payload: &[u8],
        width: u32,
        height: u32,
        bits: BitDepth,
    ) -> Result<Plane, CodecError> {
        match *self {
            CodecId::Png => png::PngCodec.decode(payload, width, height, bits),
            CodecId::Jpeg { quality } => {
                jpeg::JpegCodec { quality }.decode(payload, width, height, bits)
            }
            CodecId::Ans => ans::AnsCodec.decode(payload, width, height, bits),
            CodecId::Prior => Err(CodecError::NeedsTables),
        }
    }
}

impl fmt::Display for CodecId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodecId::Png => f.write_str("png"),
            CodecId::Jpeg { quality } => write!(f, "jpeg{quality}"),
            CodecId::Ans => f.write_str("ans"),
            CodecId::Prior => f.write_str("prior"),
        }
    }
}

impl FromStr for CodecId {
    type Err = CodecError;

    /// Parses `png`, `ans` or `jpeg<q>` (`jpeg95`; `jpeg-95` and `jpeg:95` too),
    /// case-insensitively.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        match lower.as_str() {
            "png" => Ok(CodecId::Png),
            "ans" => Ok(CodecId::Ans),
            "prior" => Ok(CodecId::Prior),
            other => {
                let quality = other
                    .strip_prefix("jpeg")
                    .map(|q| q.trim_start_matches(['-', ':']))
                    .and_then(|q| q.parse::<u8>().ok())
                    .ok_or_else(|| CodecError::UnknownName(s.to_owned()))?;
                CodecId::jpeg(quality)
            }
        }
    }
}

impl From<CodecId> for String {
    fn from(id: CodecId) -> String {
        id.to_string()
    }
}

impl TryFrom<String> for CodecId {
    type Error = CodecError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// A feature-image codec. Implementations are stateless.
pub trait FeatureCodec: Send + Sync {
    /// Which codec this is.
    fn id(&self) -> CodecId;

    /// Codes a plane into a payload.
    fn encode(&self, plane: &Plane) -> Result<Vec<u8>, CodecError>;

    /// Decodes a payload into a `width x height` plane of `bits` bits; errors when the
    /// payload describes anything else.
    fn decode(
        &self,
        payload: &[u8],
        width: u32,
        height: u32,
        bits: BitDepth,
    ) -> Result<Plane, CodecError>;
}

/// Why a plane could not be coded or a payload decoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CodecError {
    #[error("unknown codec tag {0}")]
    UnknownTag(u8),
    #[error("codec tag {tag} does not take parameter {param}")]
    BadParam { tag: u8, param: u8 },
    #[error("unknown codec name {0:?} (expected png, ans, prior or jpeg<quality>)")]
    UnknownName(String),
    #[error("JPEG quality {0} is outside 1..=100")]
    BadQuality(u8),
    #[error("codec {codec} does not support {bits}-bit planes")]
    UnsupportedBitDepth { codec: CodecId, bits: BitDepth },
    #[error("invalid plane: {0}")]
    InvalidPlane(#[from] TilingError),
    #[error("{width}x{height} image is too large for this codec")]
    TooLarge { width: u32, height: u32 },
    #[error("payload holds a {got_width}x{got_height} image, {width}x{height} expected")]
    DimensionMismatch {
        width: u32,
        height: u32,
        got_width: u32,
        got_height: u32,
    },
    #[error("payload has {got}, {expected} expected")]
    FormatMismatch { expected: String, got: String },
    #[error("cannot allocate {bytes} bytes for the decoded image")]
    Allocation { bytes: usize },
    #[error("PNG: {0}")]
    Png(String),
    #[error("JPEG: {0}")]
    Jpeg(String),
    #[error("corrupt ANS payload: {0}")]
    Corrupt(&'static str),
    #[error("the prior codec needs the model's tables; this model has none")]
    NeedsTables,
    #[error("invalid prior tables: {0}")]
    BadTables(String),
    #[error("the model has no prior tables for {0}-bit features")]
    NoTablesForDepth(BitDepth),
}

/// Number of samples of a `width x height` image, as a checked allocation size.
pub(crate) fn checked_samples(width: u32, height: u32) -> Result<usize, CodecError> {
    Plane::sample_count(width, height)
        .filter(|&n| n > 0)
        .ok_or(CodecError::TooLarge { width, height })
}

/// A zeroed buffer of `len` elements; an allocation failure is an error, not an abort.
pub(crate) fn try_zeroed<T: Clone + Default>(len: usize) -> Result<Vec<T>, CodecError> {
    let mut v = Vec::new();
    v.try_reserve_exact(len)
        .map_err(|_| CodecError::Allocation {
            bytes: len.saturating_mul(std::mem::size_of::<T>()),
        })?;
    v.resize(len, T::default());
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for id in [
            CodecId::Png,
            CodecId::Ans,
            CodecId::Prior,
            CodecId::Jpeg { quality: 95 },
        ] {
            assert_eq!(id.to_string().parse::<CodecId>().unwrap(), id);
            let (tag, param) = id.to_tag();
            assert_eq!(CodecId::from_tag(tag, param).unwrap(), id);
        }
        assert_eq!(
            "JPEG-80".parse::<CodecId>().unwrap(),
            CodecId::Jpeg { quality: 80 }
        );
        assert_eq!(
            "jpeg:1".parse::<CodecId>().unwrap(),
            CodecId::Jpeg { quality: 1 }
        );
        assert!(matches!(
            "jpeg0".parse::<CodecId>(),
            Err(CodecError::BadQuality(0))
        ));
        assert!(matches!(
            "jpeg101".parse::<CodecId>(),
            Err(CodecError::BadQuality(101))
        ));
        assert!(matches!(
            "jpeg".parse::<CodecId>(),
            Err(CodecError::UnknownName(_))
        ));
        assert!(matches!(
            "webp".parse::<CodecId>(),
            Err(CodecError::UnknownName(_))
        ));
    }

    #[test]
    fn tags_reject_unknown_and_bad_params() {
        assert_eq!(CodecId::from_tag(0, 0), Err(CodecError::UnknownTag(0)));
        assert_eq!(CodecId::from_tag(9, 0), Err(CodecError::UnknownTag(9)));
        assert_eq!(
            CodecId::from_tag(TAG_PNG, 3),
            Err(CodecError::BadParam {
                tag: TAG_PNG,
                param: 3
            })
        );
        assert_eq!(
            CodecId::from_tag(TAG_JPEG, 0),
            Err(CodecError::BadQuality(0))
        );
    }

    #[test]
    fn serde_uses_names() {
        let json = serde_json::to_string(&[CodecId::Png, CodecId::Jpeg { quality: 90 }]).unwrap();
        assert_eq!(json, r#"["png","jpeg90"]"#);
        let back: Vec<CodecId> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, vec![CodecId::Png, CodecId::Jpeg { quality: 90 }]);
        assert!(serde_json::from_str::<CodecId>(r#""jpeg300""#).is_err());
    }

    #[test]
    fn bit_depth_support() {
        assert!(CodecId::Png.supports_bits(BitDepth::MAX));
        assert!(CodecId::Ans.supports_bits(BitDepth::MIN));
        assert!(CodecId::Jpeg { quality: 90 }.supports_bits(BitDepth::EIGHT));
        let ten = BitDepth::new(10).unwrap();
        assert!(!CodecId::Jpeg { quality: 90 }.supports_bits(ten));
        assert_eq!(
            CodecId::Jpeg { quality: 90 }.check_bits(ten),
            Err(CodecError::UnsupportedBitDepth {
                codec: CodecId::Jpeg { quality: 90 },
                bits: ten
            })
        );
    }
}
