// Small canvas charts: the scrolling bitrate history and the rate-accuracy plot.

import { sizeCanvas } from "./format.js";

const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

/** Sizes a canvas's backing store to its CSS box at the device pixel ratio. */
function prepare(canvas) {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(canvas.clientWidth * dpr));
  const h = Math.max(1, Math.round(canvas.clientHeight * dpr));
  sizeCanvas(canvas, w, h);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return { ctx, width: canvas.clientWidth, height: canvas.clientHeight };
}

/**
 * Draws `chart` once before the next paint, however often this is called meanwhile:
 * a live input updates the charts every frame, and drawing each update cost the page
 * time that the frame pipeline needs.
 */
function drawSoon(chart) {
  if (chart.pendingDraw) return;
  chart.pendingDraw = requestAnimationFrame(() => {
    chart.pendingDraw = null;
    chart.draw();
  });
}

/** A nice step for about `count` ticks over `span`. */
function niceStep(span, count) {
  const raw = span / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw || 1));
  const norm = raw / mag;
  return (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
}

/** Colours for models in lambda order (low lambda: warm, high: cool). */
export function modelColour(index, count) {
  const palette = ["#f59e0b", "#ef4444", "#ec4899", "#a855f7", "#6366f1", "#0ea5e9", "#14b8a6", "#22c55e"];
  if (count <= 1) return palette[5];
  return palette[Math.round((index / (count - 1)) * (palette.length - 1))];
}

/** Bytes per frame over the last frames, newest at the right. */
export class Sparkline {
  constructor(canvas, capacity = 120) {
    this.canvas = canvas;
    this.capacity = capacity;
    this.points = [];
    new ResizeObserver(() => this.draw()).observe(canvas);
  }

  /** Adds a point; `redraw` false keeps it for the next drawing (a live input's figures, js/refresh.js). */
  push(value, tag, colour, redraw = true) {
    this.points.push({ value, tag, colour });
    if (this.points.length > this.capacity) this.points.shift();
    if (redraw) drawSoon(this);
  }

  draw() {
    const { ctx, width, height } = prepare(this.canvas);
    ctx.clearRect(0, 0, width, height);
    const pad = { l: 44, r: 8, t: 8, b: 16 };
    const pw = width - pad.l - pad.r;
    const ph = height - pad.t - pad.b;
    const max = Math.max(1, ...this.points.map((p) => p.value)) * 1.15;
    const step = niceStep(max, 3);
    ctx.font = "11px system-ui, sans-serif";
    ctx.fillStyle = css("--muted");
    ctx.strokeStyle = css("--grid");
    ctx.lineWidth = 1;
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (let v = 0; v <= max; v += step) {
      const y = pad.t + ph - (v / max) * ph;
      ctx.beginPath();
      ctx.moveTo(pad.l, Math.round(y) + 0.5);
      ctx.lineTo(pad.l + pw, Math.round(y) + 0.5);
      ctx.stroke();
      ctx.fillText(v >= 1000 ? `${(v / 1000).toFixed(v % 1000 ? 1 : 0)}k` : String(Math.round(v)), pad.l - 6, y);
    }
    ctx.textAlign = "left";
    ctx.fillText(`last ${this.capacity} frames`, pad.l, height - 6);
    if (!this.points.length) return;
    const x = (i) => pad.l + pw - ((this.points.length - 1 - i) / (this.capacity - 1)) * pw;
    const y = (v) => pad.t + ph - (v / max) * ph;
    // Model changes as dashed rules.
    ctx.setLineDash([3, 3]);
    for (let i = 1; i < this.points.length; i++) {
      if (this.points[i].tag !== this.points[i - 1].tag) {
        ctx.strokeStyle = css("--muted");
        ctx.beginPath();
        ctx.moveTo(x(i), pad.t);
        ctx.lineTo(x(i), pad.t + ph);
        ctx.stroke();
        ctx.fillText(this.points[i].tag, x(i) + 3, pad.t + 8);
      }
    }
    ctx.setLineDash([]);
    for (let i = 0; i < this.points.length; i++) {
      const p = this.points[i];
      const prev = this.points[i - 1];
      ctx.strokeStyle = p.colour;
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.moveTo(prev ? x(i - 1) : x(i) - 1, y(prev ? prev.value : p.value));
      ctx.lineTo(x(i), y(p.value));
      ctx.stroke();
    }
    const last = this.points[this.points.length - 1];
    ctx.fillStyle = last.colour;
    ctx.beginPath();
    ctx.arc(x(this.points.length - 1), y(last.value), 3.5, 0, Math.PI * 2);
    ctx.fill();
  }
}

