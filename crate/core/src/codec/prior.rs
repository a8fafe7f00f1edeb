//! `prior`: the integer feature codes coded with a model's own per-channel probability
//! tables, learned in training (`crate::entropy_model::FactorizedPrior`), on
//! `constriction`'s ANS. The tables travel with the model, not in the stream, so the
//! payload is the ANS words alone.
//!
//! Channel `c`'s table holds fixed-point weights of the symbols `0..n_c`; the last
//! symbol, `n_c - 1`, is the escape: a code `q >= n_c - 1` is coded as the escape
//! followed by `q - (n_c - 1)` under a uniform model over `0..2^bits`. The weights are
//! integers made at export, so encoder and decoder build identical models with integer
//! arithmetic on every target; floats never enter the coding.
//!
//! Samples are coded in CHW order (channel by channel), each with its channel's table.

use constriction::stream::model::{DefaultContiguousCategoricalEntropyModel, DefaultUniformModel};
use constriction::stream::stack::DefaultAnsCoder;
use constriction::stream::{Decode, Encode};
use serde::{Deserialize, Serialize};

use super::ans::{append_le_words, categorical, coder_from_le_words};
use super::{CodecError, try_zeroed};
use crate::quant::BitDepth;
use crate::tiling::FeatureShape;

/// Weights of a table are scaled to this total at export (each at least 1).
pub const TABLE_SCALE: u32 = 1 << 16;
/// Most symbols of one channel's table, the escape included.
pub const MAX_TABLE_SYMBOLS: usize = 4096;
/// A channel's tail mass below which the table stops and the escape takes the rest.
const TAIL_MASS: f64 = 1.0 / 16384.0;

/// One model's tables: for each channel, the weights of its symbols, escape last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriorTables {
    pub channels: Vec<Vec<u32>>,
}

impl PriorTables {
    /// Tables from each channel's probabilities of the codes `0, 1, 2, ...`
    /// (`FactorizedPrior::code_probabilities`): each stops where the remaining mass is
    /// below `TAIL_MASS` (at most [`MAX_TABLE_SYMBOLS`] - 1 codes), and the escape gets
    /// that remaining mass. Weights are `round(p * TABLE_SCALE)`, at least 1.
    pub fn from_probabilities(probabilities: &[Vec<f64>]) -> Self {
        let channels = probabilities
            .iter()
            .map(|p| {
                let clean = |v: f64| if v.is_finite() { v.max(0.0) } else { 0.0 };
                // Mass from code k on; what the list does not reach belongs to the tail.
                let mut remaining = p.iter().map(|&v| clean(v)).sum::<f64>().max(1.0);
                let mut weights = Vec::new();
                for &v in p.iter().take(MAX_TABLE_SYMBOLS - 1) {
                    if remaining < TAIL_MASS {
                        break;
                    }
                    weights.push(weight(clean(v)));
                    remaining -= clean(v);
                }
                weights.push(weight(remaining.max(0.0)));
                weights
            })
            .collect();
        Self { channels }
    }

    /// Checks the tables against the features they code: one table per channel, each
    /// with 1..=[`MAX_TABLE_SYMBOLS`] symbols of non-zero weight.
    pub fn check(&self, channels: usize) -> Result<(), CodecError> {
        if self.channels.len() != channels {
            return Err(CodecError::BadTables(format!(
                "{} tables for {channels} channels",
                self.channels.len()
            )));
        }
        for (c, table) in self.channels.iter().enumerate() {
            if table.is_empty() || table.len() > MAX_TABLE_SYMBOLS || table.contains(&0) {
                return Err(CodecError::BadTables(format!(
                    "channel {c}: {} symbols (1..={MAX_TABLE_SYMBOLS}, no zero weight)",
                    table.len()
                )));
            }
        }
        Ok(())
    }

    /// Ideal cost in bits of `codes` (CHW) under the tables: what the coder reaches
    /// up to its fixed-point rounding and final word.
    pub fn ideal_bits(&self, codes: &[u16], shape: FeatureShape, bits: BitDepth) -> f64 {
        let plane = usize::from(shape.height) * usize::from(shape.width);
        let mut total = 0.0;
        for (c, table) in self.channels.iter().enumerate() {
            let sum: f64 = table.iter().map(|&w| f64::from(w)).sum();
            let escape = table.len() - 1;
            for &q in codes.iter().skip(c * plane).take(plane) {
                let s = usize::from(q).min(escape);
                total -= (f64::from(table[s]) / sum).log2();
                if s == escape {
                    total += f64::from(bits.get());
                }
            }
        }
        total
    }
}

