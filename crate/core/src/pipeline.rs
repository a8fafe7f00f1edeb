//! The feature-coding pipeline shared by browser (edge), server (cloud) and trainer.
//!
//! Edge: [`quant::quantize`] -> [`tiling::tile`] -> [`CodecId::encode`] ->
//! [`bitstream::write`]; [`encode_features`] runs all four.
//! Cloud: [`bitstream::parse`] -> [`CodecId::decode`] -> [`tiling::untile`] ->
//! [`quant::dequantize`]; [`decode_features`] runs all four.
//!
//! Core has no clock (`std::time::Instant` panics on wasm32), so callers that report
//! per-stage timings call the stage functions themselves; each wrapper is nothing
//! more than those calls in order.
//!
//! The bitrate of a frame is the length of the whole stream: header, codec side
//! information and payload ([`bits_per_element`]).

use serde::{Deserialize, Serialize};

use crate::bitstream::{self, BitstreamError, Header, Limits};
use crate::codec::prior::{self, ModelTables};
use crate::codec::{CodecError, CodecId};
use crate::quant::{self, BitDepth, QuantError};
pub use crate::tiling::FeatureShape;
use crate::tiling::{self, Plane, TileGrid, TilingError};
use crate::zoo::ModelId;

/// Why encoding or decoding features failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PipelineError {
    #[error("quantization: {0}")]
    Quant(#[from] QuantError),
    #[error("tiling: {0}")]
    Tiling(#[from] TilingError),
    #[error("codec: {0}")]
    Codec(#[from] CodecError),
    #[error("bitstream: {0}")]
    Bitstream(#[from] BitstreamError),
    #[error("stream is for model {found}, expected {expected}")]
    ModelMismatch { expected: ModelId, found: ModelId },
    #[error("stream has shape {found}, expected {expected}")]
    ShapeMismatch {
        expected: FeatureShape,
        found: FeatureShape,
    },
}

/// Result of [`encode_features`].
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded {
    /// The complete stream (what goes over the network, and what the bitrate counts).
    pub bytes: Vec<u8>,
    /// The tiled code image (for display).
    pub plane: Plane,
    pub header: Header,
}

impl Encoded {
    /// Bits per feature element of the whole stream.
    pub fn bits_per_element(&self) -> f64 {
        bits_per_element(self.bytes.len(), self.header.shape)
    }
}

/// Result of [`decode_features`].
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub header: Header,
    /// Dequantized features, CHW.
    pub values: Vec<f32>,
}

/// Summary of a coded frame, for logs and the page's stats.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RateStats {
    pub bytes: usize,
    pub elements: usize,
    pub bits_per_element: f64,
}

impl RateStats {
    pub fn new(bytes: usize, shape: FeatureShape) -> Self {
        Self {
            bytes,
            elements: shape.len(),
            bits_per_element: bits_per_element(bytes, shape),
        }
    }
}

/// `8 * bytes / (C * H * W)`; 0 for an empty shape.
pub fn bits_per_element(bytes_len: usize, shape: FeatureShape) -> f64 {
    let n = shape.len();
    if n == 0 {
        0.0
    } else {
        bytes_len as f64 * 8.0 / n as f64
    }
}

/// The header a stream for these features will carry.
pub fn make_header(
    shape: FeatureShape,
    model_id: ModelId,
    codec: CodecId,
    params: &quant::QuantParams,
) -> Header {
    Header {
        model_id,
        codec,
        bits: params.bits,
        shape,
        min: params.min,
        max: params.max,
    }
}

/// Quantizes (min-max), tiles, codes and wraps CHW features `values` of `shape`.
pub fn encode_features(
    values: &[f32],
    shape: FeatureShape,
    model_id: ModelId,
    codec: CodecId,
    bits: BitDepth,
) -> Result<Encoded, PipelineError> {
    encode_features_rule(
        values,
        shape,
        model_id,
        codec,
        bits,
        quant::RangeRule::MinMax,
    )
}

/// [`encode_features`] with the quantizer range taken by `rule` (the model's).
pub fn encode_features_rule(
    values: &[f32],
    shape: FeatureShape,
    model_id: ModelId,
    codec: CodecId,
    bits: BitDepth,
    rule: quant::RangeRule,
) -> Result<Encoded, PipelineError> {
    encode_features_with(values, shape, model_id, codec, bits, rule, None)
}

/// [`encode_features_rule`] with the model's prior tables, which the `prior` codec
/// needs (it codes the CHW codes; the tiled plane is still returned for display).
pub fn encode_features_with(
    values: &[f32],
    shape: FeatureShape,
    model_id: ModelId,
    codec: CodecId,
    bits: BitDepth,
    rule: quant::RangeRule,
    tables: Option<&ModelTables>,
) -> Result<Encoded, PipelineError> {
    codec.validate()?;
    // Before any work: JPEG carries 8-bit planes only.
    codec.check_bits(bits)?;
    TileGrid::for_feature_shape(shape)?;
    if values.len() != shape.len() {
        return Err(TilingError::LengthMismatch {
            shape,
            expected: shape.len(),
            got: values.len(),
        }
        .into());
    }
    let (codes, params) = quant::quantize_by_rule(values, bits, rule)?;
    let plane = tiling::tile(&codes, shape, bits)?;
    let payload = match (codec.needs_tables(), tables) {
        (true, Some(tables)) => prior::encode(&codes, shape, bits, tables.for_bits(bits)?)?,
        (true, None) => return Err(CodecError::NeedsTables.into()),
        (false, _) => codec.encode(&plane)?,
    };
    let header = make_header(shape, model_id, codec, &params);
    let bytes = bitstream::write(&header, &payload)?;
    Ok(Encoded {
        bytes,
        plane,
        header,
    })
}

/// Parses, decodes, untiles and dequantizes a stream.
pub fn decode_features(bytes: &[u8], limits: &Limits) -> Result<Decoded, PipelineError> {
    decode_features_with(bytes, limits, None)
}

/// [`decode_features`] with the model's prior tables, which `prior` streams need.
pub fn decode_features_with(
    bytes: &[u8],
    limits: &Limits,
    tables: Option<&ModelTables>,
) -> Result<Decoded, PipelineError> {
    let (header, payload) = bitstream::parse(bytes, limits)?;
    let codes = decode_codes(&header, payload, tables)?;
    let values = quant::dequantize(&codes, &header.quant());
    Ok(Decoded { header, values })
}

/// The integer codes, CHW, of a parsed payload: untiled from the codec's plane, or
/// decoded by `prior` with the model's tables.
pub fn decode_codes(
    header: &Header,
    payload: &[u8],
    tables: Option<&ModelTables>,
) -> Result<Vec<u16>, PipelineError> {
    Ok(match (header.codec.needs_tables(), tables) {
        (true, Some(tables)) => prior::decode(
            payload,
            header.shape,
            header.bits,
            tables.for_bits(header.bits)?,
        )?,
        (true, None) => return Err(CodecError::NeedsTables.into()),
        (false, _) => tiling::untile(&decode_plane(header, payload)?, header.shape)?,
    })
}

/// The codec stage of decoding: the tiled code image a parsed payload holds.
pub fn decode_plane(header: &Header, payload: &[u8]) -> Result<Plane, PipelineError> {
    let grid = TileGrid::for_feature_shape(header.shape)?;
    let plane = header.codec.decode(
        payload,
        grid.image_width(),
        grid.image_height(),
        header.bits,
    )?;
    Ok(plane)
}

/// Errors unless the stream was made by the model with id `expected`.
pub fn expect_model(header: &Header, expected: ModelId) -> Result<(), PipelineError> {
    if header.model_id == expected {
        Ok(())
    } else {
        Err(PipelineError::ModelMismatch {
            expected,
            found: header.model_id,
        })
    }
}

/// Errors unless the stream carries features of `expected` shape.
pub fn expect_shape(header: &Header, expected: FeatureShape) -> Result<(), PipelineError> {
    if header.shape == expected {
        Ok(())
    } else {
        Err(PipelineError::ShapeMismatch {
            expected,
            found: header.shape,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::prior::PriorTables;

    const EIGHT: BitDepth = BitDepth::EIGHT;

    #[test]
    fn lossless_round_trip_small() {
        let shape = FeatureShape::new(3, 2, 2);
        let values: Vec<f32> = (0..12).map(|i| (i as f32 - 4.0).max(0.0) * 0.3).collect();
        for codec in CodecId::LOSSLESS {
            let enc = encode_features(
                &values,
                shape,
                ModelId::from_bytes(*b"abcdefgh"),
                codec,
                EIGHT,
            )
            .unwrap();
            let dec = decode_features(&enc.bytes, &Limits::default()).unwrap();
            let (q, p) = quant::quantize(&values, EIGHT).unwrap();
            assert_eq!(dec.values, quant::dequantize(&q, &p));
            assert_eq!(dec.header, enc.header);
            expect_model(&dec.header, ModelId::from_bytes(*b"abcdefgh")).unwrap();
            expect_shape(&dec.header, shape).unwrap();
            assert!(matches!(
                expect_model(&dec.header, ModelId::from_bytes(*b"zzzzzzzz")),
                Err(PipelineError::ModelMismatch { .. })
            ));
            assert!(matches!(
                expect_shape(&dec.header, FeatureShape::new(3, 2, 3)),
                Err(PipelineError::ShapeMismatch { .. })
            ));
        }
    }

    #[test]
    fn prior_streams_round_trip_with_the_tables_and_need_them() {
        let shape = FeatureShape::new(2, 2, 3);
        let values: Vec<f32> = (0..12).map(|i| (i % 5) as f32 * 0.5).collect();
        let rule = quant::RangeRule::Step { step: 0.5 };
        let p: Vec<f64> = (0..8).map(|k| 0.5f64.powi(k + 1)).collect();
        let tables = ModelTables::from(PriorTables::from_probabilities(&[p.clone(), p]));
        let enc = encode_features_with(
            &values,
            shape,
            ModelId::from_bytes([1; 8]),
            CodecId::Prior,
            EIGHT,
            rule,
            Some(&tables),
        )
        .unwrap();
        assert_eq!(enc.header.codec, CodecId::Prior);
        let dec = decode_features_with(&enc.bytes, &Limits::default(), Some(&tables)).unwrap();
        assert_eq!(dec.values, values);
        assert!(matches!(
            decode_features(&enc.bytes, &Limits::default()),
            Err(PipelineError::Codec(CodecError::NeedsTables))
        ));
        assert!(matches!(
            encode_features_rule(
                &values,
                shape,
                ModelId::from_bytes([1; 8]),
                CodecId::Prior,
                EIGHT,
                rule
            ),
            Err(PipelineError::Codec(CodecError::NeedsTables))
        ));
    }

    #[test]
    fn range_quantizer_prior_streams_use_their_depth_s_tables() {
        use crate::codec::prior::DepthTables;
        let shape = FeatureShape::new(2, 2, 3);
        let values: Vec<f32> = (0..12).map(|i| (i % 7) as f32 * 0.3).collect();
        let rule = quant::RangeRule::Quantile { per_mille: 999 };
        let four = BitDepth::new(4).unwrap();
        let p: Vec<f64> = (0..16).map(|k| 0.5f64.powi(k + 1)).collect();
        let tables = ModelTables::PerDepth(vec![DepthTables {
            bits: four,
            tables: PriorTables::from_probabilities(&[p.clone(), p]),
        }]);
        let id = ModelId::from_bytes([2; 8]);
        let enc = encode_features_with(
            &values,
            shape,
            id,
            CodecId::Prior,
            four,
            rule,
            Some(&tables),
        )
        .unwrap();
        let dec = decode_features_with(&enc.bytes, &Limits::default(), Some(&tables)).unwrap();
        // The same codes as any lossless codec's at 4 bits.
        let png = encode_features_rule(&values, shape, id, CodecId::Png, four, rule).unwrap();
        let reference = decode_features(&png.bytes, &Limits::default()).unwrap();
        assert_eq!(dec.values, reference.values);
        // No tables for 8 bits: a typed error on both sides.
        assert!(matches!(
            encode_features_with(&values, shape, id, CodecId::Prior, EIGHT, rule, Some(&tables)),
            Err(PipelineError::Codec(CodecError::NoTablesForDepth(b))) if b == EIGHT
        ));
        let any = ModelTables::from(PriorTables::from_probabilities(&[vec![1.0], vec![1.0]]));
        let eight =
            encode_features_with(&values, shape, id, CodecId::Prior, EIGHT, rule, Some(&any))
                .unwrap();
        assert!(matches!(
            decode_features_with(&eight.bytes, &Limits::default(), Some(&tables)),
            Err(PipelineError::Codec(CodecError::NoTablesForDepth(b))) if b == EIGHT
        ));
    }

    #[test]
    fn rejects_wrong_value_count_and_codec_depth() {
        let shape = FeatureShape::new(2, 2, 2);
        assert!(matches!(
            encode_features(
                &[0.0; 7],
                shape,
                ModelId::from_bytes([0; 8]),
                CodecId::Png,
                EIGHT
            ),
            Err(PipelineError::Tiling(TilingError::LengthMismatch { .. }))
        ));
        assert!(matches!(
            encode_features(
                &[0.0; 8],
                shape,
                ModelId::from_bytes([0; 8]),
                CodecId::Jpeg { quality: 90 },
                BitDepth::new(12).unwrap()
            ),
            Err(PipelineError::Codec(CodecError::UnsupportedBitDepth { .. }))
        ));
    }

    #[test]
    fn bits_per_element_counts_the_whole_stream() {
        let shape = FeatureShape::new(64, 8, 16);
        assert_eq!(bits_per_element(1024, shape), 1.0);
    }
}