export const METRICS = {
  miou: { label: "mIoU (%)", scale: 100, better: "higher" },
  pixel_accuracy: { label: "pixel accuracy (%)", scale: 100, better: "higher" },
  psnr_db: { label: "reconstruction PSNR (dB)", scale: 1, better: "higher" },
  disparity_rmse: { label: "disparity RMSE (px)", scale: 1, better: "lower" },
};

// Every coded setting: the codecs at the main bit depth ("png", "jpeg90") and at the
// others ("png@4", "ans@3").
const isCodedSetting = (s) => s !== "float";
const codecOf = (s) => s.split("@")[0];

/**
 * The efficient frontier of a model's points: by increasing rate, each point kept only
 * if it is better than every cheaper one (the settings a user would pick).
 */
function frontier(points, better) {
  const sign = better === "lower" ? -1 : 1;
  const sorted = [...points].sort((a, b) => a.x - b.x || sign * (b.y - a.y));
  const out = [];
  for (const p of sorted) {
    const last = out[out.length - 1];
    if (!last || (sign * p.y > sign * last.y && p.x > last.x)) out.push(p);
  }
  return out;
}

/**
 * Rate-accuracy plot from the manifest's evaluation results (test-set means): every
 * setting of every model (PNG squares, ANS diamonds, JPEG circles, at every bit depth),
 * a line per model through its efficient frontier (the baseline, λ = 0, drawn
 * thicker), the test-set point of the current setting (ring) and this frame's bits per
 * element (dashed rule).
 */
export class RateChart {
  constructor(canvas) {
    this.canvas = canvas;
    this.models = [];
    this.metric = "miou";
    this.current = null;
    new ResizeObserver(() => this.draw()).observe(canvas);
  }

  setModels(models) {
    this.models = models;
    this.draw();
  }

  setMetric(metric) {
    this.metric = metric;
    this.draw();
  }

  /** {modelIndex, setting, bitsPerElement}: where the page is now. */
  setCurrent(current) {
    this.current = current;
    drawSoon(this);
  }

  hasData() {
    return this.models.some((m) => (m.eval?.results ?? []).some((r) => isCodedSetting(r.setting)));
  }

