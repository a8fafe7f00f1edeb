//! The Q-layer at inference: per-tensor min-max quantization of the bottleneck
//! features to n-bit codes, and its inverse on the cloud.
//!
//! With `L = 2^n - 1`:
//! - quantize: `q = round((x - min) / (max - min) * L)`, `min`/`max` taken over the
//!   whole tensor;
//! - dequantize: `x' = q / L * (max - min) + min`.
//!
//! `min` and `max` travel as f32 side information in the bitstream, so the cloud
//! reproduces `x'` exactly. The reconstruction error is at most half a step,
//! `(max - min) / (2 L)`, plus f32 rounding of `x'`.
//!
//! A constant tensor (`max == min`) has a zero-width range: every code is 0 and
//! dequantization returns `min` everywhere, which is exact.
//!
//! The bit depth n is a [`BitDepth`], checked once where it enters (command line,
//! JSON, bitstream header, the browser's binding), so nothing below re-checks it.
//!
//! The arithmetic runs in f64 so that codes and reconstructions are identical on
//! every target (native and wasm32 both have IEEE-754 f64 with round-to-nearest).

use serde::{Deserialize, Serialize};

/// A quantizer bit depth n, in [`BitDepth::MIN`]`..=`[`BitDepth::MAX`].
///
/// Made only by [`BitDepth::new`] (or `TryFrom<u8>`, `FromStr`, serde), so it is checked
/// once where it enters (a command line, a JSON body, a bitstream header, a JavaScript
/// number) and every function that takes one can rely on the range: 2..=16, what the
/// bitstream format allows (docs/bitstream.md; codes are `u16`). Serialized as a plain
/// number (`8`); deserializing refuses one outside the range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "u8", try_from = "u8")]
pub struct BitDepth(u8);

impl BitDepth {
    /// Shallowest supported bit depth.
    pub const MIN: BitDepth = BitDepth(2);
    /// Deepest supported bit depth (codes are `u16`).
    pub const MAX: BitDepth = BitDepth(16);
    /// Bit depth used when a caller has no reason to pick another (the paper's n = 8),
    /// and the only one JPEG carries.
    pub const EIGHT: BitDepth = BitDepth(8);

    /// `bits` if it lies in [`BitDepth::MIN`]`..=`[`BitDepth::MAX`].
    pub const fn new(bits: u8) -> Result<Self, BitDepthError> {
        if bits >= Self::MIN.0 && bits <= Self::MAX.0 {
            Ok(BitDepth(bits))
        } else {
            Err(BitDepthError::OutOfRange(bits))
        }
    }

    /// The number of bits, n.
    pub const fn get(self) -> u8 {
        self.0
    }

    /// Number of distinct codes, `2^n`.
    pub const fn levels(self) -> u32 {
        1 << self.0
    }

    /// Largest code, `2^n - 1`.
    pub const fn max_code(self) -> u16 {
        (self.levels() - 1) as u16
    }
}

/// Why a bit depth was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BitDepthError {
    /// A whole number outside the range.
    #[error("bit depth {0} is outside {min}..={max}", min = BitDepth::MIN, max = BitDepth::MAX)]
    OutOfRange(u8),
    /// Text, or a JavaScript number, that is not a whole number 0..=255 at all.
    #[error("bit depth {0:?} is not a whole number in {min}..={max}", min = BitDepth::MIN, max = BitDepth::MAX)]
    NotANumber(String),
}

impl TryFrom<u8> for BitDepth {
    type Error = BitDepthError;

    fn try_from(bits: u8) -> Result<Self, Self::Error> {
        BitDepth::new(bits)
    }
}

impl From<BitDepth> for u8 {
    fn from(bits: BitDepth) -> u8 {
        bits.0
    }
}

impl std::fmt::Display for BitDepth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for BitDepth {
    type Err = BitDepthError;

    /// A decimal number such as `8` (what `--bits` and `codec@bits` labels carry).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bits = s
            .trim()
            .parse::<u8>()
            .map_err(|_| BitDepthError::NotANumber(s.to_string()))?;
        BitDepth::new(bits)
    }
}

/// Checks a bit depth held as a plain `u8`: the training side's loss and Q-layer noise
/// depths, which stay numbers in the run configuration and are checked when a run
/// starts or a checkpoint is read.
pub fn check_bits(bits: u8) -> Result<(), BitDepthError> {
    BitDepth::new(bits).map(drop)
}

