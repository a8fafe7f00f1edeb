// Drawing one frame's results: the input and its resize note, the edge's figures
// (bytes, bits per element, bit rate, compression ratio, the bitrate sparkline), the
// tiled feature image, the cloud's outputs (segmentation over the input, disparity,
// reconstruction), the class legend and the latency breakdown.

import { $, bytes, el, fixed, lambda as fmtLambda, ms, sizeCanvas } from "./format.js";
import { NOMINAL_FPS } from "./budget.js";
import { Sparkline, modelColour } from "./charts.js";
import { updateRatePoint } from "./model-info.js";
import { currentModel, state } from "./state.js";
import { figuresDue } from "./refresh.js";


const bitrateChart = new Sparkline($("#bitrate-chart"));

/** The frame on the input canvas, with a note when it was cropped or resized for the model. */
export function drawInput(frame, source) {
  const canvas = $("#input-canvas");
  sizeCanvas(canvas, frame.width, frame.height);
  canvas.getContext("2d").putImageData(new ImageData(new Uint8ClampedArray(frame.data), frame.width, frame.height), 0, 0);
  if (!figuresDue("input", source.live)) return;
  const model = currentModel();
  const [mw, mh] = [model.config.input_width, model.config.input_height];
  const [sw, sh] = [frame.sourceWidth, frame.sourceHeight];
  let note = "";
  if (frame.cropped) {
    note = `Camera ${sw}×${sh}, centre-cropped to ${model.config.input_width}:${model.config.input_height} and resized to ${mw}×${mh} for the model.`;
  } else if (sw !== mw || sh !== mh) {
    const aspect = Math.abs(sw / sh - mw / mh) > 0.01 ? " (aspect ratio changed)" : "";
    note = `Resized from ${sw}×${sh} to ${mw}×${mh} for the model${aspect}.`;
  }
  const noteNode = $("#input-note");
  noteNode.textContent = note;
  noteNode.dataset.resized = note ? "true" : "false";
  const label = source.kind === "drive" ? `${source.label} · frame ${frame.index + 1}/${source.frames}` : source.label;
  $("#input-label").textContent = label;
}

/** The edge's result `r` for a frame: figures, sparkline, feature tiles, chart mark. */
export function showEncoded(r, frame) {
  state.lastEncode = r;
  const model = currentModel();
  const figures = figuresDue("encoded", state.source?.live);
  bitrateChart.push(r.byteCount, `λ ${fmtLambda(model.lambda)}`, modelColour(state.modelIndex, state.models.length), figures);
  if (!figures) return;
  $("#kpi-bytes").textContent = bytes(r.byteCount);
  $("#kpi-bytes").dataset.value = String(r.byteCount);
  $("#kpi-bpe").textContent = fixed(r.bitsPerElement, 3);
  showBitrate(r.byteCount);
  const raw = r.modelInput.width * r.modelInput.height * 3;
  $("#kpi-ratio").textContent = `${fixed(raw / r.byteCount, 0)}×`;
  $("#kpi-ratio").title = `${raw.toLocaleString("en-US")} bytes of RGB at ${r.modelInput.width}×${r.modelInput.height}`;
  const s = r.featureShape;
  $("#feature-shape").textContent = `${s.channels} × ${s.height} × ${s.width} at ${r.bits} bits · range ${fixed(r.min, 2)}…${fixed(r.max, 2)}`;
  drawTiles(r.tiled, s);
  updateRatePoint();
}

/**
 * The bit rate: for a live input what was sent over the last seconds, at the frame
 * rate drawn; for a still, `byteCount` (this frame) at a nominal frame rate.
 */
function showBitrate(byteCount) {
  const p = state.pipeline;
  const sent = state.source?.live ? p.uploadRate() : null;
  if (sent == null && !Number.isFinite(byteCount)) return;
  const fps = sent != null ? p.summary().fps : null;
  $("#kpi-kbps").textContent = fixed(sent != null ? (sent * 8) / 1000 : (byteCount * 8 * NOMINAL_FPS) / 1000, 1);
  const budget = state.budgetKbps ? ` · budget ${state.budgetKbps}` : "";
  $("#kpi-kbps-label").textContent = (sent != null ? `kbit/s sent${fps ? ` at ${fixed(fps, 1)} fps` : ""}` : `kbit/s at ${NOMINAL_FPS} fps`) + budget;
}

const STAGE_NAMES = { source: "input", edge: "edge", link: "link (budget)", cloud: "cloud", draw: "drawing" };

