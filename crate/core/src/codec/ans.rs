//! `ans`: a lossless entropy coder for feature images, on `constriction`'s ANS
//! (`stack::DefaultAnsCoder`: 32-bit words, 64-bit state, 24-bit probabilities).
//!
//! Post-ReLU features are sparse and non-negative, so after min-max quantization most
//! samples equal one symbol (q(0)). The model splits every sample into:
//! 1. a **background flag**: is the sample the most frequent symbol `m`? Coded with
//!    a binary model per context. With the neighbour context on, the context is how
//!    many of the left and upper neighbours are background (0, 1 or 2; neighbours
//!    outside the image count as background), so clustered zeros cost less.
//! 2. for foreground samples, the **prefix** `s >> k`, coded with one static
//!    categorical model over the prefixes that occur, and
//! 3. the **k low bits**, coded uniformly.
//!
//! Optionally the samples are first replaced by their **MED residual** (the LOCO-I
//! median predictor from the left, upper and upper-left samples, difference taken
//! modulo `2^bits` and zig-zag mapped), which wins on spatially smooth features.
//!
//! With no context, no residual and `k = 0` this is exactly the order-0 model of the
//! samples (the flag/foreground split does not change the entropy). The encoder
//! evaluates every combination of transform, context and `k` by its exact ideal cost
//! (empirical entropy plus the side-information bytes) and writes the cheapest.
//!
//! The side information is the counts that define each model, so the decoder rebuilds
//! identical fixed-point probabilities with integer arithmetic (no floats anywhere in
//! decoding). Byte layout: docs/bitstream.md.

use constriction::stream::model::{DefaultContiguousCategoricalEntropyModel, DefaultUniformModel};
use constriction::stream::stack::DefaultAnsCoder;
use constriction::stream::{Decode, Encode};

use super::varint;
use super::{CodecError, CodecId, FeatureCodec, checked_samples, try_zeroed};
use crate::quant::BitDepth;
use crate::tiling::Plane;

/// Fixed-point precision of every probability (that of `DefaultAnsCoder`'s models).
const PRECISION: u32 = 24;

/// Flag bits of the payload's first byte.
const FLAG_TRANSFORM_MASK: u8 = 0b011;
const FLAG_CONTEXT: u8 = 0b100;
const FLAG_KNOWN: u8 = FLAG_TRANSFORM_MASK | FLAG_CONTEXT;

/// How samples are mapped to coded symbols before modelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Transform {
    /// Code the samples themselves.
    Identity,
    /// Code the MED prediction residual, zig-zag mapped to `0..2^bits`.
    MedResidual,
}

impl Transform {
    fn code(self) -> u8 {
        match self {
            Transform::Identity => 0,
            Transform::MedResidual => 1,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Transform::Identity),
            1 => Some(Transform::MedResidual),
            _ => None,
        }
    }
}

/// The model the encoder picked for one plane, with its ideal cost.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct AnsChoice {
    pub transform: Transform,
    /// Whether the background flag is conditioned on the neighbours.
    pub context: bool,
    /// Number of low bits coded uniformly.
    pub k: u8,
    /// The background symbol (of the transformed samples).
    pub background: u16,
    /// Empirical entropy of the symbols under this model, in bits.
    pub entropy_bits: f64,
    /// Bytes of side information (everything before the ANS words).
    pub side_info_bytes: usize,
}

impl AnsChoice {
    /// Ideal payload size in bytes: entropy plus side information.
    pub fn ideal_bytes(&self) -> f64 {
        self.entropy_bits / 8.0 + self.side_info_bytes as f64
    }
}

/// Order-0 reference figures of a plane: the empirical entropy of its samples and
/// the size of the plainest side information for an order-0 model (count of
/// distinct symbols, then per symbol the delta to the previous one and its count,
/// all varints).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Order0Reference {
    pub samples: usize,
    pub distinct: usize,
    /// `-sum n_s log2(n_s / N)`.
    pub entropy_bits: f64,
    pub side_info_bytes: usize,
}

