// The splitfeat page: inputs -> edge (WebAssembly worker) -> bitstream -> cloud ->
// outputs, with live bitrate, timings and the rate-accuracy chart. The cloud is a
// splitfeat-cloud server (`?cloud=URL`, or this origin if it serves the API) or, for
// the page served as static files, a WebAssembly worker in this page (js/cloud.js).
//
// URL parameters: cloud=URL (API base; default this origin, else the worker),
// cloud_device=cpu|webgpu|auto (the worker's device), backend=auto|webgpu|cpu,
// model=ID or name, codec=png|jpeg|ans, quality=1..100, bits=2..16, sample=N.

import { Edge, getWeights, keepWeights, dropWeights } from "./js/edge.js";
import { cloudBase, chooseCloud, isStaticBuild } from "./js/cloud.js";
import { loadModels, sessionEntry, evalBySetting, equalAccuracy } from "./js/models.js";
import { StillSource, DriveSource, WebcamSource, fetchImage, decodeImage } from "./js/sources.js";
import { Sparkline, RateChart, METRICS, modelColour } from "./js/charts.js";
import { $, $$, el, bytes, ms, fixed, lambda as fmtLambda, median } from "./js/format.js";

const params = new URLSearchParams(location.search);
const base = cloudBase(params);
/** `cargo xtask dist`'s static site without `?cloud=`: no server to ask, the worker answers. */
const staticSite = !base && isStaticBuild();
/** Frame rate assumed for kbit/s when the input is a still image. */
const NOMINAL_FPS = 25;
/** Frames per device when "auto" times WebGPU against the CPU. */
const RACE_FRAMES = 3;

const state = {
  models: [],
  classes: [],
  modelIndex: 0,
  weights: null,
  codec: ["png", "jpeg", "ans"].includes(params.get("codec")) ? params.get("codec") : "ans",
  quality: clampInt(params.get("quality"), 1, 100, 90),
  bits: clampInt(params.get("bits"), 2, 16, null),
  pref: ["auto", "webgpu", "cpu"].includes(params.get("backend")) ? params.get("backend") : "auto",
  backend: "cpu",
  sessions: {},
  gpu: null,
  comparison: null,
  source: null,
  lastFrame: null,
  samples: [],
  frameTimes: [],
  frames: 0,
  dispMax: null,
  lastSeg: null,
  cloudError: null,
};

const edge = new Edge();
/** The cloud in use (js/cloud.js: HttpCloud or WorkerCloud), chosen at start. */
let cloud = null;
const bitrateChart = new Sparkline($("#bitrate-chart"));
const rateChart = new RateChart($("#rate-chart"));

// Exposed for the browser tests and for curious users.
window.splitfeat = { state, edge };

function clampInt(text, lo, hi, fallback) {
  const v = Number.parseInt(text ?? "", 10);
  return Number.isFinite(v) ? Math.min(hi, Math.max(lo, v)) : fallback;
}

/** Serialises everything that talks to the edge worker's sessions. */
class Mutex {
  constructor() {
    this.tail = Promise.resolve();
  }
  run(fn) {
    const result = this.tail.then(fn);
    this.tail = result.catch(() => {});
    return result;
  }
}
const lock = new Mutex();

// ---------------------------------------------------------------- banners

/** Keeps --topbar-h at the sticky top bar's height (0 where it scrolls away), for the banners. */
function trackTopbar() {
  const bar = $(".topbar");
  const update = () => {
    const sticky = getComputedStyle(bar).position === "sticky";
    document.documentElement.style.setProperty("--topbar-h", `${sticky ? bar.getBoundingClientRect().height : 0}px`);
  };
  new ResizeObserver(update).observe(bar);
  matchMedia("(max-width: 640px)").addEventListener("change", update);
  update();
}

function banner(id, level, text, action = null) {
  let node = $(`#banner-${id}`);
  if (!text) {
    node?.remove();
    return;
  }
  if (!node) {
    node = el("div", { id: `banner-${id}`, class: "banner", role: level === "error" ? "alert" : "status" });
    $("#banners").append(node);
  }
  node.dataset.level = level;
  node.replaceChildren(el("span", { class: "banner-text" }, text));
  if (action) node.append(el("button", { class: "button small", type: "button", onclick: action.run }, action.label));
  node.append(el("button", { class: "close", type: "button", title: "Dismiss", onclick: () => node.remove() }, "×"));
}

// ---------------------------------------------------------------- models

function currentModel() {
  return state.models[state.modelIndex];
}

function codecName() {
  return state.codec === "jpeg" ? `jpeg${state.quality}` : state.codec;
}

/** The evaluation label of the current codec and bit depth ("png", "png@4", "jpeg90"). */
function settingLabel() {
  const main = currentModel()?.eval?.bits ?? 8;
  return state.bits == null || state.bits === main ? codecName() : `${codecName()}@${state.bits}`;
}