/** The pipeline's figures (pipeline.js `summary`): frames/s, latency, bottleneck, drops. */
export function showPipeline(p) {
  if (!figuresDue("pipeline", p.live)) return;
  const node = $("#pipeline");
  if (!p.live && !p.fps) {
    node.hidden = true;
    return;
  }
  node.hidden = false;
  const l = p.latencyMs;
  const b = p.bottleneck;
  const c = p.counts;
  const stages = Object.entries(p.stagesMs).map(([k, v]) => `${STAGE_NAMES[k]} ${ms(v)}`).join(", ");
  $("#pipe-fps").textContent = p.fps ? fixed(p.fps, 1) : "–";
  $("#pipe-latency").textContent = l ? `${Math.round(l.p50)} / ${Math.round(l.p95)}` : "–";
  $("#pipe-bottleneck").textContent = b ? STAGE_NAMES[b.stage] : "–";
  $("#pipe-bottleneck-label").textContent = b ? `slowest stage · ${ms(b.ms)} a frame` : "slowest stage";
  $("#pipe-bottleneck").title = `time per frame of each stage (median): ${stages}`;
  $("#pipe-dropped").textContent = `${c.dropped}`;
  if (p.live) showBitrate(NaN);
  $("#pipe-dropped").title = `${c.skipped} input frames not taken, ${c.replacedBeforeCloud} encoded frames replaced by newer ones before the cloud was free, ${c.replacedBeforeDraw} answers replaced before they were drawn; ${c.shown} drawn`;
}

/** The tiled feature image, enlarged without smoothing, with the tile borders drawn. */
const tileSource = document.createElement("canvas");
function drawTiles(tiled, shape) {
  const { width, height, pixels } = tiled;
  sizeCanvas(tileSource, width, height);
  const rgba = new Uint8ClampedArray(width * height * 4);
  for (let i = 0; i < pixels.length; i++) {
    rgba[i * 4] = pixels[i];
    rgba[i * 4 + 1] = pixels[i];
    rgba[i * 4 + 2] = pixels[i];
    rgba[i * 4 + 3] = 255;
  }
  tileSource.getContext("2d").putImageData(new ImageData(rgba, width, height), 0, 0);
  const scale = Math.max(1, Math.floor(768 / width));
  const canvas = $("#features-canvas");
  sizeCanvas(canvas, width * scale, height * scale);
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(tileSource, 0, 0, canvas.width, canvas.height);
  ctx.strokeStyle = "rgba(56, 189, 248, 0.35)";
  ctx.lineWidth = 1;
  ctx.beginPath();
  for (let x = shape.width; x < width; x += shape.width) {
    ctx.moveTo(x * scale + 0.5, 0);
    ctx.lineTo(x * scale + 0.5, canvas.height);
  }
  for (let y = shape.height; y < height; y += shape.height) {
    ctx.moveTo(0, y * scale + 0.5);
    ctx.lineTo(canvas.width, y * scale + 0.5);
  }
  ctx.stroke();
}

function loadPng(b64) {
  const img = new Image();
  img.src = `data:image/png;base64,${b64}`;
  return img.decode().then(() => img);
}

/** An answer's outputs as drawables (ImageData from the planes format, else images of the JSON's PNGs). */
export async function answerImages(response, images) {
  if (images) return images;
  const out = response.outputs ?? {};
  const [seg, disp, recon] = await Promise.all([out.seg, out.disp, out.recon].map((o) => (o?.png ? loadPng(o.png) : null)));
  return { seg, disp, recon };
}

/** Draws an output (ImageData or an image) onto `canvas` at its own size. */
export function drawOutput(canvas, image) {
  const [w, h] = [image.width, image.height];
  sizeCanvas(canvas, w, h);
  const ctx = canvas.getContext("2d");
  if (image instanceof ImageData) ctx.putImageData(image, 0, 0);
  else ctx.drawImage(image, 0, 0, w, h);
  canvas.dataset.drawn = "true";
  return canvas;
}

/** The segmentation as drawn last, kept to draw it again over the input (the opacity slider). */
const segSource = document.createElement("canvas");

/**
 * The cloud's answer for `frame`: segmentation (with legend), disparity,
 * reconstruction. `images`: the outputs as ImageData (a planes answer, js/paint.js),
 * or null for a JSON answer, whose PNGs are drawn instead.
 */
