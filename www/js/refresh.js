// How often the figures around a live input's outputs are redrawn. The outputs of a
// live input (drive, webcam) are drawn every frame, but the numbers, tables, legend
// and feature tiles beside them cannot be read at 15-25 changes a second, and each
// change costs the page's thread a style, layout and paint pass: in drive mode the
// page's thread spent more time in that work than in all of its scripts and wasm
// (docs/results-web.md, "The page's own work per frame"). For a live input each group
// of figures is redrawn at most every FIGURES_MS; a still input redraws them always.

export const FIGURES_MS = 250;

const lastDrawn = new Map();

/**
 * Whether the figures of group `key` are to be drawn now (`live`: the input is a
 * live one); a true answer counts as drawn.
 */
export function figuresDue(key, live, now = performance.now()) {
  if (!live) {
    lastDrawn.delete(key);
    return true;
  }
  const last = lastDrawn.get(key);
  if (last !== undefined && now - last < FIGURES_MS) return false;
  lastDrawn.set(key, now);
  return true;
}