async function openSession(backend, model, bytes) {
  const info = await edge.open(backend, sessionEntry(model), bytes);
  state.sessions[backend] = info;
  return info;
}

/** Loads model `index` into every open session (the CPU one at first). */
async function loadModel(index) {
  const model = state.models[index];
  const backends = Object.keys(state.sessions).length ? Object.keys(state.sessions) : ["cpu"];
  // The worker cloud loads the model's heads meanwhile (a server has them already).
  cloud?.prepare(model.id);
  let { bytes, source } = await getWeights(model, model.weightsUrl);
  const openAll = async () => {
    for (const backend of backends) await openSession(backend, model, bytes);
  };
  try {
    await openAll();
  } catch (err) {
    if (source === "network" || !["verify", "weights"].includes(err.code)) throw err;
    // A stale or damaged cached copy: forget it and fetch once more.
    await dropWeights(model, model.weightsUrl);
    ({ bytes, source } = await getWeights(model, model.weightsUrl));
    await openAll();
  }
  await keepWeights(model, model.weightsUrl, bytes);
  state.weights = bytes;
  state.modelIndex = index;
  return source;
}

/** Loads model `index`; resolves to true when it is the current model. */
async function selectModel(index) {
  const previous = state.modelIndex;
  const model = state.models[index];
  try {
    const source = await lock.run(() => loadModel(index));
    banner("model", null);
    $("#footer-info").textContent = `model ${model.name} (${model.id}) weights from ${source}`;
    return true;
  } catch (err) {
    banner("model", "error", `Model “${model.name}” (λ ${fmtLambda(model.lambda)}) failed to load: ${err.message}. Still using “${state.models[previous].name}”.`);
    state.modelIndex = previous;
    return false;
  } finally {
    // The slider stays enabled (and focused) while a model loads; a newer position
    // chosen meanwhile is loaded next (switchModel), so it is kept on the slider.
    $("#lambda").value = String(wantedModel ?? state.modelIndex);
    showModel();
    schedule();
  }
}

/** The model the slider asks for while a switch is under way (null: none pending). */
let wantedModel = null;
let switching = false;

/** Loads the wanted model, then any other chosen while it loaded; one switch at a time. */
async function switchModel() {
  if (switching) return;
  switching = true;
  const control = $("#lambda").closest(".control");
  control.setAttribute("aria-busy", "true");
  try {
    while (wantedModel != null && wantedModel !== state.modelIndex) {
      const index = wantedModel;
      const ok = await selectModel(index);
      if (!ok && wantedModel === index) break;
    }
  } finally {
    wantedModel = null;
    switching = false;
    control.removeAttribute("aria-busy");
    $("#lambda").value = String(state.modelIndex);
    showModel();
  }
}

function showModel() {
  const model = currentModel();
  if (!model) return;
  $("#lambda-value").textContent = `λ = ${fmtLambda(model.lambda)}`;
  $$("#lambda-ticks .tick").forEach((t, i) => t.classList.toggle("active", i === state.modelIndex));
  const ev = evalBySetting(model).get(settingLabel());
  const parts = [`${model.name}`, `id ${model.id}`, `${model.config.preset} preset`, `trained at ${model.bits} bits`];
  if (ev) {
    parts.push(`test-set mean over ${model.eval.images} scenes (${settingLabel()}): mIoU ${fixed(ev.miou * 100, 1)} %, ${fixed(ev.bits_per_element, 2)} bits/el, PSNR ${fixed(ev.psnr_db, 1)} dB, disparity RMSE ${fixed(ev.disparity_rmse, 2)} px`);
  } else if (model.eval) {
    parts.push(`no evaluation for ${settingLabel()}`);
  }
  if (state.models.length < 2) parts.push("only one model is installed: export more lambdas to compare rates");
  const buys = lambdaSummary();
  $("#model-info").textContent = parts.join(" · ") + (buys ? `. ${buys}` : "");
  if (model.served === false) {
    banner("served", "warn", `The server has not loaded model “${model.name}”; it will refuse these features.`);
  } else {
    banner("served", null);
  }
  updateRatePoint();
}

/**
 * One sentence on what lambda buys on the installed models, by the fair comparison's
 * rule (equalAccuracy: each model's cheapest setting within the baseline's float
 * accuracy against the baseline's cheapest such setting); "" without a baseline
 * (lambda 0) or evaluations.
 */