impl Order0Reference {
    /// Entropy plus side information, in bytes.
    pub fn total_bytes(&self) -> f64 {
        self.entropy_bits / 8.0 + self.side_info_bytes as f64
    }
}

/// Computes the [`Order0Reference`] of a plane.
pub fn order0_reference(plane: &Plane) -> Order0Reference {
    let hist = histogram(&plane.data, plane.bits);
    let mut side = Vec::new();
    let distinct = hist.iter().filter(|&&n| n > 0).count();
    varint::write(&mut side, distinct as u64);
    let mut prev = 0u64;
    for (s, &n) in hist.iter().enumerate().filter(|(_, n)| **n > 0) {
        varint::write(&mut side, s as u64 - prev);
        varint::write(&mut side, n);
        prev = s as u64;
    }
    Order0Reference {
        samples: plane.data.len(),
        distinct,
        entropy_bits: entropy_bits(&hist),
        side_info_bytes: side.len(),
    }
}

/// The ANS codec.
#[derive(Debug, Clone, Copy, Default)]
pub struct AnsCodec;

impl AnsCodec {
    /// The model the encoder would pick for `plane`, without coding it.
    pub fn analyze(plane: &Plane) -> Result<AnsChoice, CodecError> {
        plane.validate()?;
        Ok(choose(plane).0)
    }

    /// Encodes with a forced model (for measuring alternatives); `k` is clamped to
    /// the bit depth.
    pub fn encode_with(
        plane: &Plane,
        transform: Transform,
        context: bool,
        k: u8,
    ) -> Result<Vec<u8>, CodecError> {
        plane.validate()?;
        let symbols = forward_transform(plane, transform);
        let stats = Stats::gather(&symbols, plane.width as usize, plane.bits);
        let k = k.min(plane.bits.get());
        let choice = AnsChoice {
            transform,
            context,
            k,
            background: stats.background,
            entropy_bits: 0.0,
            side_info_bytes: 0,
        };
        encode_choice(plane, &symbols, &stats, &choice)
    }
}

impl FeatureCodec for AnsCodec {
    fn id(&self) -> CodecId {
        CodecId::Ans
    }

    fn encode(&self, plane: &Plane) -> Result<Vec<u8>, CodecError> {
        plane.validate()?;
        let (choice, symbols, stats) = choose(plane);
        encode_choice(plane, &symbols, &stats, &choice)
    }

    fn decode(
        &self,
        payload: &[u8],
        width: u32,
        height: u32,
        bits: BitDepth,
    ) -> Result<Plane, CodecError> {
        let n = checked_samples(width, height)?;
        let side = SideInfo::parse(payload, n as u64, bits)?;
        let mut coder = coder_from_le_words(side.words)?;

        let models = Models::build(&side.flag_counts, &side.prefix_counts, side.k)?;
        let mut data = try_zeroed::<u16>(n)?;
        let w = width as usize;
        let m = side.background;
        let mut flag_seen = vec![[0u64; 2]; side.flag_counts.len()];
        let mut prefix_seen = vec![0u64; side.prefix_counts.len()];
        for i in 0..n {
            let ctx = if side.context {
                context_at(&data, i, w, m)
            } else {
                0
            };
            let fg = match models.flag.get(ctx) {
                Some(FlagModel::Coded(model)) => decode_one(&mut coder, model.as_view())? == 1,
                Some(FlagModel::Always(fg)) => *fg,
                None => return Err(CodecError::Corrupt("context without a model")),
            };
            if let Some(seen) = flag_seen.get_mut(ctx) {
                seen[usize::from(fg)] += 1;
            }
            if !fg {
                data[i] = m;
                continue;
            }
            let index = match &models.prefix {
                Some(model) => decode_one(&mut coder, model.as_view())?,
                None => 0,
            };
            let prefix = *side
                .prefixes
                .get(index)
                .ok_or(CodecError::Corrupt("prefix index out of range"))?;
            if let Some(seen) = prefix_seen.get_mut(index) {
                *seen += 1;
            }
            let low = match &models.low {
                Some(model) => decode_one(&mut coder, model)? as u32,
                None => 0,
            };
            let symbol = (u32::from(prefix) << side.k) | low;
            if symbol > u32::from(bits.max_code()) || symbol == u32::from(m) {
                return Err(CodecError::Corrupt("decoded symbol outside the model"));
            }
            data[i] = symbol as u16;
        }
        if !coder.is_empty() {
            return Err(CodecError::Corrupt("ANS data left after the last sample"));
        }
        if flag_seen != side.flag_counts || prefix_seen != side.prefix_counts {
            return Err(CodecError::Corrupt(
                "decoded counts differ from the side information",
            ));
        }
        if side.transform == Transform::MedResidual {
            inverse_med(&mut data, w, bits);
        }
        Ok(Plane {
            width,
            height,
            bits,
            data,
        })
    }
}

