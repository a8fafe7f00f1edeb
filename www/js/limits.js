// The ranges of the page's settings, in one place. The bit depths are those the
// feature coder accepts (crate/core: quant and codec; JPEG carries 8-bit planes
// only); they may later come from the WebAssembly module instead of being written here.

/** Bit depths of the quantized features: `min..=max`. */
export const BIT_DEPTHS = Object.freeze({ min: 2, max: 16 });

/** The only bit depth JPEG carries. */
export const JPEG_BITS = 8;

/** JPEG quality: `min..=max` (the `?quality=` parameter). */
export const JPEG_QUALITY = Object.freeze({ min: 1, max: 100 });

/** Every bit depth of `BIT_DEPTHS`, ascending. */
export function bitDepths() {
  return Array.from({ length: BIT_DEPTHS.max - BIT_DEPTHS.min + 1 }, (_, i) => BIT_DEPTHS.min + i);
}

/** `text` as an integer clamped to `lo..=hi`, or `fallback` when it is not a number. */
export function clampInt(text, lo, hi, fallback) {
  const v = Number.parseInt(text ?? "", 10);
  return Number.isFinite(v) ? Math.min(hi, Math.max(lo, v)) : fallback;
}