/// Why quantization parameters or input were rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QuantError {
    #[error(transparent)]
    BitDepth(#[from] BitDepthError),
    #[error("cannot quantize an empty tensor")]
    Empty,
    #[error("value {value} at index {index} is not finite")]
    NonFinite { index: usize, value: f32 },
    #[error("range quantile {0} per mille is outside 500..=1000")]
    BadQuantile(u16),
    #[error(
        "quantizer range rule {0:?} is not `minmax`, `q<per mille>` (e.g. q999) or `step<size>` (e.g. step0.05)"
    )]
    BadRangeRule(String),
    #[error("quantization step {0} is not a positive finite number")]
    BadStep(f32),
    #[error("quantization range min {min} max {max} is not finite or has min > max")]
    BadRange { min: f32, max: f32 },
}

/// Side information of one quantized tensor.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct QuantParams {
    /// Bit depth n of the codes.
    pub bits: BitDepth,
    /// Smallest value of the tensor (maps to code 0).
    pub min: f32,
    /// Largest value of the tensor (maps to code `2^n - 1`).
    pub max: f32,
}

impl QuantParams {
    /// Checks that `min <= max`, both finite.
    pub fn validate(&self) -> Result<(), QuantError> {
        if !(self.min.is_finite() && self.max.is_finite()) || self.min > self.max {
            return Err(QuantError::BadRange {
                min: self.min,
                max: self.max,
            });
        }
        Ok(())
    }

    /// Largest code, `2^n - 1`.
    pub fn max_code(&self) -> u16 {
        self.bits.max_code()
    }

    /// Width of one quantization step, `(max - min) / (2^n - 1)`.
    pub fn step(&self) -> f64 {
        (f64::from(self.max) - f64::from(self.min)) / f64::from(self.max_code())
    }
}

/// How the edge picks the quantizer's range for one tensor. Part of a model's
/// configuration: a model is trained with the rule it is deployed with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "range", rename_all = "lowercase")]
pub enum RangeRule {
    /// The paper's rule: `min` and `max` of the whole tensor.
    #[default]
    MinMax,
    /// `max` is the tensor's `per_mille / 1000` quantile (nearest rank) and values
    /// above it saturate to the top code; `min` is the tensor's minimum. A few large
    /// values then cannot widen every step of the quantizer. A deviation from the
    /// paper; the bitstream is unchanged (it carries `min` and `max` either way).
    Quantile { per_mille: u16 },
    /// A fixed quantization step in feature units, for models trained with a learned
    /// entropy model (`crate::entropy_model`): `min` is 0 and `max` is `step * (2^n - 1)`,
    /// so code `q` stands for `q * step` at every bit depth, and larger values saturate
    /// to the top code (the bit depth only sets where). The edge's features are
    /// non-negative (it ends in a ReLU); a negative value would map to code 0.
    Step { step: f32 },
}

// `step` is validated finite and positive wherever a rule enters (parse, config checks).
impl Eq for RangeRule {}

impl RangeRule {
    /// Rejects quantiles outside `500..=1000` per mille and steps that are not
    /// positive and finite.
    pub fn validate(&self) -> Result<(), QuantError> {
        match *self {
            RangeRule::MinMax => Ok(()),
            RangeRule::Quantile { per_mille } if (500..=1000).contains(&per_mille) => Ok(()),
            RangeRule::Quantile { per_mille } => Err(QuantError::BadQuantile(per_mille)),
            RangeRule::Step { step } if step.is_finite() && step > 0.0 => Ok(()),
            RangeRule::Step { step } => Err(QuantError::BadStep(step)),
        }
    }

    pub fn is_min_max(&self) -> bool {
        *self == RangeRule::MinMax
    }

    /// The fixed step of a [`RangeRule::Step`] rule.
    pub fn step(&self) -> Option<f32> {
        match *self {
            RangeRule::Step { step } => Some(step),
            _ => None,
        }
    }

    /// Index of the quantile in `n` sorted values (nearest rank, `ceil(q * n) - 1`),
    /// the same rank the training loss takes (`crate::loss::per_sample_range_rule`).
    pub fn rank(&self, n: usize) -> usize {
        match *self {
            RangeRule::MinMax | RangeRule::Step { .. } => n.saturating_sub(1),
            RangeRule::Quantile { per_mille } => {
                ((n * per_mille as usize).div_ceil(1000)).clamp(1, n.max(1)) - 1
            }
        }
    }
}

impl std::fmt::Display for RangeRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RangeRule::MinMax => f.write_str("minmax"),
            RangeRule::Quantile { per_mille } => write!(f, "q{per_mille}"),
            RangeRule::Step { step } => write!(f, "step{step}"),
        }
    }
}