fn decode_one<M>(coder: &mut DefaultAnsCoder, model: M) -> Result<usize, CodecError>
where
    M: constriction::stream::model::DecoderModel<24, Symbol = usize, Probability = u32>,
{
    coder
        .decode_symbol(model)
        .map_err(|_| CodecError::Corrupt("ANS decoder error"))
}

/// Histogram of `symbols` over `0..2^bits`.
fn histogram(symbols: &[u16], bits: BitDepth) -> Vec<u64> {
    let mut hist = vec![0u64; bits.levels() as usize];
    for &s in symbols {
        if let Some(n) = hist.get_mut(usize::from(s)) {
            *n += 1;
        }
    }
    hist
}

/// `-sum n log2(n / N)` over the non-zero counts, in bits.
fn entropy_bits(counts: &[u64]) -> f64 {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return 0.0;
    }
    let total_f = total as f64;
    counts
        .iter()
        .filter(|&&n| n > 0)
        .map(|&n| {
            let n = n as f64;
            -n * (n / total_f).log2()
        })
        .sum()
}

/// Number of background samples among the left and upper neighbours of sample `i`
/// (outside the image counts as background): context 0, 1 or 2.
fn context_at(symbols: &[u16], i: usize, width: usize, background: u16) -> usize {
    let x = i % width;
    let left = x == 0 || symbols.get(i - 1) == Some(&background);
    let up = i < width || symbols.get(i - width) == Some(&background);
    usize::from(left) + usize::from(up)
}

/// LOCO-I median edge detector from left `a`, upper `b`, upper-left `c`; the first
/// row predicts from the left, the first column from above, the origin predicts 0.
fn med_prediction(data: &[u16], i: usize, width: usize) -> u16 {
    let x = i % width;
    let left = (x > 0).then(|| data.get(i - 1).copied()).flatten();
    let up = (i >= width).then(|| data.get(i - width).copied()).flatten();
    match (left, up) {
        (Some(a), Some(b)) => {
            let c = data.get(i - width - 1).copied().unwrap_or(0);
            let (lo, hi) = (a.min(b), a.max(b));
            if c >= hi {
                lo
            } else if c <= lo {
                hi
            } else {
                // c strictly between lo and hi, so a + b - c lies in (lo, hi).
                (u32::from(a) + u32::from(b) - u32::from(c)) as u16
            }
        }
        (Some(a), None) => a,
        (None, Some(b)) => b,
        (None, None) => 0,
    }
}

/// `(s - p) mod 2^bits`, read as a signed value in `[-2^(bits-1), 2^(bits-1))`,
/// zig-zag mapped to `0..2^bits`.
fn zigzag_residual(s: u16, p: u16, bits: BitDepth) -> u16 {
    let modulus = bits.levels() as i32;
    let mut d = (i32::from(s) - i32::from(p)).rem_euclid(modulus);
    if d >= modulus / 2 {
        d -= modulus;
    }
    (if d >= 0 { 2 * d } else { -2 * d - 1 }) as u16
}

/// Inverse of [`zigzag_residual`]: the sample from its prediction and residual.
fn unzigzag_residual(z: u16, p: u16, bits: BitDepth) -> u16 {
    let z = i32::from(z);
    let d = if z % 2 == 0 { z / 2 } else { -(z + 1) / 2 };
    (i32::from(p) + d).rem_euclid(bits.levels() as i32) as u16
}