function lambdaSummary() {
  const baseline = state.models.find((m) => m.lambda === 0 && m.eval);
  const others = state.models.filter((m) => m !== baseline && m.eval);
  if (!baseline || !others.length) return "";
  const reached = [];
  const missed = [];
  for (const m of others) {
    const eq = equalAccuracy(m, baseline);
    if (eq.change != null) {
      const sign = eq.change > 0 ? "+" : eq.change < 0 ? "−" : "±";
      reached.push(`λ ${fmtLambda(m.lambda)} needs ${sign}${fixed(Math.abs(eq.change) * 100, 1)} % bytes (${eq.model.setting} against ${eq.baseline.setting})`);
    } else if (eq.baseline) {
      missed.push(fmtLambda(m.lambda));
    }
  }
  if (!reached.length && !missed.length) return "";
  const lead = "What λ buys here: at equal accuracy with the baseline's best setting, ";
  const missText = missed.length
    ? `${missed.length > 1 ? `λ ${missed.slice(0, -1).join(", ")} and ${missed.at(-1)} never reach` : `λ ${missed[0]} never reaches`} the baseline's accuracy at any setting`
    : "";
  return `${lead}${[reached.join(", "), missText].filter(Boolean).join("; ")}.`;
}

function buildSlider() {
  const slider = $("#lambda");
  slider.max = String(Math.max(0, state.models.length - 1));
  slider.value = String(state.modelIndex);
  slider.disabled = state.models.length < 2;
  $("#lambda-stops").replaceChildren(...state.models.map((_, i) => el("option", { value: String(i) })));
  $("#lambda-ticks").replaceChildren(
    ...state.models.map((m, i) => {
      // What lambda buys, fairly: bytes at equal accuracy against the baseline's best
      // setting (every codec and bit depth), not the 8-bit figures.
      const baseline = state.models.find((b) => b.lambda === 0);
      const eq = baseline && m !== baseline ? equalAccuracy(m, baseline) : null;
      const label =
        m === baseline ? "baseline" : eq?.change != null ? `${eq.change > 0 ? "+" : ""}${fixed(eq.change * 100, 1)} % bytes` : eq ? "less accurate" : "";
      const why =
        m === baseline
          ? "the baseline (lambda 0)"
          : eq?.change != null
            ? `bytes at equal accuracy against the baseline: ${eq.model.setting} ${Math.round(eq.model.bytes)} B vs ${eq.baseline.setting} ${Math.round(eq.baseline.bytes)} B`
            : "no setting within the baseline's accuracy (mIoU -0.005, RMSE +1 %, PSNR -0.1 dB)";
      const tick = el(
        "button",
        { class: "tick", type: "button", title: `${m.name} (${m.id}): ${why}`, onclick: () => setModelFromSlider(i) },
        el("span", { class: "tick-lambda" }, fmtLambda(m.lambda)),
      );
      tick.style.setProperty("--tick-colour", modelColour(i, state.models.length));
      if (label && m.eval) tick.append(el("span", { class: "tick-eval" }, label));
      return tick;
    }),
  );
  slider.oninput = () => setModelFromSlider(Number(slider.value), true);
}

let sliderTimer = null;
function setModelFromSlider(index, debounce = false) {
  $("#lambda").value = String(index);
  $("#lambda-value").textContent = `λ = ${fmtLambda(state.models[index].lambda)}`;
  wantedModel = index;
  clearTimeout(sliderTimer);
  sliderTimer = setTimeout(switchModel, debounce ? 120 : 0);
}

// ---------------------------------------------------------------- backends

async function probeGpu() {
  if (!navigator.gpu) return { available: false, reason: "this browser exposes no WebGPU" };
  try {
    const adapter = await navigator.gpu.requestAdapter();
    if (!adapter) return { available: false, reason: "no WebGPU adapter" };
    const info = adapter.info ?? {};
    const software = adapter.isFallbackAdapter || info.isFallbackAdapter || /swiftshader|llvmpipe|lavapipe/i.test(`${info.architecture} ${info.description} ${info.vendor}`);
    return { available: true, software, name: [info.vendor, info.architecture].filter(Boolean).join(" ") || "adapter" };
  } catch (err) {
    return { available: false, reason: err.message };
  }
}

function describeBackend(backend) {
  if (backend === "webgpu") {
    const name = state.gpu?.name ? ` · ${state.gpu.name}` : "";
    return `WebGPU${name}${state.gpu?.software ? " (software)" : ""}`;
  }
  return "CPU · wasm SIMD";
}