/// One model's tables for the `prior` codec, for every bit depth it codes at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelTables {
    /// A fixed-step quantizer: a code means the same value at every depth (a lower
    /// depth only saturates sooner), so one set serves them all.
    AnyDepth(PriorTables),
    /// A range quantizer: a depth's step is the range over `2^bits - 1`, so each depth
    /// has its own set, made from the same density.
    PerDepth(Vec<DepthTables>),
}

/// The tables of one bit depth.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepthTables {
    pub bits: BitDepth,
    pub tables: PriorTables,
}

impl From<PriorTables> for ModelTables {
    fn from(tables: PriorTables) -> Self {
        ModelTables::AnyDepth(tables)
    }
}

impl ModelTables {
    /// The tables that code features at `bits`.
    pub fn for_bits(&self, bits: BitDepth) -> Result<&PriorTables, CodecError> {
        match self {
            ModelTables::AnyDepth(tables) => Ok(tables),
            ModelTables::PerDepth(depths) => depths
                .iter()
                .find(|d| d.bits == bits)
                .map(|d| &d.tables)
                .ok_or(CodecError::NoTablesForDepth(bits)),
        }
    }

    /// The tables as a zoo's `prior.json` (the model's file beside its weights).
    pub fn to_json(&self) -> Result<Vec<u8>, CodecError> {
        serde_json::to_vec(self).map_err(|e| CodecError::BadTables(e.to_string()))
    }

    /// Tables read from [`ModelTables::to_json`]'s bytes, checked against the model's
    /// `channels` ([`ModelTables::check`]).
    pub fn from_json(bytes: &[u8], channels: usize) -> Result<Self, CodecError> {
        let tables: ModelTables =
            serde_json::from_slice(bytes).map_err(|e| CodecError::BadTables(e.to_string()))?;
        tables.check(channels)?;
        Ok(tables)
    }

    /// The depths with their own tables (none for [`ModelTables::AnyDepth`]).
    pub fn depths(&self) -> Vec<BitDepth> {
        match self {
            ModelTables::AnyDepth(_) => Vec::new(),
            ModelTables::PerDepth(depths) => depths.iter().map(|d| d.bits).collect(),
        }
    }

    /// Checks every set against the model's `channels`, and that no depth is listed
    /// twice or none at all.
    pub fn check(&self, channels: usize) -> Result<(), CodecError> {
        match self {
            ModelTables::AnyDepth(tables) => tables.check(channels),
            ModelTables::PerDepth(depths) => {
                if depths.is_empty() {
                    return Err(CodecError::BadTables("no bit depth has tables".into()));
                }
                for (i, d) in depths.iter().enumerate() {
                    if depths[..i].iter().any(|e| e.bits == d.bits) {
                        return Err(CodecError::BadTables(format!(
                            "{}-bit tables listed twice",
                            d.bits
                        )));
                    }
                    d.tables.check(channels).map_err(|e| match e {
                        CodecError::BadTables(m) => {
                            CodecError::BadTables(format!("{}-bit tables: {m}", d.bits))
                        }
                        e => e,
                    })?;
                }
                Ok(())
            }
        }
    }
}

fn weight(p: f64) -> u32 {
    (p * f64::from(TABLE_SCALE))
        .round()
        .clamp(1.0, f64::from(u32::MAX)) as u32
}

/// What encoder and decoder both build from the shape, the bit depth and the tables,
/// after checking them: a model and an escape symbol per channel, and the uniform
/// model of an escape's suffix.
struct Coding {
    models: Vec<DefaultContiguousCategoricalEntropyModel>,
    escapes: Vec<usize>,
    uniform: DefaultUniformModel,
    /// Samples per channel, `H * W`.
    plane: usize,
    top: usize,
}