fn forward_transform(plane: &Plane, transform: Transform) -> Vec<u16> {
    match transform {
        Transform::Identity => plane.data.clone(),
        Transform::MedResidual => {
            let w = plane.width as usize;
            (0..plane.data.len())
                .map(|i| {
                    let p = med_prediction(&plane.data, i, w);
                    zigzag_residual(plane.data[i], p, plane.bits)
                })
                .collect()
        }
    }
}

/// Replaces residuals by samples in raster order (each prediction only reads samples
/// already restored).
fn inverse_med(data: &mut [u16], width: usize, bits: BitDepth) {
    for i in 0..data.len() {
        let p = med_prediction(data, i, width);
        data[i] = unzigzag_residual(data[i], p, bits);
    }
}

/// Statistics of the transformed symbols that every model choice is built from.
struct Stats {
    bits: BitDepth,
    hist: Vec<u64>,
    background: u16,
    /// `[background, foreground]` counts per neighbour context 0, 1, 2.
    ctx_counts: [[u64; 2]; 3],
}

impl Stats {
    fn gather(symbols: &[u16], width: usize, bits: BitDepth) -> Self {
        let hist = histogram(symbols, bits);
        // Most frequent symbol; ties go to the smallest.
        let background = hist
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(&a.0)))
            .map_or(0, |(s, _)| s as u16);
        let mut ctx_counts = [[0u64; 2]; 3];
        for (i, &s) in symbols.iter().enumerate() {
            let ctx = context_at(symbols, i, width, background);
            ctx_counts[ctx][usize::from(s != background)] += 1;
        }
        Self {
            bits,
            hist,
            background,
            ctx_counts,
        }
    }

    fn flag_counts(&self, context: bool) -> Vec<[u64; 2]> {
        if context {
            self.ctx_counts.to_vec()
        } else {
            let bg = self.ctx_counts.iter().map(|c| c[0]).sum();
            let fg = self.ctx_counts.iter().map(|c| c[1]).sum();
            vec![[bg, fg]]
        }
    }

    /// `(prefix, count)` of the foreground symbols' prefixes `s >> k`, ascending.
    fn prefix_counts(&self, k: u8) -> Vec<(u16, u64)> {
        let mut out: Vec<(u16, u64)> = Vec::new();
        for (s, &n) in self.hist.iter().enumerate() {
            if n == 0 || s == usize::from(self.background) {
                continue;
            }
            let p = (s >> k) as u16;
            match out.last_mut() {
                Some(last) if last.0 == p => last.1 += n,
                _ => out.push((p, n)),
            }
        }
        out
    }
}

/// Picks the cheapest (transform, context, k) by ideal cost.
fn choose(plane: &Plane) -> (AnsChoice, Vec<u16>, Stats) {
    let identity = best_for_transform(plane, Transform::Identity);
    let residual = best_for_transform(plane, Transform::MedResidual);
    if residual.0.ideal_bytes() < identity.0.ideal_bytes() {
        residual
    } else {
        identity
    }
}

fn best_for_transform(plane: &Plane, transform: Transform) -> (AnsChoice, Vec<u16>, Stats) {
    let symbols = forward_transform(plane, transform);
    let stats = Stats::gather(&symbols, plane.width as usize, plane.bits);
    let mut best = evaluate(&stats, transform, false, 0);
    for k in 0..=plane.bits.get() {
        let prefixes = stats.prefix_counts(k);
        for context in [false, true] {
            let choice = evaluate_with(&stats, transform, context, k, &prefixes);
            if choice.ideal_bytes() < best.ideal_bytes() {
                best = choice;
            }
        }
    }
    (best, symbols, stats)
}

fn evaluate(stats: &Stats, transform: Transform, context: bool, k: u8) -> AnsChoice {
    evaluate_with(stats, transform, context, k, &stats.prefix_counts(k))
}