impl std::str::FromStr for RangeRule {
    type Err = QuantError;
    /// `minmax`, `q<per mille>` such as `q999` (the 99.9 % quantile), or `step<size>`
    /// such as `step0.05`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let rule = match s {
            "minmax" => RangeRule::MinMax,
            _ if s.starts_with("step") => {
                let step = s["step".len()..]
                    .parse::<f32>()
                    .map_err(|_| QuantError::BadRangeRule(s.to_string()))?;
                RangeRule::Step { step }
            }
            _ => {
                let per_mille = s
                    .strip_prefix('q')
                    .and_then(|v| v.parse::<u16>().ok())
                    .ok_or_else(|| QuantError::BadRangeRule(s.to_string()))?;
                RangeRule::Quantile { per_mille }
            }
        };
        rule.validate()?;
        Ok(rule)
    }
}

/// The values the quantizer sees under `rule`, at full precision: unchanged for
/// min-max, saturated at the quantile otherwise (what a model trained with the rule
/// gives its heads before quantization noise).
///
/// A step rule saturates nothing here: its top code depends on the bit depth, and the
/// float setting stands for an unbounded one.
pub fn saturate(values: &[f32], rule: RangeRule) -> Vec<f32> {
    match quantile(values, rule) {
        Some(max) => values.iter().map(|&v| v.min(max)).collect(),
        None => values.to_vec(),
    }
}

/// The value at the rule's quantile rank ([`RangeRule::rank`]) of `values`; `None`
/// for min-max, a step rule or an empty slice.
fn quantile(values: &[f32], rule: RangeRule) -> Option<f32> {
    if !matches!(rule, RangeRule::Quantile { .. }) || values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable_by(f32::total_cmp);
    Some(sorted[rule.rank(sorted.len())])
}

/// Quantization of `values` to `bits`-bit codes with the range `rule` picks.
///
/// Errors as [`quantize`] does.
pub fn quantize_by_rule(
    values: &[f32],
    bits: BitDepth,
    rule: RangeRule,
) -> Result<(Vec<u16>, QuantParams), QuantError> {
    rule.validate()?;
    let mut params = min_max_params(values, bits)?;
    if let Some(max) = quantile(values, rule) {
        params.max = max;
    }
    if let Some(step) = rule.step() {
        params = step_params(step, bits);
    }
    Ok((quantize_with(values, &params), params))
}

/// [`quantize_by_rule`] for a bit depth held as a plain `u8` (the training side's,
/// see [`check_bits`]); errors on one outside the range.
pub fn quantize_rule(
    values: &[f32],
    bits: u8,
    rule: RangeRule,
) -> Result<(Vec<u16>, QuantParams), QuantError> {
    quantize_by_rule(values, BitDepth::new(bits)?, rule)
}

/// The parameters of a fixed-step quantizer: `min` 0, `max` `step * (2^n - 1)`.
pub fn step_params(step: f32, bits: BitDepth) -> QuantParams {
    let max = (f64::from(step) * f64::from(bits.max_code())) as f32;
    QuantParams {
        bits,
        min: 0.0,
        max,
    }
}

/// Per-tensor min-max quantization of `values` to `bits`-bit codes.
///
/// Errors on an empty tensor or any NaN/infinite value.
pub fn quantize(values: &[f32], bits: BitDepth) -> Result<(Vec<u16>, QuantParams), QuantError> {
    let params = min_max_params(values, bits)?;
    Ok((quantize_with(values, &params), params))
}

/// The min-max parameters of `values`, after checking that the tensor is not empty
/// and that every value is finite.
fn min_max_params(values: &[f32], bits: BitDepth) -> Result<QuantParams, QuantError> {
    let mut min = f32::INFINITY;
    let mut max = f32::NEG_INFINITY;
    for (index, &value) in values.iter().enumerate() {
        if !value.is_finite() {
            return Err(QuantError::NonFinite { index, value });
        }
        min = min.min(value);
        max = max.max(value);
    }
    if values.is_empty() {
        return Err(QuantError::Empty);
    }
    Ok(QuantParams { bits, min, max })
}