function showBackend() {
  const badge = $("#backend-badge");
  badge.dataset.backend = state.backend;
  $(".badge-text", badge).textContent = `Edge: ${describeBackend(state.backend)}`;
  const c = state.comparison;
  const lines = [`The encoder runs on ${describeBackend(state.backend)}.`];
  if (c) lines.push(`Measured per frame: CPU ${ms(c.cpu)}, WebGPU ${ms(c.webgpu)}${state.gpu?.software ? " (a software WebGPU adapter)" : ""}.`);
  if (state.gpu && !state.gpu.available) lines.push(`WebGPU: ${state.gpu.reason}.`);
  badge.title = lines.join(" ");
  $("#backend").value = state.pref;
  const webgpuOption = $('#backend option[value="webgpu"]');
  webgpuOption.disabled = state.gpu ? !state.gpu.available : false;
  webgpuOption.textContent = state.gpu?.available ? `WebGPU${state.gpu.software ? " (software)" : ""}` : "WebGPU (unavailable)";
  $("#backend-note")?.remove();
  if (c && state.pref === "auto") {
    const gpuName = state.gpu?.software ? "WebGPU (software adapter)" : "WebGPU";
    const note = `Measured: CPU ${ms(c.cpu)}, ${gpuName} ${ms(c.webgpu)} per frame; using ${state.backend === "webgpu" ? "WebGPU" : "the CPU"}.`;
    $("#backend").after(el("p", { id: "backend-note", class: "note" }, note));
  }
}

async function ensureSession(backend) {
  if (state.sessions[backend]) return state.sessions[backend];
  return openSession(backend, currentModel(), state.weights);
}

/** Applies the device preference; "auto" times both devices and keeps the faster. */
async function applyBackend() {
  const pref = state.pref;
  if (pref === "cpu" || (pref === "auto" && !state.gpu?.available)) {
    await ensureSession("cpu");
    state.backend = "cpu";
    return;
  }
  try {
    await ensureSession("webgpu");
  } catch (err) {
    state.backend = "cpu";
    await ensureSession("cpu");
    banner("webgpu", "warn", `WebGPU could not run the encoder (${err.message}); using the CPU.`);
    return;
  }
  if (pref === "webgpu") {
    state.backend = "webgpu";
    return;
  }
  await ensureSession("cpu");
  const frame = state.lastFrame ?? grayFrame();
  const times = { cpu: [], webgpu: [] };
  for (let i = 0; i < RACE_FRAMES; i++) {
    for (const backend of ["webgpu", "cpu"]) {
      const r = await edge.encode(backend, frame, codecName(), state.bits);
      times[backend].push(r.timings.edgeMs);
    }
  }
  state.comparison = { cpu: median(times.cpu), webgpu: median(times.webgpu) };
  state.backend = state.comparison.webgpu < state.comparison.cpu ? "webgpu" : "cpu";
}

function grayFrame() {
  const { width, height } = currentModel().config ? { width: currentModel().config.input_width, height: currentModel().config.input_height } : { width: 256, height: 128 };
  return { data: new Uint8ClampedArray(width * height * 4).fill(128), width, height };
}

async function setBackendPreference(pref) {
  state.pref = pref;
  $("#backend").disabled = true;
  try {
    await lock.run(applyBackend);
  } catch (err) {
    banner("backend", "error", `Switching the edge device failed: ${err.message}`);
  } finally {
    $("#backend").disabled = false;
    showBackend();
    schedule();
  }
}

// ---------------------------------------------------------------- the frame loop

let dirty = false;
let pumping = false;

function schedule() {
  dirty = true;
  if (!pumping && state.source && state.weights) pump();
}