/// Ideal cost of one model choice: entropy of flags, prefixes and raw low bits, plus
/// the exact side-information size.
fn evaluate_with(
    stats: &Stats,
    transform: Transform,
    context: bool,
    k: u8,
    prefixes: &[(u16, u64)],
) -> AnsChoice {
    let flags = stats.flag_counts(context);
    let flag_bits: f64 = flags.iter().map(|c| entropy_bits(c)).sum();
    let counts: Vec<u64> = prefixes.iter().map(|p| p.1).collect();
    let fg: u64 = counts.iter().sum();
    let side = write_side_info(transform, context, k, stats.background, &flags, prefixes);
    AnsChoice {
        transform,
        context,
        k,
        background: stats.background,
        entropy_bits: flag_bits + entropy_bits(&counts) + (fg * u64::from(k)) as f64,
        side_info_bytes: side.len(),
    }
}

/// Serializes the side information (docs/bitstream.md, "ans payload").
fn write_side_info(
    transform: Transform,
    context: bool,
    k: u8,
    background: u16,
    flags: &[[u64; 2]],
    prefixes: &[(u16, u64)],
) -> Vec<u8> {
    let mut out = Vec::new();
    out.push(transform.code() | if context { FLAG_CONTEXT } else { 0 });
    out.push(k);
    varint::write(&mut out, u64::from(background));
    for [bg, fg] in flags {
        varint::write(&mut out, *bg);
        varint::write(&mut out, *fg);
    }
    // Runs of consecutive used prefixes: the first starts at `gap`, each later one
    // `gap + 2` after the previous run's last prefix (runs never touch).
    let mut runs: Vec<(u16, u16)> = Vec::new();
    for &(p, _) in prefixes {
        match runs.last_mut() {
            Some(run) if u32::from(run.1) + 1 == u32::from(p) => run.1 = p,
            _ => runs.push((p, p)),
        }
    }
    varint::write(&mut out, runs.len() as u64);
    let mut next = 0u64;
    for &(start, end) in &runs {
        varint::write(&mut out, u64::from(start) - next);
        varint::write(&mut out, u64::from(end - start));
        next = u64::from(end) + 2;
    }
    for &(_, n) in prefixes {
        varint::write(&mut out, n);
    }
    out
}

/// Parsed and validated side information.
struct SideInfo<'a> {
    transform: Transform,
    context: bool,
    k: u8,
    background: u16,
    flag_counts: Vec<[u64; 2]>,
    prefixes: Vec<u16>,
    prefix_counts: Vec<u64>,
    words: &'a [u8],
}

impl<'a> SideInfo<'a> {
    fn parse(payload: &'a [u8], samples: u64, bits: BitDepth) -> Result<Self, CodecError> {
        let truncated = CodecError::Corrupt("side information truncated");
        let mut r = varint::Reader::new(payload);
        let flags = r.read_u8().ok_or(truncated.clone())?;
        if flags & !FLAG_KNOWN != 0 {
            return Err(CodecError::Corrupt("unknown flag bits"));
        }
        let transform = Transform::from_code(flags & FLAG_TRANSFORM_MASK)
            .ok_or(CodecError::Corrupt("unknown transform"))?;
        let context = flags & FLAG_CONTEXT != 0;
        let k = r.read_u8().ok_or(truncated.clone())?;
        if k > bits.get() {
            return Err(CodecError::Corrupt("more low bits than the bit depth"));
        }
        let top = u64::from(bits.max_code());
        let background = r.read().ok_or(truncated.clone())?;
        if background > top {
            return Err(CodecError::Corrupt(
                "background symbol outside the bit depth",
            ));
        }
        let contexts = if context { 3 } else { 1 };
        let mut flag_counts = Vec::with_capacity(contexts);
        let (mut total, mut fg_total) = (0u64, 0u64);
        for _ in 0..contexts {
            let bg = r.read().ok_or(truncated.clone())?;
            let fg = r.read().ok_or(truncated.clone())?;
            total = total
                .checked_add(bg)
                .and_then(|t| t.checked_add(fg))
                .ok_or(CodecError::Corrupt("count overflow"))?;
            fg_total += fg;
            flag_counts.push([bg, fg]);
        }
        if total != samples {
            return Err(CodecError::Corrupt(
                "flag counts do not add up to the image size",
            ));
        }

        let top_prefix = top >> k;
        let run_count = r.read().ok_or(truncated.clone())?;
        // Each run takes at least two bytes, which bounds the allocations below by
        // the payload length.
        if run_count > (r.rest().len() / 2) as u64 || run_count > top_prefix + 1 {
            return Err(truncated);
        }
        let mut prefixes: Vec<u16> = Vec::new();
        let mut next = 0u64;
        for _ in 0..run_count {
            let gap = r.read().ok_or(truncated.clone())?;
            let len_minus_one = r.read().ok_or(truncated.clone())?;
            let start = next.checked_add(gap);
            let end = start.and_then(|s| s.checked_add(len_minus_one));
            let (Some(start), Some(end)) = (start, end) else {
                return Err(CodecError::Corrupt("prefix run overflow"));
            };
            if end > top_prefix {
                return Err(CodecError::Corrupt("prefix outside the bit depth"));
            }
            prefixes.extend((start..=end).map(|p| p as u16));
            next = end + 2;
        }
        let mut prefix_counts = Vec::with_capacity(prefixes.len());
        let mut prefix_total = 0u64;
        for _ in 0..prefixes.len() {
            let n = r.read().ok_or(truncated.clone())?;
            if n == 0 {
                return Err(CodecError::Corrupt("zero prefix count"));
            }
            prefix_total = prefix_total
                .checked_add(n)
                .ok_or(CodecError::Corrupt("count overflow"))?;
            prefix_counts.push(n);
        }
        if prefix_total != fg_total {
            return Err(CodecError::Corrupt(
                "prefix counts do not add up to the foreground",
            ));
        }
        Ok(Self {
            transform,
            context,
            k,
            background: background as u16,
            flag_counts,
            prefixes,
            prefix_counts,
            words: r.rest(),
        })
    }
}