  draw() {
    const { ctx, width, height } = prepare(this.canvas);
    ctx.clearRect(0, 0, width, height);
    const metric = METRICS[this.metric];
    const series = this.models.map((m, i) => ({
      model: m,
      colour: modelColour(i, this.models.length),
      points: (m.eval?.results ?? [])
        .filter((r) => isCodedSetting(r.setting) && Number.isFinite(r[this.metric]))
        .map((r) => ({ x: r.bits_per_element, y: r[this.metric] * metric.scale, setting: r.setting })),
    }));
    const all = series.flatMap((s) => s.points);
    ctx.font = "11px system-ui, sans-serif";
    if (!all.length) {
      ctx.fillStyle = css("--muted");
      ctx.textAlign = "center";
      ctx.fillText("no evaluation data in the manifest", width / 2, height / 2);
      return;
    }
    const cur = this.current;
    const xs = all.map((p) => p.x).concat(cur?.bitsPerElement ?? []);
    const ys = all.map((p) => p.y);
    let [x0, x1] = [0, Math.max(...xs) * 1.08];
    let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
    const yPad = (y1 - y0 || Math.abs(y1) || 1) * 0.15;
    [y0, y1] = [y0 - yPad, y1 + yPad];
    if (metric.scale === 100) y0 = Math.max(0, y0);
    const pad = { l: 46, r: 12, t: 12, b: 34 };
    const pw = width - pad.l - pad.r;
    const ph = height - pad.t - pad.b;
    const X = (v) => pad.l + ((v - x0) / (x1 - x0)) * pw;
    const Y = (v) => pad.t + ph - ((v - y0) / (y1 - y0)) * ph;

    ctx.strokeStyle = css("--grid");
    ctx.fillStyle = css("--muted");
    ctx.lineWidth = 1;
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    const xs_ = niceStep(x1 - x0, 5);
    for (let v = Math.ceil(x0 / xs_) * xs_; v <= x1; v += xs_) {
      ctx.beginPath();
      ctx.moveTo(Math.round(X(v)) + 0.5, pad.t);
      ctx.lineTo(Math.round(X(v)) + 0.5, pad.t + ph);
      ctx.stroke();
      ctx.fillText(+v.toFixed(2), X(v), pad.t + ph + 4);
    }
    ctx.fillText("bits per feature element", pad.l + pw / 2, height - 14);
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    const ys_ = niceStep(y1 - y0, 4);
    for (let v = Math.ceil(y0 / ys_) * ys_; v <= y1; v += ys_) {
      ctx.beginPath();
      ctx.moveTo(pad.l, Math.round(Y(v)) + 0.5);
      ctx.lineTo(pad.l + pw, Math.round(Y(v)) + 0.5);
      ctx.stroke();
      ctx.fillText(+v.toFixed(ys_ < 1 ? 2 : 1), pad.l - 6, Y(v));
    }

    for (const s of series) {
      const line = frontier(s.points, metric.better);
      ctx.strokeStyle = s.colour;
      ctx.lineWidth = s.model.lambda === 0 ? 3 : 1.5;
      ctx.beginPath();
      line.forEach((p, i) => (i ? ctx.lineTo(X(p.x), Y(p.y)) : ctx.moveTo(X(p.x), Y(p.y))));
      ctx.stroke();
      for (const p of s.points) {
        marker(ctx, codecOf(p.setting), X(p.x), Y(p.y), s.colour);
      }
    }

    if (cur && Number.isFinite(cur.bitsPerElement)) {
      const cx = X(cur.bitsPerElement);
      ctx.setLineDash([4, 3]);
      ctx.strokeStyle = css("--text");
      ctx.lineWidth = 1;
      ctx.beginPath();
      ctx.moveTo(cx, pad.t);
      ctx.lineTo(cx, pad.t + ph);
      ctx.stroke();
      ctx.setLineDash([]);
      const model = this.models[cur.modelIndex];
      const hit = (model?.eval?.results ?? []).find((r) => r.setting === cur.setting);
      if (hit && Number.isFinite(hit[this.metric])) {
        const cy = Y(hit[this.metric] * metric.scale);
        ctx.strokeStyle = css("--text");
        ctx.lineWidth = 2;
        ctx.beginPath();
        ctx.arc(cx, cy, 7, 0, Math.PI * 2);
        ctx.stroke();
      }
      ctx.fillStyle = css("--text");
      ctx.textAlign = cx > pad.l + pw - 40 ? "right" : "left";
      ctx.textBaseline = "top";
      ctx.fillText("this frame", cx + (ctx.textAlign === "left" ? 4 : -4), pad.t + 2);
    }
  }
}

function marker(ctx, setting, x, y, colour) {
  ctx.fillStyle = colour;
  ctx.strokeStyle = css("--surface");
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  if (setting === "png") {
    ctx.rect(x - 4, y - 4, 8, 8);
  } else if (setting === "ans") {
    ctx.moveTo(x, y - 5.5);
    ctx.lineTo(x + 5.5, y);
    ctx.lineTo(x, y + 5.5);
    ctx.lineTo(x - 5.5, y);
    ctx.closePath();
  } else {
    ctx.arc(x, y, 3.5, 0, Math.PI * 2);
  }
  ctx.fill();
  ctx.stroke();
}
