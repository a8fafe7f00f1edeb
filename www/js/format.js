// Number formatting and small DOM helpers shared by the page's modules.

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

export function bytes(n) {
  if (!Number.isFinite(n)) return "–";
  return n >= 10000 ? `${(n / 1024).toFixed(1)} KiB` : n.toLocaleString("en-US");
}

export function ms(v) {
  if (!Number.isFinite(v)) return "–";
  return v < 10 ? `${v.toFixed(1)} ms` : `${Math.round(v)} ms`;
}

export function fixed(v, digits) {
  return Number.isFinite(v) ? v.toFixed(digits) : "–";
}

export function lambda(v) {
  if (!Number.isFinite(v)) return "–";
  if (v === 0) return "0";
  return Math.abs(v) >= 0.01 ? String(+v.toPrecision(3)) : v.toExponential(1);
}

/**
 * Gives `canvas` a backing store of `width` x `height`, only if it has another size:
 * setting either size, even to the same value, reallocates and clears the canvas.
 */
export function sizeCanvas(canvas, width, height) {
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "style") node.style.cssText = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else node[k] = v;
  }
  node.append(...children);
  return node;
}

/** Median of the finite values (NaN when none). */
export function median(values) {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (!v.length) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}