/// Binary model of the background flag in one context.
enum FlagModel {
    Coded(DefaultContiguousCategoricalEntropyModel),
    /// Only one outcome occurs in this context, so it costs nothing.
    Always(bool),
}

struct Models {
    flag: Vec<FlagModel>,
    /// `None` when at most one prefix occurs.
    prefix: Option<DefaultContiguousCategoricalEntropyModel>,
    /// `None` when `k == 0`.
    low: Option<DefaultUniformModel>,
}

impl Models {
    fn build(flags: &[[u64; 2]], prefix_counts: &[u64], k: u8) -> Result<Self, CodecError> {
        let flag = flags
            .iter()
            .map(|&[bg, fg]| match (bg, fg) {
                (0, _) => Ok(FlagModel::Always(true)),
                (_, 0) => Ok(FlagModel::Always(false)),
                _ => categorical(&[bg, fg]).map(FlagModel::Coded),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let prefix = if prefix_counts.len() >= 2 {
            Some(categorical(prefix_counts)?)
        } else {
            None
        };
        // k <= 16 < PRECISION, so 2^k bins of equal width are exact and `new` gets a
        // range above 1.
        let low = (1..=16)
            .contains(&k)
            .then(|| DefaultUniformModel::new(1usize << k));
        Ok(Self { flag, prefix, low })
    }
}

/// Fixed-point categorical model from positive counts: every symbol gets
/// `1 + floor(n * (2^24 - K) / N)`, the remainder goes to the first most frequent
/// symbol, so the total is exactly `2^24` and no probability is zero.
pub(crate) fn categorical(
    counts: &[u64],
) -> Result<DefaultContiguousCategoricalEntropyModel, CodecError> {
    let bad = CodecError::Corrupt("invalid probability table");
    let k = counts.len() as u128;
    let total: u128 = counts.iter().map(|&n| u128::from(n)).sum();
    let one = 1u128 << PRECISION;
    if counts.is_empty() || k > one || total == 0 || counts.contains(&0) {
        return Err(bad);
    }
    let free = one - k;
    let mut probs: Vec<u32> = counts
        .iter()
        .map(|&n| (1 + u128::from(n) * free / total) as u32)
        .collect();
    let assigned: u128 = probs.iter().map(|&p| u128::from(p)).sum();
    let top = counts
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(&a.0)))
        .map(|(i, _)| i);
    match (
        top.and_then(|i| probs.get_mut(i)),
        one.checked_sub(assigned),
    ) {
        (Some(p), Some(rest)) => *p += rest as u32,
        _ => return Err(bad),
    }
    DefaultContiguousCategoricalEntropyModel::from_nonzero_fixed_point_probabilities(&probs, false)
        .map_err(|()| bad)
}

