// The ranges of the page's settings, in one place. The bit depths are those the
// feature coder accepts, as the WebAssembly module reports them (`bitDepthRange`:
// crate/core's quant::BitDepth::MIN..=MAX), adopted once the edge worker has started;
// JPEG carries 8-bit planes only.

/** Bit depths of the quantized features, `{min, max}`; null before `adoptBitDepths`. */
export let BIT_DEPTHS = null;

/** Takes the module's bit-depth range (the edge worker's `init` reply). */
export function adoptBitDepths(range) {
  BIT_DEPTHS = Object.freeze({ min: range.min, max: range.max });
}

/** The only bit depth JPEG carries. */
export const JPEG_BITS = 8;

/** JPEG quality: `min..=max` (the `?quality=` parameter). */
export const JPEG_QUALITY = Object.freeze({ min: 1, max: 100 });

/** Every bit depth of `BIT_DEPTHS`, ascending. */
export function bitDepths() {
  return Array.from({ length: BIT_DEPTHS.max - BIT_DEPTHS.min + 1 }, (_, i) => BIT_DEPTHS.min + i);
}

/** A bit depth asked for (a number or text) clamped to `BIT_DEPTHS`; null for none. */
export function clampBits(bits) {
  return clampInt(bits == null ? null : String(bits), BIT_DEPTHS.min, BIT_DEPTHS.max, null);
}

/**
 * The drive sequence's frame rate (`?fps=`). samples/index.json gives the sequence 12 frames a
 * second of driving; it plays at a camera's 30 by default so that the page, not the
 * input, limits the frame rate.
 */
export const DRIVE_FPS = Object.freeze({ min: 1, max: 120, default: 30 });

/**
 * Bandwidth budgets (kbit/s) the budget select offers; `?budget=` takes any in
 * `BUDGET_KBPS` ("unlimited" or none: no budget).
 */
export const BUDGET_CHOICES = Object.freeze([1000, 300, 100]);
export const BUDGET_KBPS = Object.freeze({ min: 10, max: 100000 });

/** `?budget=` as kbit/s, null for none. */
export function parseBudget(text) {
  return clampInt(text, BUDGET_KBPS.min, BUDGET_KBPS.max, null);
}

/** `text` as an integer clamped to `lo..=hi`, or `fallback` when it is not a number. */
export function clampInt(text, lo, hi, fallback) {
  const v = Number.parseInt(text ?? "", 10);
  return Number.isFinite(v) ? Math.min(hi, Math.max(lo, v)) : fallback;
}