export async function showOutputs(response, frame, images = null) {
  const out = response.outputs ?? {};
  const { seg, disp, recon } = await answerImages(response, images);
  const figures = figuresDue("outputs", state.source?.live);
  if (seg) {
    state.lastSeg = { image: drawOutput(segSource, seg), frame, width: response.width, height: response.height };
    drawSegmentation();
    if (figures) showLegend(out.seg.class_pixels);
  }
  if (disp) {
    drawOutput($("#disp-canvas"), disp);
    if (figures) $("#disp-range").textContent = `0 → ${fixed(out.disp.max_disparity, 1)} px disparity (far → near)`;
  }
  if (recon) drawOutput($("#recon-canvas"), recon);
  if (figures) $("#recon-caption").textContent = `from ${bytes(response.bytes_received)} bytes of features`;
  document.body.dataset.cloudFrames = String((Number(document.body.dataset.cloudFrames) || 0) + 1);
}

/** The last segmentation over the input, at the opacity slider's setting. */
export function drawSegmentation() {
  const s = state.lastSeg;
  if (!s) return;
  const canvas = $("#seg-canvas");
  sizeCanvas(canvas, s.width, s.height);
  const ctx = canvas.getContext("2d");
  const input = $("#input-canvas");
  ctx.globalAlpha = 1;
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(input, 0, 0, s.width, s.height);
  ctx.globalAlpha = Number($("#seg-opacity").value) / 100;
  ctx.drawImage(s.image, 0, 0, s.width, s.height);
  ctx.globalAlpha = 1;
}

/** The classes present, largest share first (every class when `classPixels` is null). */
export function showLegend(classPixels) {
  const total = (classPixels ?? []).reduce((a, b) => a + b, 0);
  const items = state.classes.map((c) => ({ ...c, pixels: classPixels?.[c.train_id] ?? 0 }));
  const present = total ? items.filter((c) => c.pixels > 0).sort((a, b) => b.pixels - a.pixels) : items;
  $("#legend").replaceChildren(
    ...present.map((c) => {
      const p = (100 * c.pixels) / total;
      const share = total ? ` ${p < 0.1 ? "<0.1" : fixed(p, p < 1 ? 1 : 0)}%` : "";
      const swatch = el("span", { class: "swatch", style: `background: rgb(${c.color.join(",")})` });
      return el("li", { title: `trainId ${c.train_id}` }, swatch, `${c.name}`, el("small", {}, share));
    }),
  );
}

/** Where a frame's time went, edge and cloud (`response` null: the cloud did not answer). */
export function showTimings(encoded, response, networkMs, roundTripMs) {
  // A failed answer is always shown.
  if (response && !figuresDue("timings", state.source?.live)) return;
  const t = encoded.timings;
  const c = response?.timings_ms;
  const heads = c ? Object.values(c.heads ?? {}).reduce((a, b) => a + b, 0) : null;
  const rows = [
    { key: "edge", label: `Edge · encoder + read-back (${encoded.backend === "webgpu" ? "WebGPU" : "CPU"})`, v: t.edgeMs },
    { key: "code", label: `Edge · quantize, tile, ${encoded.codec} code`, v: t.codeMs },
    { key: "net", label: state.cloud?.networkLabel ?? "Network · upload + response", v: networkMs },
    { key: "decode", label: "Cloud · parse + decode features", v: c ? c.decode + (c.queue ?? 0) : null },
    { key: "heads", label: "Cloud · task heads", v: heads },
    { key: "post", label: c?.encode_png ? "Cloud · post-process + PNG" : "Cloud · post-process", v: c ? (c.postprocess ?? 0) + (c.encode_png ?? 0) : null },
  ];
  const total = t.totalMs + (roundTripMs ?? 0);
  $("#latency-total").textContent = response ? `last frame ${ms(total)}, edge + cloud` : "cloud unavailable";
  const known = rows.filter((r) => Number.isFinite(r.v));
  const sum = known.reduce((a, r) => a + r.v, 0) || 1;
  $("#timing-bar").replaceChildren(...known.map((r) => el("span", { class: `seg-${r.key}`, style: `flex-grow: ${r.v / sum}`, title: `${r.label}: ${ms(r.v)}` })));
  $("#timings-body").replaceChildren(
    ...rows.map((r) =>
      el("tr", { "data-key": r.key }, el("td", {}, el("span", { class: `key seg-${r.key}` }), r.label), el("td", { class: "num" }, ms(r.v))),
    ),
  );
}