fn encode_choice(
    plane: &Plane,
    symbols: &[u16],
    stats: &Stats,
    choice: &AnsChoice,
) -> Result<Vec<u8>, CodecError> {
    let flags = stats.flag_counts(choice.context);
    let prefixes = stats.prefix_counts(choice.k);
    let mut out = write_side_info(
        choice.transform,
        choice.context,
        choice.k,
        stats.background,
        &flags,
        &prefixes,
    );
    let counts: Vec<u64> = prefixes.iter().map(|p| p.1).collect();
    let models = Models::build(&flags, &counts, choice.k)?;
    // Prefix value -> model index.
    let mut index_of = vec![0usize; (usize::from(stats.bits.max_code()) >> choice.k) + 1];
    for (i, &(p, _)) in prefixes.iter().enumerate() {
        if let Some(slot) = index_of.get_mut(usize::from(p)) {
            *slot = i;
        }
    }
    let encode_err = |_| CodecError::Corrupt("symbol outside its model");
    let w = plane.width as usize;
    let m = stats.background;
    let low_mask = (1u32 << choice.k) - 1;
    let mut coder = DefaultAnsCoder::new();
    // ANS is last-in first-out: code the samples backwards, and within a sample the
    // parts in the reverse of their decoding order.
    for i in (0..symbols.len()).rev() {
        let s = symbols[i];
        let ctx = if choice.context {
            context_at(symbols, i, w, m)
        } else {
            0
        };
        let fg = s != m;
        if fg {
            if let Some(model) = &models.low {
                coder
                    .encode_symbol((u32::from(s) & low_mask) as usize, model)
                    .map_err(encode_err)?;
            }
            if let Some(model) = &models.prefix {
                let index = index_of
                    .get(usize::from(s >> choice.k))
                    .copied()
                    .unwrap_or(0);
                coder
                    .encode_symbol(index, model.as_view())
                    .map_err(encode_err)?;
            }
        }
        if let Some(FlagModel::Coded(model)) = models.flag.get(ctx) {
            coder
                .encode_symbol(usize::from(fg), model.as_view())
                .map_err(encode_err)?;
        }
    }
    append_le_words(coder, &mut out)?;
    Ok(out)
}

/// An ANS decoder over `bytes`, the coder's 32-bit words little-endian (the payload
/// layout of `ans` and `prior`); errors on a partial word or a final zero word.
pub(crate) fn coder_from_le_words(bytes: &[u8]) -> Result<DefaultAnsCoder, CodecError> {
    if !bytes.len().is_multiple_of(4) {
        return Err(CodecError::Corrupt(
            "ANS data is not a whole number of words",
        ));
    }
    let words: Vec<u32> = bytes
        .chunks_exact(4)
        .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
        .collect();
    DefaultAnsCoder::from_compressed(words)
        .map_err(|_| CodecError::Corrupt("ANS data ends in a zero word"))
}