async function pump() {
  pumping = true;
  let cloudJob = null;
  try {
    while (state.source && (dirty || state.source.live)) {
      dirty = false;
      const source = state.source;
      const frame = source.next();
      state.lastFrame = frame;
      drawInput(frame, source);
      let encoded;
      try {
        encoded = await lock.run(() => edge.encode(state.backend, frame, codecName(), state.bits));
      } catch (err) {
        showEdgeError(err);
        break;
      }
      banner("edge", null);
      showEncoded(encoded, frame);
      if (cloudJob) await cloudJob;
      cloudJob = sendToCloud(encoded, frame);
      if (!source.live) {
        await cloudJob;
        cloudJob = null;
      } else {
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
    }
    if (cloudJob) await cloudJob;
  } finally {
    pumping = false;
  }
  if (dirty && state.source) pump();
}

function showEdgeError(err) {
  const why = err.code === "input" ? "This input cannot be encoded" : "The edge failed on this frame";
  banner("edge", "error", `${why}: ${err.message}`);
}

function drawInput(frame, source) {
  const canvas = $("#input-canvas");
  if (canvas.width !== frame.width || canvas.height !== frame.height) {
    canvas.width = frame.width;
    canvas.height = frame.height;
  }
  canvas.getContext("2d").putImageData(new ImageData(new Uint8ClampedArray(frame.data), frame.width, frame.height), 0, 0);
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

function frameRate() {
  const now = performance.now();
  const recent = state.frameTimes.filter((t) => now - t < 4000);
  state.frameTimes = recent.slice(-20);
  if (!state.source?.live || state.frameTimes.length < 3) return null;
  const span = state.frameTimes[state.frameTimes.length - 1] - state.frameTimes[0];
  return span > 0 ? ((state.frameTimes.length - 1) * 1000) / span : null;
}

function showEncoded(r, frame) {
  state.lastEncode = r;
  const model = currentModel();
  const fps = frameRate();
  const rate = fps ?? NOMINAL_FPS;
  $("#kpi-bytes").textContent = bytes(r.byteCount);
  $("#kpi-bytes").dataset.value = String(r.byteCount);
  $("#kpi-bpe").textContent = fixed(r.bitsPerElement, 3);
  $("#kpi-kbps").textContent = fixed((r.byteCount * 8 * rate) / 1000, 1);
  $("#kpi-kbps-label").textContent = fps ? `kbit/s at ${fixed(fps, 1)} fps` : `kbit/s at ${NOMINAL_FPS} fps`;
  const raw = r.modelInput.width * r.modelInput.height * 3;
  $("#kpi-ratio").textContent = `${fixed(raw / r.byteCount, 0)}×`;
  $("#kpi-ratio").title = `${raw.toLocaleString("en-US")} bytes of RGB at ${r.modelInput.width}×${r.modelInput.height}`;
  bitrateChart.push(r.byteCount, `λ ${fmtLambda(model.lambda)}`, modelColour(state.modelIndex, state.models.length));
  const s = r.featureShape;
  $("#feature-shape").textContent = `${s.channels} × ${s.height} × ${s.width} at ${r.bits} bits · range ${fixed(r.min, 2)}…${fixed(r.max, 2)}`;
  drawTiles(r.tiled, s);
  updateRatePoint();
}

/** The tiled feature image, enlarged without smoothing, with the tile borders drawn. */
const tileSource = document.createElement("canvas");
function drawTiles(tiled, shape) {
  const { width, height, pixels } = tiled;
  tileSource.width = width;
  tileSource.height = height;
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
  canvas.width = width * scale;
  canvas.height = height * scale;
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

// ---------------------------------------------------------------- cloud

function setCloud(ok, text) {
  const badge = $("#cloud-badge");
  badge.dataset.status = ok ? "ok" : "down";
  $(".badge-text", badge).textContent = text;
}

async function sendToCloud(encoded, frame) {
  const stableMax = state.source?.live ? state.dispMax : null;
  try {
    const { response, roundTripMs, networkMs } = await cloud.infer(encoded.modelId, encoded.bitstream, { maxDisparity: stableMax });
    state.cloudError = null;
    state.lastResponse = response;
    banner("cloud", null);
    delete $("#outputs-card").dataset.stale;
    setCloud(true, `Cloud: ${cloud.label}`);
    await showOutputs(response, frame);
    showTimings(encoded, response, networkMs, roundTripMs);
    const max = response.outputs?.disp?.max_disparity;
    if (Number.isFinite(max)) state.dispMax = state.source?.live ? Math.max(max, (state.dispMax ?? 0) * 0.98) : null;
  } catch (err) {
    state.cloudError = err;
    setCloud(false, ["unreachable", "worker"].includes(err.kind) ? "Cloud: down" : `Cloud: error ${err.status || ""}`.trim());
    $("#outputs-card").dataset.stale = "true";
    const text = err.kind === "unreachable"
      ? `The cloud is down or unreachable (${err.message}). The edge keeps encoding; the outputs shown are from the last frame the cloud answered.`
      : err.kind === "worker"
        ? `The cloud worker could not answer: ${err.message}.`
        : `The cloud refused the features: ${err.message}`;
    banner("cloud", "error", text, state.source?.live ? null : { label: "Retry", run: () => schedule() });
    showTimings(encoded, null, null, null);
  } finally {
    state.frames += 1;
    state.frameTimes.push(performance.now());
    document.body.dataset.frames = String(state.frames);
  }
}

function loadPng(b64) {
  const img = new Image();
  img.src = `data:image/png;base64,${b64}`;
  return img.decode().then(() => img);
}

async function showOutputs(response, frame) {
  const out = response.outputs ?? {};
  const [seg, disp, recon] = await Promise.all([out.seg, out.disp, out.recon].map((o) => (o ? loadPng(o.png) : null)));
  if (seg) {
    state.lastSeg = { image: seg, frame, width: response.width, height: response.height };
    drawSegmentation();
    showLegend(out.seg.class_pixels);
  }
  if (disp) {
    $("#disp-img").src = disp.src;
    $("#disp-range").textContent = `0 → ${fixed(out.disp.max_disparity, 1)} px disparity (far → near)`;
  }
  if (recon) $("#recon-img").src = recon.src;
  $("#recon-caption").textContent = `from ${bytes(response.bytes_received)} bytes of features`;
  document.body.dataset.cloudFrames = String((Number(document.body.dataset.cloudFrames) || 0) + 1);
}

function drawSegmentation() {
  const s = state.lastSeg;
  if (!s) return;
  const canvas = $("#seg-canvas");
  canvas.width = s.width;
  canvas.height = s.height;
  const ctx = canvas.getContext("2d");
  const input = $("#input-canvas");
  ctx.globalAlpha = 1;
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(input, 0, 0, s.width, s.height);
  ctx.globalAlpha = Number($("#seg-opacity").value) / 100;
  ctx.drawImage(s.image, 0, 0, s.width, s.height);
  ctx.globalAlpha = 1;
}

function showLegend(classPixels) {
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

function showTimings(encoded, response, networkMs, roundTripMs) {
  const t = encoded.timings;
  const c = response?.timings_ms;
  const heads = c ? Object.values(c.heads ?? {}).reduce((a, b) => a + b, 0) : null;
  const rows = [
    { key: "edge", label: `Edge · encoder + read-back (${encoded.backend === "webgpu" ? "WebGPU" : "CPU"})`, v: t.edgeMs },
    { key: "code", label: `Edge · quantize, tile, ${encoded.codec} code`, v: t.codeMs },
    { key: "net", label: cloud?.networkLabel ?? "Network · upload + response", v: networkMs },
    { key: "decode", label: "Cloud · parse + decode features", v: c ? c.decode + (c.queue ?? 0) : null },
    { key: "heads", label: "Cloud · task heads", v: heads },
    { key: "post", label: "Cloud · post-process + PNG", v: c ? (c.postprocess ?? 0) + (c.encode_png ?? 0) : null },
  ];
  const total = t.totalMs + (roundTripMs ?? 0);
  $("#latency-total").textContent = response ? `${ms(total)} per frame, end to end` : "cloud unavailable";
  const known = rows.filter((r) => Number.isFinite(r.v));
  const sum = known.reduce((a, r) => a + r.v, 0) || 1;
  $("#timing-bar").replaceChildren(...known.map((r) => el("span", { class: `seg-${r.key}`, style: `flex-grow: ${r.v / sum}`, title: `${r.label}: ${ms(r.v)}` })));
  $("#timings-body").replaceChildren(
    ...rows.map((r) =>
      el("tr", { "data-key": r.key }, el("td", {}, el("span", { class: `key seg-${r.key}` }), r.label), el("td", { class: "num" }, ms(r.v))),
    ),
  );
}

// ---------------------------------------------------------------- rate chart

function buildMetricSelect() {
  const select = $("#metric");
  select.replaceChildren(...Object.entries(METRICS).map(([k, m]) => el("option", { value: k }, m.label)));
  select.onchange = () => rateChart.setMetric(select.value);
  $("#rate-legend").replaceChildren(
    ...state.models.map((m, i) => el("span", { class: "rate-key", style: `--key: ${modelColour(i, state.models.length)}` }, `λ ${fmtLambda(m.lambda)}`)),
    el("span", { class: "rate-key shape" }, "● JPEG  ■ PNG  ◆ ANS (every bit depth; lines: each model's best settings)  ◯ test-set mean at this setting  ┆ this frame"),
  );
}

function updateRatePoint() {
  rateChart.setCurrent({
    modelIndex: state.modelIndex,
    setting: settingLabel(),
    bitsPerElement: state.lastEncode?.bitsPerElement ?? NaN,
  });
}

// ---------------------------------------------------------------- inputs

async function loadSamples() {
  const response = await fetch("samples/index.json");
  if (!response.ok) throw new Error(`samples/index.json: HTTP ${response.status}`);
  return (await response.json()).samples;
}

function stopSource() {
  state.source?.stop();
  $("#webcam-toggle").textContent = "Start camera";
  $("#drive-toggle").textContent = "Play";
}

function useSource(source) {
  stopSource();
  state.source = source;
  state.frameTimes = [];
  state.dispMax = null;
  schedule();
}

async function useSample(sample, button) {
  $$("#sample-list .thumb").forEach((b) => b.setAttribute("aria-pressed", String(b === button)));
  try {
    const bitmap = await fetchImage(`samples/${sample.file}`);
    useSource(new StillSource(bitmap, sample.label));
  } catch (err) {
    banner("input", "error", `Sample “${sample.label}” could not be loaded: ${err.message}`);
  }
}

function buildSamples() {
  const list = $("#sample-list");
  const images = state.samples.filter((s) => s.kind === "image");
  list.replaceChildren(
    ...images.map((s, i) => {
      const b = el("button", { class: "thumb", type: "button", title: s.label, "data-index": String(i) }, el("img", { src: `samples/${s.file}`, alt: s.label, loading: "lazy" }), el("span", {}, s.label));
      b.onclick = () => useSample(s, b);
      return b;
    }),
  );
  const drive = state.samples.find((s) => s.kind === "drive");
  if (drive) $("#drive-info").textContent = `${drive.label}: ${drive.frames} frames at ${drive.width}×${drive.height}, encoded live, frame by frame.`;
}

async function useFile(file) {
  if (!file) return;
  try {
    const bitmap = await decodeImage(file);
    useSource(new StillSource(bitmap, file.name));
    banner("input", null);
  } catch (err) {
    banner("input", "error", `“${file.name}” cannot be used: ${err.message}`);
  }
}

async function toggleWebcam() {
  if (state.source?.kind === "webcam" && state.source.live) {
    stopSource();
    return;
  }
  const model = currentModel();
  try {
    const cam = await WebcamSource.open(model.config.input_width / model.config.input_height);
    useSource(cam);
    $("#webcam-toggle").textContent = "Stop camera";
    banner("input", null);
  } catch (err) {
    banner("input", "error", err.message);
  }
}

let driveSheet = null;
async function toggleDrive() {
  if (state.source?.kind === "drive" && state.source.live) {
    stopSource();
    return;
  }
  const meta = state.samples.find((s) => s.kind === "drive");
  if (!meta) {
    banner("input", "error", "No drive sequence is bundled with this page.");
    return;
  }
  try {
    driveSheet ??= await fetchImage(`samples/${meta.file}`);
    const resume = state.source?.kind === "drive" ? state.source.index : 0;
    const drive = new DriveSource(driveSheet, meta);
    drive.index = resume;
    useSource(drive);
    $("#drive-toggle").textContent = "Pause";
  } catch (err) {
    banner("input", "error", `The drive sequence could not be loaded: ${err.message}`);
  }
}

function wireTabs() {
  const tabs = $$('[role="tab"]');
  const choose = (tab, focus = false) => {
    for (const t of tabs) {
      t.setAttribute("aria-selected", String(t === tab));
      t.tabIndex = t === tab ? 0 : -1;
    }
    for (const p of $$(".tab-panel")) p.hidden = p.dataset.panel !== tab.dataset.tab;
    if (focus) tab.focus();
  };
  for (const tab of tabs) {
    tab.onclick = () => choose(tab);
    tab.tabIndex = tab.getAttribute("aria-selected") === "true" ? 0 : -1;
  }
  // Roving focus (WAI-ARIA tabs): the arrow keys, Home and End choose a tab.
  $('[role="tablist"]').onkeydown = (e) => {
    const i = tabs.indexOf(document.activeElement);
    if (i < 0) return;
    const next = { ArrowRight: i + 1, ArrowDown: i + 1, ArrowLeft: i - 1, ArrowUp: i - 1, Home: 0, End: tabs.length - 1 }[e.key];
    if (next == null) return;
    e.preventDefault();
    choose(tabs[(next + tabs.length) % tabs.length], true);
  };
}

// ---------------------------------------------------------------- controls

function buildBits() {
  const select = $("#bits");
  select.replaceChildren(...Array.from({ length: 15 }, (_, i) => i + 2).map((b) => el("option", { value: String(b) }, `${b} bits`)));
  select.onchange = () => {
    state.bits = Number(select.value);
    showModel();
    schedule();
  };
}

function showCodec() {
  for (const input of $$("#codec input")) input.checked = input.value === state.codec;
  $("#quality-control").hidden = state.codec !== "jpeg";
  $("#jpeg-quality").value = String(state.quality);
  $("#jpeg-quality-value").textContent = String(state.quality);
  const jpeg = state.codec === "jpeg";
  if (jpeg) state.bits = 8;
  for (const o of $$("#bits option")) o.disabled = jpeg && o.value !== "8";
  $("#bits").value = String(state.bits);
  $("#bits").title = jpeg ? "JPEG carries 8-bit planes only" : "";
  showModel();
}

function wireControls() {
  // Native radio inputs of one name: Tab enters the group at the checked one, the
  // arrow keys move the choice (and fire change).
  for (const input of $$("#codec input")) {
    input.onchange = () => {
      if (!input.checked) return;
      state.codec = input.value;
      showCodec();
      schedule();
    };
  }
  $("#jpeg-quality").oninput = () => {
    state.quality = Number($("#jpeg-quality").value);
    $("#jpeg-quality-value").textContent = String(state.quality);
    showModel();
    schedule();
  };
  $("#backend").onchange = () => setBackendPreference($("#backend").value);
  $("#backend-badge").onclick = () => $("#backend").focus();
  $("#seg-opacity").oninput = drawSegmentation;
  $("#file-input").onchange = (e) => useFile(e.target.files[0]);
  const drop = $("#drop-zone");
  drop.ondragover = (e) => {
    e.preventDefault();
    drop.classList.add("over");
  };
  drop.ondragleave = () => drop.classList.remove("over");
  drop.ondrop = (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    useFile(e.dataTransfer.files[0]);
  };
  $("#webcam-toggle").onclick = toggleWebcam;
  $("#drive-toggle").onclick = toggleDrive;
}

// ---------------------------------------------------------------- start

async function main() {
  trackTopbar();
  wireTabs();
  wireControls();
  buildBits();
  const t0 = performance.now();
  const [wasm, models, samples, gpu] = await Promise.allSettled([edge.init(), loadModels(base, undefined, { catalog: !staticSite }), loadSamples(), probeGpu()]);
  state.gpu = gpu.status === "fulfilled" ? gpu.value : { available: false, reason: String(gpu.reason) };

  if (wasm.status === "rejected") {
    fail(`The WebAssembly edge did not load (${wasm.reason.message}). Build it with \`cargo xtask demo\` (or the build_wasm step) so that pkg/ exists next to this page.`);
    return;
  }
  if (models.status === "rejected") {
    fail(`No model list: ${models.reason.message}.`);
    return;
  }
  const m = models.value;
  state.models = m.models;
  state.classes = m.classes ?? wasm.value.classes;
  cloud = chooseCloud({ base, catalogError: m.catalogError, models: m.models.map(sessionEntry), device: cloudDevice(state.gpu), staticSite });
  window.splitfeat.cloud = cloud;
  document.body.dataset.cloud = cloud.kind;
  $("#cloud-title small").textContent = cloud.kind === "worker" ? "in this browser · worker · task heads" : `server ${cloud.host} · task heads`;
  if (cloud.kind !== "worker" && m.catalogError) {
    setCloud(false, "Cloud: down");
    banner("cloud", "error", `The cloud is down or unreachable (${m.catalogError.message}). Models come from the manifest; the edge still runs.`);
  } else {
    setCloud(true, `Cloud: ${cloud.label}`);
  }
  if (!state.models.length) {
    fail("The model manifest lists no model. Train and export one (`splitfeat export`).");
    return;
  }
  if (samples.status === "fulfilled") state.samples = samples.value;
  else banner("input", "warn", `Bundled samples unavailable (${samples.reason.message}); upload an image or use the webcam.`);

  const wanted = params.get("model");
  const found = wanted ? state.models.findIndex((x) => x.id === wanted || x.name === wanted) : -1;
  const first = found >= 0 ? found : 0;
  state.bits ??= state.models[first].bits;
  buildSlider();
  buildMetricSelect();
  rateChart.setModels(state.models);
  $("#rate-card").hidden = !rateChart.hasData();
  buildSamples();
  showCodec();
  showLegend(null);

  try {
    await lock.run(() => loadModel(first));
    if (state.pref === "webgpu") await lock.run(applyBackend);
  } catch (err) {
    fail(`Model “${state.models[first].name}” failed to load: ${err.message}`);
    return;
  }
  showModel();
  showBackend();
  $("#footer-info").textContent = `splitfeat-web ${wasm.value.version}`;

  const sampleIndex = clampInt(params.get("sample"), 0, 99, 0);
  const images = state.samples.filter((s) => s.kind === "image");
  if (images.length) {
    await useSample(images[Math.min(sampleIndex, images.length - 1)], $$("#sample-list .thumb")[Math.min(sampleIndex, images.length - 1)]);
  }
  await waitForIdle();
  state.firstResultMs = performance.now() - t0;

  if (state.pref === "auto" && state.gpu.available) {
    document.body.dataset.state = "comparing";
    try {
      await lock.run(applyBackend);
    } catch (err) {
      state.backend = "cpu";
      banner("webgpu", "warn", `WebGPU was not usable (${err.message}); the CPU runs the encoder.`);
    }
    showBackend();
    schedule();
    await waitForIdle();
  }
  document.body.dataset.state = "ready";
}

/**
 * The device of the worker cloud's heads: `?cloud_device=`, else WebGPU where the
 * adapter is a hardware one ("auto": falls back to the CPU if it fails), else the CPU.
 */
function cloudDevice(gpu) {
  const wanted = params.get("cloud_device");
  if (["cpu", "webgpu", "auto"].includes(wanted)) return wanted;
  return gpu?.available && !gpu.software ? "auto" : "cpu";
}

/** Resolves when the frame loop has nothing left to do (at once for live inputs). */
async function waitForIdle() {
  while ((pumping || dirty) && !state.source?.live) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    if (dirty && !pumping) {
      if (!state.source || !state.weights) break;
      pump();
    }
  }
}

function fail(text) {
  banner("fatal", "error", text);
  document.body.dataset.state = "failed";
  $(".badge-text", $("#backend-badge")).textContent = "Edge: not running";
  $("#backend-badge").dataset.backend = "none";
}

window.splitfeat.waitForIdle = waitForIdle;
window.splitfeat.selectModel = selectModel;
window.splitfeat.setBackend = setBackendPreference;
main().catch((err) => fail(`The page failed to start: ${err.message}`));
