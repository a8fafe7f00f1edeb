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
//! The arithmetic runs in f64 so that codes and reconstructions are identical on
//! every target (native and wasm32 both have IEEE-754 f64 with round-to-nearest).

use serde::{Deserialize, Serialize};

/// Bit depth used when a caller has no reason to pick another (the paper's n = 8).
pub const DEFAULT_BITS: u8 = 8;
/// Smallest supported bit depth.
pub const MIN_BITS: u8 = 2;
/// Largest supported bit depth (codes are `u16`).
pub const MAX_BITS: u8 = 16;

/// Why quantization parameters or input were rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QuantError {
    #[error("bit depth {0} is outside {MIN_BITS}..={MAX_BITS}")]
    BadBitDepth(u8),
    #[error("cannot quantize an empty tensor")]
    Empty,
    #[error("value {value} at index {index} is not finite")]
    NonFinite { index: usize, value: f32 },
    #[error("quantization range min {min} max {max} is not finite or has min > max")]
    BadRange { min: f32, max: f32 },
}

/// Side information of one quantized tensor.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct QuantParams {
    /// Bit depth n of the codes.
    pub bits: u8,
    /// Smallest value of the tensor (maps to code 0).
    pub min: f32,
    /// Largest value of the tensor (maps to code `2^n - 1`).
    pub max: f32,
}

impl QuantParams {
    /// Checks the bit depth and that `min <= max`, both finite.
    pub fn validate(&self) -> Result<(), QuantError> {
        check_bits(self.bits)?;
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
        max_code(self.bits)
    }

    /// Width of one quantization step, `(max - min) / (2^n - 1)`.
    pub fn step(&self) -> f64 {
        (f64::from(self.max) - f64::from(self.min)) / f64::from(self.max_code())
    }
}

/// Largest code at `bits` bits, `2^bits - 1`; saturates at `u16::MAX` for 16 and above.
pub fn max_code(bits: u8) -> u16 {
    if bits >= 16 {
        u16::MAX
    } else {
        (1u16 << bits) - 1
    }
}

/// Rejects a bit depth outside [`MIN_BITS`]`..=`[`MAX_BITS`].
pub fn check_bits(bits: u8) -> Result<(), QuantError> {
    if (MIN_BITS..=MAX_BITS).contains(&bits) {
        Ok(())
    } else {
        Err(QuantError::BadBitDepth(bits))
    }
}

/// Per-tensor min-max quantization of `values` to `bits`-bit codes.
///
/// Errors on an empty tensor, a bit depth outside 2..=16, or any NaN/infinite value.
pub fn quantize(values: &[f32], bits: u8) -> Result<(Vec<u16>, QuantParams), QuantError> {
    check_bits(bits)?;
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
    let params = QuantParams { bits, min, max };
    Ok((quantize_with(values, &params), params))
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

    #[test]
    fn maps_min_and_max_to_end_codes() {
        let (q, p) = quantize(&[-1.0, 0.0, 3.0], 8).unwrap();
        assert_eq!(q, vec![0, 64, 255]);
        assert_eq!((p.min, p.max, p.bits), (-1.0, 3.0, 8));
        let x = dequantize(&q, &p);
        assert_eq!(x[0], -1.0);
        assert_eq!(x[2], 3.0);
        assert!((x[1] - 0.0).abs() <= (p.step() / 2.0) as f32);
    }

    #[test]
    fn constant_tensor_gives_zero_codes_and_exact_values() {
        let (q, p) = quantize(&[2.5; 7], 8).unwrap();
        assert_eq!(q, vec![0; 7]);
        assert_eq!(dequantize(&q, &p), vec![2.5; 7]);
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(quantize(&[], 8), Err(QuantError::Empty));
        assert_eq!(quantize(&[1.0], 1), Err(QuantError::BadBitDepth(1)));
        assert_eq!(quantize(&[1.0], 17), Err(QuantError::BadBitDepth(17)));
        assert!(matches!(
            quantize(&[1.0, f32::NAN], 8),
            Err(QuantError::NonFinite { index: 1, .. })
        ));
        assert!(matches!(
            quantize(&[f32::NEG_INFINITY], 8),
            Err(QuantError::NonFinite { index: 0, .. })
        ));
    }

    #[test]
    fn sixteen_bit_uses_full_range() {
        let (q, _) = quantize(&[0.0, 1.0], 16).unwrap();
        assert_eq!(q, vec![0, u16::MAX]);
    }

    #[test]
    fn huge_finite_range_does_not_overflow() {
        let (q, p) = quantize(&[-f32::MAX, f32::MAX], 8).unwrap();
        assert_eq!(q, vec![0, 255]);
        assert_eq!(dequantize(&q, &p), vec![-f32::MAX, f32::MAX]);
    }
}