/// Appends the words of a finished encoder to `out`, little-endian (inverse of
/// [`coder_from_le_words`]).
pub(crate) fn append_le_words(coder: DefaultAnsCoder, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let words = coder
        .into_compressed()
        .map_err(|_| CodecError::Corrupt("ANS backend error"))?;
    out.reserve(words.len() * 4);
    for word in words {
        out.extend_from_slice(&word.to_le_bytes());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth(bits: u8) -> BitDepth {
        BitDepth::new(bits).unwrap()
    }

    fn plane(width: u32, height: u32, bits: u8, data: Vec<u16>) -> Plane {
        Plane {
            width,
            height,
            bits: depth(bits),
            data,
        }
    }

    #[test]
    fn zigzag_is_a_bijection() {
        for bits in [2u8, 3, 8] {
            let n = 1u16 << bits;
            for p in 0..n {
                let mut seen = vec![false; usize::from(n)];
                for s in 0..n {
                    let z = zigzag_residual(s, p, depth(bits));
                    assert!(z < n);
                    assert!(!seen[usize::from(z)]);
                    seen[usize::from(z)] = true;
                    assert_eq!(unzigzag_residual(z, p, depth(bits)), s);
                }
            }
        }
        assert_eq!(zigzag_residual(0, 0, depth(8)), 0);
        assert_eq!(zigzag_residual(1, 0, depth(8)), 2);
        assert_eq!(zigzag_residual(0, 1, depth(8)), 1);
        assert_eq!(zigzag_residual(u16::MAX, 0, depth(16)), 1);
    }

    #[test]
    fn categorical_sums_to_one_and_keeps_rare_symbols() {
        let model = categorical(&[1_000_000_000, 1, 1]).unwrap();
        assert_eq!(model.support_size(), 3);
        assert!(categorical(&[]).is_err());
        assert!(categorical(&[3, 0]).is_err());
        let many = vec![1u64; 65536];
        assert!(categorical(&many).is_ok());
    }

    #[test]
    fn every_forced_model_round_trips() {
        let data: Vec<u16> = (0..96u32)
            .map(|i| {
                if i % 3 == 0 {
                    0
                } else {
                    ((i * 37) % 200) as u16
                }
            })
            .collect();
        let p = plane(12, 8, 8, data);
        for transform in [Transform::Identity, Transform::MedResidual] {
            for context in [false, true] {
                for k in 0..=8 {
                    let bytes = AnsCodec::encode_with(&p, transform, context, k).unwrap();
                    let back = AnsCodec.decode(&bytes, 12, 8, depth(8)).unwrap();
                    assert_eq!(back, p, "{transform:?} {context} {k}");
                }
            }
        }
    }

    #[test]
    fn constant_plane_costs_only_side_info() {
        let p = plane(64, 32, 8, vec![7; 64 * 32]);
        let bytes = AnsCodec.encode(&p).unwrap();
        assert!(bytes.len() <= 8, "{}", bytes.len());
        assert_eq!(AnsCodec.decode(&bytes, 64, 32, depth(8)).unwrap(), p);
    }

    #[test]
    fn single_sample_and_sixteen_bits() {
        for (bits, v) in [(2u8, 3u16), (16, 65535), (16, 0), (9, 300)] {
            let p = plane(1, 1, bits, vec![v]);
            let bytes = AnsCodec.encode(&p).unwrap();
            assert_eq!(AnsCodec.decode(&bytes, 1, 1, depth(bits)).unwrap(), p);
        }
        let data: Vec<u16> = (0..256u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 16) as u16)
            .collect();
        let p = plane(16, 16, 16, data);
        let bytes = AnsCodec.encode(&p).unwrap();
        assert_eq!(AnsCodec.decode(&bytes, 16, 16, depth(16)).unwrap(), p);
    }

    #[test]
    fn rejects_wrong_size_and_garbage() {
        let p = plane(4, 4, 8, (0..16).collect());
        let bytes = AnsCodec.encode(&p).unwrap();
        assert!(AnsCodec.decode(&bytes, 4, 5, depth(8)).is_err());
        assert!(AnsCodec.decode(&bytes, 4, 4, depth(3)).is_err());
        assert!(AnsCodec.decode(&[], 4, 4, depth(8)).is_err());
        assert!(AnsCodec.decode(&[0xff; 64], 4, 4, depth(8)).is_err());
        let mut extra = bytes.clone();
        extra.extend_from_slice(&[1, 0, 0, 0]);
        assert!(AnsCodec.decode(&extra, 4, 4, depth(8)).is_err());
    }

    #[test]
    fn order0_reference_counts() {
        let p = plane(4, 1, 8, vec![0, 0, 5, 5]);
        let r = order0_reference(&p);
        assert_eq!(r.distinct, 2);
        assert!((r.entropy_bits - 4.0).abs() < 1e-12);
        // distinct, then (delta 0, count 2), (delta 5, count 2).
        assert_eq!(r.side_info_bytes, 5);
    }
}
