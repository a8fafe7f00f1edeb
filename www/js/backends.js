// The edge's devices: the WebGPU probe, the edge worker's sessions (one per device),
// the "auto" race that times both devices and keeps the faster, and the device badge.
// Everything that talks to the sessions goes through `lock`, one call at a time.

import { Edge, getWeights } from "./edge.js";
import { $, el, median, ms } from "./format.js";
import { sessionEntry } from "./models.js";
import { banner } from "./banners.js";
import { codecName, currentModel, state } from "./state.js";

/** Frames per device when "auto" times WebGPU against the CPU. */
const RACE_FRAMES = 3;

/** The handle on the edge worker. */
export const edge = new Edge();

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
export const lock = new Mutex();

/** Whether WebGPU is there: {available, software, name} or {available: false, reason}. */
export async function probeGpu() {
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

/** The device badge, the device select and, under "auto", the race's figures. */
export function showBackend() {
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

/**
 * Opens the session of `model` on `backend` (or finds it open in the edge worker);
 * `bytes`: its verified weights, or null when the session is known to be open.
 */
export async function openSession(backend, model, bytes) {
  const info = await edge.open(backend, sessionEntry(model), bytes, model.priorUrl);
  state.sessions[backend] = info;
  return info;
}

/** Whether the edge worker has a session of `model` on `backend`. */
export function hasSession(backend, model) {
  return Boolean(state.sessions[backend]?.models.includes(model.id));
}

/**
 * The session of `model` (the current one by default) on `backend`, opened when first
 * needed: a model switch loads the device in use only, and the other device catches
 * up here.
 */
export async function ensureSession(backend, model = currentModel()) {
  if (hasSession(backend, model)) return openSession(backend, model, null);
  const { bytes } = await getWeights(model, model.weightsUrl);
  return openSession(backend, model, bytes);
}

/** Applies the device preference; "auto" times both devices and keeps the faster. */
export async function applyBackend() {
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
      const r = await edge.encode(backend, currentModel().id, frame, codecName(), state.bits);
      times[backend].push(r.timings.edgeMs);
    }
  }
  state.comparison = { cpu: median(times.cpu), webgpu: median(times.webgpu) };
  state.backend = state.comparison.webgpu < state.comparison.cpu ? "webgpu" : "cpu";
}

/** A mid-grey frame of the model's input size, for a race before any input. */
function grayFrame() {
  const { width, height } = currentModel().config ? { width: currentModel().config.input_width, height: currentModel().config.input_height } : { width: 256, height: 128 };
  return { data: new Uint8ClampedArray(width * height * 4).fill(128), width, height };
}