impl Coding {
    /// Errors unless `len` is the shape's size (and not 0) and the tables fit the
    /// shape's channels.
    fn new(
        shape: FeatureShape,
        bits: BitDepth,
        len: usize,
        tables: &PriorTables,
    ) -> Result<Self, CodecError> {
        if shape.len() != len || len == 0 {
            return Err(CodecError::BadTables(format!(
                "{len} codes for a {shape} tensor"
            )));
        }
        tables.check(usize::from(shape.channels))?;
        let models = tables
            .channels
            .iter()
            .map(|t| categorical(&t.iter().map(|&w| u64::from(w)).collect::<Vec<_>>()))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            models,
            escapes: tables.channels.iter().map(|t| t.len() - 1).collect(),
            uniform: DefaultUniformModel::new(bits.levels() as usize),
            plane: usize::from(shape.height) * usize::from(shape.width),
            top: usize::from(bits.max_code()),
        })
    }
}

/// Codes the CHW `codes` of `shape` (each at most `2^bits - 1`) with `tables`.
pub fn encode(
    codes: &[u16],
    shape: FeatureShape,
    bits: BitDepth,
    tables: &PriorTables,
) -> Result<Vec<u8>, CodecError> {
    let c = Coding::new(shape, bits, codes.len(), tables)?;
    let err = |_| CodecError::Corrupt("symbol outside its model");
    let mut coder = DefaultAnsCoder::new();
    // ANS is last-in first-out: code the samples backwards, and an escape's suffix
    // before the escape itself.
    for i in (0..codes.len()).rev() {
        let s = usize::from(codes[i]);
        if s > c.top {
            return Err(CodecError::Corrupt("code above the bit depth's top code"));
        }
        let (model, escape) = (&c.models[i / c.plane], c.escapes[i / c.plane]);
        if s >= escape {
            coder.encode_symbol(s - escape, c.uniform).map_err(err)?;
            coder.encode_symbol(escape, model.as_view()).map_err(err)?;
        } else {
            coder.encode_symbol(s, model.as_view()).map_err(err)?;
        }
    }
    let mut out = Vec::new();
    append_le_words(coder, &mut out)?;
    Ok(out)
}