/// Quantizes `values` with given parameters (e.g. a range fixed in advance).
/// Values outside `[min, max]` saturate to code 0 or `2^n - 1`; NaN maps to 0.
pub fn quantize_with(values: &[f32], params: &QuantParams) -> Vec<u16> {
    let top = f64::from(params.max_code());
    let min = f64::from(params.min);
    let range = f64::from(params.max) - min;
    if range.is_nan() || range <= 0.0 {
        return vec![0; values.len()];
    }
    let scale = top / range;
    values
        .iter()
        // `as` saturates and sends NaN to 0, which is the documented behaviour.
        .map(|&x| ((f64::from(x) - min) * scale).round().clamp(0.0, top) as u16)
        .collect()
}

/// Inverse of [`quantize`]: `x' = q / (2^n - 1) * (max - min) + min`.
///
/// Codes above `2^n - 1` are not rejected here (they extrapolate linearly); the
/// decoders that produce codes guarantee the range.
pub fn dequantize(q: &[u16], params: &QuantParams) -> Vec<f32> {
    let top = f64::from(params.max_code());
    let min = f64::from(params.min);
    let range = f64::from(params.max) - min;
    q.iter()
        .map(|&code| (f64::from(code) / top * range + min) as f32)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth(bits: u8) -> BitDepth {
        BitDepth::new(bits).unwrap()
    }

    #[test]
    fn bit_depths_are_checked_when_made() {
        for bad in [0u8, 1, 17, 255] {
            assert_eq!(BitDepth::new(bad), Err(BitDepthError::OutOfRange(bad)));
            assert_eq!(BitDepth::try_from(bad), Err(BitDepthError::OutOfRange(bad)));
            assert!(check_bits(bad).is_err());
        }
        for bits in 2u8..=16 {
            let d = BitDepth::new(bits).unwrap();
            assert_eq!(d.get(), bits);
            assert_eq!(u8::from(d), bits);
            assert_eq!(d.levels(), 1u32 << bits);
            assert_eq!(u32::from(d.max_code()), (1u32 << bits) - 1);
            assert_eq!(d.to_string().parse::<BitDepth>(), Ok(d));
        }
        assert_eq!((BitDepth::MIN.get(), BitDepth::MAX.get()), (2, 16));
        assert_eq!(BitDepth::MAX.max_code(), u16::MAX);
        assert_eq!(
            BitDepth::new(1).unwrap_err().to_string(),
            "bit depth 1 is outside 2..=16"
        );
        assert_eq!(" 6 ".parse::<BitDepth>(), Ok(depth(6)));
        assert_eq!("17".parse::<BitDepth>(), Err(BitDepthError::OutOfRange(17)));
        for bad in ["", "eight", "2.5", "-1", "300"] {
            assert_eq!(
                bad.parse::<BitDepth>(),
                Err(BitDepthError::NotANumber(bad.to_string())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn bit_depths_are_plain_numbers_in_json_and_checked_when_read() {
        assert_eq!(serde_json::to_string(&depth(6)).unwrap(), "6");
        assert_eq!(serde_json::from_str::<BitDepth>("6").unwrap(), depth(6));
        for bad in ["0", "1", "17", "256", "-1", "8.5", "\"8\"", "null"] {
            assert!(serde_json::from_str::<BitDepth>(bad).is_err(), "{bad}");
        }
        let err = serde_json::from_str::<QuantParams>(r#"{"bits":1,"min":0,"max":1}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("bit depth 1 is outside 2..=16"), "{err}");
        let p = QuantParams {
            bits: depth(12),
            min: -1.0,
            max: 2.0,
        };
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, r#"{"bits":12,"min":-1.0,"max":2.0}"#);
        assert_eq!(serde_json::from_str::<QuantParams>(&json).unwrap(), p);
    }

    #[test]
    fn maps_min_and_max_to_end_codes() {
        let (q, p) = quantize(&[-1.0, 0.0, 3.0], depth(8)).unwrap();
        assert_eq!(q, vec![0, 64, 255]);
        assert_eq!((p.min, p.max, p.bits), (-1.0, 3.0, depth(8)));
        let x = dequantize(&q, &p);
        assert_eq!(x[0], -1.0);
        assert_eq!(x[2], 3.0);
        assert!((x[1] - 0.0).abs() <= (p.step() / 2.0) as f32);
    }

    #[test]
    fn constant_tensor_gives_zero_codes_and_exact_values() {
        let (q, p) = quantize(&[2.5; 7], depth(8)).unwrap();
        assert_eq!(q, vec![0; 7]);
        assert_eq!(dequantize(&q, &p), vec![2.5; 7]);
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(quantize(&[], depth(8)), Err(QuantError::Empty));
        assert_eq!(
            quantize_rule(&[1.0], 17, RangeRule::MinMax),
            Err(QuantError::BitDepth(BitDepthError::OutOfRange(17)))
        );
        assert!(matches!(
            quantize(&[1.0, f32::NAN], depth(8)),
            Err(QuantError::NonFinite { index: 1, .. })
        ));
        assert!(matches!(
            quantize(&[f32::NEG_INFINITY], depth(8)),
            Err(QuantError::NonFinite { index: 0, .. })
        ));
    }

    #[test]
    fn sixteen_bit_uses_full_range() {
        let (q, _) = quantize(&[0.0, 1.0], depth(16)).unwrap();
        assert_eq!(q, vec![0, u16::MAX]);
    }

    #[test]
    fn quantile_rule_saturates_the_values_above_the_quantile() {
        // 1000 values 0..999 and one outlier: q990 takes rank ceil(0.99 * 1001) - 1 = 990.
        let mut x: Vec<f32> = (0..1000).map(|v| v as f32).collect();
        x.push(1e6);
        let rule: RangeRule = "q990".parse().unwrap();
        assert_eq!(rule, RangeRule::Quantile { per_mille: 990 });
        let (q, p) = quantize_by_rule(&x, depth(4), rule).unwrap();
        assert_eq!((p.min, p.max), (0.0, 990.0));
        assert_eq!(q[1000], 15);
        assert_eq!(q[999], 15);
        assert_eq!(q[66], 1); // 66 / 66 = 1 step
        assert_eq!(q[0], 0);
        // Min-max is the plain quantizer.
        assert_eq!(
            quantize_by_rule(&x, depth(4), RangeRule::MinMax).unwrap(),
            quantize(&x, depth(4)).unwrap()
        );
        assert_eq!(RangeRule::Quantile { per_mille: 1000 }.rank(7), 6);
        let saturated = saturate(&x, rule);
        assert_eq!(
            (saturated[1000], saturated[999], saturated[5]),
            (990.0, 990.0, 5.0)
        );
        assert_eq!(saturate(&x, RangeRule::MinMax), x);
        assert_eq!(RangeRule::Quantile { per_mille: 500 }.rank(1), 0);
    }

    #[test]
    fn bad_range_rules_are_refused() {
        for bad in ["q", "q1001", "q499", "max", "q-1", ""] {
            assert!(bad.parse::<RangeRule>().is_err(), "{bad}");
        }
        assert_eq!("minmax".parse::<RangeRule>().unwrap(), RangeRule::MinMax);
        assert_eq!(RangeRule::Quantile { per_mille: 999 }.to_string(), "q999");
        assert!(matches!(
            quantize_rule(&[1.0], 8, RangeRule::Quantile { per_mille: 2000 }),
            Err(QuantError::BadQuantile(2000))
        ));
    }

    #[test]
    fn step_rule_codes_multiples_of_the_step_and_saturates_at_the_top_code() {
        let rule: RangeRule = "step0.5".parse().unwrap();
        assert_eq!(rule, RangeRule::Step { step: 0.5 });
        assert_eq!(rule.to_string(), "step0.5");
        let x = [0.0, 0.2, 0.26, 1.0, 7.4, 100.0];
        let (q, p) = quantize_by_rule(&x, depth(4), rule).unwrap();
        assert_eq!((p.min, p.max), (0.0, 7.5));
        assert_eq!(q, vec![0, 0, 1, 2, 15, 15]);
        assert_eq!(dequantize(&q, &p), vec![0.0, 0.0, 0.5, 1.0, 7.5, 7.5]);
        // The step, not the bit depth, sets the precision.
        let (q8, _) = quantize_by_rule(&x, depth(8), rule).unwrap();
        assert_eq!(q8, vec![0, 0, 1, 2, 15, 200]);
        assert_eq!(saturate(&x, rule), x.to_vec());
        for bad in ["step0", "step-1", "stepinf", "stepNaN", "step"] {
            assert!(bad.parse::<RangeRule>().is_err(), "{bad}");
        }
        let json = serde_json::to_string(&rule).unwrap();
        assert_eq!(json, r#"{"range":"step","step":0.5}"#);
        assert_eq!(serde_json::from_str::<RangeRule>(&json).unwrap(), rule);
    }

    #[test]
    fn huge_finite_range_does_not_overflow() {
        let (q, p) = quantize(&[-f32::MAX, f32::MAX], depth(8)).unwrap();
        assert_eq!(q, vec![0, 255]);
        assert_eq!(dequantize(&q, &p), vec![-f32::MAX, f32::MAX]);
    }
}