/// Inverse of [`encode`]: the CHW codes of `shape`, each at most `2^bits - 1`.
pub fn decode(
    payload: &[u8],
    shape: FeatureShape,
    bits: BitDepth,
    tables: &PriorTables,
) -> Result<Vec<u16>, CodecError> {
    let c = Coding::new(shape, bits, shape.len(), tables)?;
    let mut coder = coder_from_le_words(payload)?;
    let err = |_| CodecError::Corrupt("ANS decoder error");
    let mut codes = try_zeroed::<u16>(shape.len())?;
    for (i, code) in codes.iter_mut().enumerate() {
        let escape = c.escapes[i / c.plane];
        let mut s = coder
            .decode_symbol(c.models[i / c.plane].as_view())
            .map_err(err)?;
        if s == escape {
            s += coder.decode_symbol(c.uniform).map_err(err)?;
        }
        if s > c.top {
            return Err(CodecError::Corrupt(
                "decoded code above the bit depth's top code",
            ));
        }
        *code = s as u16;
    }
    if !coder.is_empty() {
        return Err(CodecError::Corrupt("ANS data left after the last sample"));
    }
    Ok(codes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth(bits: u8) -> BitDepth {
        BitDepth::new(bits).unwrap()
    }

    fn shape(channels: u16, height: u16, width: u16) -> FeatureShape {
        FeatureShape {
            channels,
            height,
            width,
        }
    }

    /// A geometric distribution per channel, of ratio `r`.
    fn geometric(r: f64, n: usize) -> Vec<f64> {
        (0..n).map(|k| (1.0 - r) * r.powi(k as i32)).collect()
    }

    #[test]
    fn tables_stop_at_the_tail_and_keep_the_rest_for_the_escape() {
        let t = PriorTables::from_probabilities(&[geometric(0.5, 64), vec![1.0, 0.0, 0.0]]);
        // Geometric(1/2): the mass from k on is 2^-k; below 2^-14 from k = 15.
        assert_eq!(t.channels[0].len(), 15 + 1);
        assert_eq!(t.channels[0][0], 32768);
        assert_eq!(t.channels[0][1], 16384);
        assert_eq!(*t.channels[0].last().unwrap(), 2); // 2^-15 * 2^16
        // A point mass: one symbol and an escape of weight 1.
        assert_eq!(t.channels[1], vec![65536, 1]);
        t.check(2).unwrap();
        assert!(matches!(t.check(3), Err(CodecError::BadTables(_))));
    }

    #[test]
    fn round_trips_bit_exactly_with_escapes_and_is_near_the_ideal_cost() {
        let s = shape(3, 16, 16);
        let t = PriorTables::from_probabilities(&[
            geometric(0.3, 64),
            geometric(0.8, 128),
            geometric(0.5, 64),
        ]);
        let mut codes: Vec<u16> = (0..s.len())
            .map(|i| ((i * 2654435761) % 7) as u16 % (1 + (i / 256) as u16 * 3))
            .collect();
        codes[5] = 255; // escapes, one at the top code
        codes[300] = 200;
        codes[700] = 31;
        let payload = encode(&codes, s, depth(8), &t).unwrap();
        assert_eq!(decode(&payload, s, depth(8), &t).unwrap(), codes);
        let ideal = t.ideal_bits(&codes, s, depth(8)) / 8.0;
        let got = payload.len() as f64;
        assert!(
            got <= ideal * 1.01 + 8.0,
            "{got} bytes for an ideal {ideal}"
        );
    }

    #[test]
    fn per_depth_tables_are_chosen_by_the_depth_and_checked() {
        let four = PriorTables::from_probabilities(&[geometric(0.5, 16)]);
        let six = PriorTables::from_probabilities(&[geometric(0.9, 64)]);
        let set = ModelTables::PerDepth(vec![
            DepthTables {
                bits: depth(6),
                tables: six.clone(),
            },
            DepthTables {
                bits: depth(4),
                tables: four.clone(),
            },
        ]);
        set.check(1).unwrap();
        assert_eq!(set.for_bits(depth(4)).unwrap(), &four);
        assert_eq!(set.for_bits(depth(6)).unwrap(), &six);
        assert_eq!(set.depths(), vec![depth(6), depth(4)]);
        assert_eq!(
            set.for_bits(depth(5)),
            Err(CodecError::NoTablesForDepth(depth(5)))
        );
        // One set serves every depth of a fixed-step model.
        let any = ModelTables::from(four.clone());
        assert_eq!(any.for_bits(depth(7)).unwrap(), &four);
        assert!(any.depths().is_empty());
        // Wrong channel counts name the depth; duplicates and empty sets are refused.
        match set.check(2) {
            Err(CodecError::BadTables(m)) => assert!(m.starts_with("6-bit tables"), "{m}"),
            other => panic!("{other:?}"),
        }
        let twice = ModelTables::PerDepth(vec![
            DepthTables {
                bits: depth(4),
                tables: four.clone(),
            };
            2
        ]);
        assert!(matches!(twice.check(1), Err(CodecError::BadTables(_))));
        assert!(matches!(
            ModelTables::PerDepth(vec![]).check(1),
            Err(CodecError::BadTables(_))
        ));
        // The tables travel as JSON with the model; a depth outside 2..=16 is refused.
        let json = serde_json::to_string(&set).unwrap();
        assert_eq!(serde_json::from_str::<ModelTables>(&json).unwrap(), set);
        let bad = json.replace("\"bits\":6", "\"bits\":17");
        assert!(serde_json::from_str::<ModelTables>(&bad).is_err());
    }

    #[test]
    fn bad_tables_codes_and_payloads_are_typed_errors() {
        let s = shape(2, 4, 4);
        let t = PriorTables::from_probabilities(&[geometric(0.5, 32), geometric(0.5, 32)]);
        let codes = vec![1u16; 32];
        let payload = encode(&codes, s, depth(4), &t).unwrap();
        assert!(matches!(
            encode(&[16u16; 32], s, depth(4), &t),
            Err(CodecError::Corrupt(_))
        ));
        assert!(matches!(
            encode(&codes[..31], s, depth(4), &t),
            Err(CodecError::BadTables(_))
        ));
        assert!(matches!(
            decode(&payload, shape(3, 4, 4), depth(4), &t),
            Err(CodecError::BadTables(_))
        ));
        assert!(decode(&payload[..payload.len() - 1], s, depth(4), &t).is_err());
        let zero = PriorTables {
            channels: vec![vec![1, 0], vec![1]],
        };
        assert!(matches!(
            decode(&payload, s, depth(4), &zero),
            Err(CodecError::BadTables(_))
        ));
        let mut longer = payload.clone();
        longer.extend_from_slice(&payload);
        assert!(decode(&longer, s, depth(4), &t).is_err());
    }
}
