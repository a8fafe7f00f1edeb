// The page's shared state: the settings read from the URL, the models, the current
// choices (model, codec, bits, edge device) and what the last frame produced. Every
// module of the page reads and writes this one object; the browser tests see it only
// through the test hook, made in the hook module.
//
// URL parameters: cloud=URL (API base; default this origin, else the worker),
// cloud_device=cpu|webgpu|auto (the worker's device), cloud_workers=1..3 (how many
// workers share the heads), backend=auto|webgpu|cpu,
// model=ID or name, codec=png|jpeg|ans, quality=JPEG_QUALITY, bits=BIT_DEPTHS (limits
// module), sample=N, fps=DRIVE_FPS (the drive sequence's frame rate), budget=KBIT_S
// (a bandwidth budget: budget.js).

import { cloudBase, isStaticBuild } from "./cloud.js";
import { DRIVE_FPS, JPEG_QUALITY, clampInt, parseBudget } from "./limits.js";
import { PipelineStats } from "./pipeline.js";

export const params = new URLSearchParams(location.search);
/** The cloud server's API base from `?cloud=` ("" when not given). */
export const base = cloudBase(params);
/** `cargo xtask dist`'s static site without `?cloud=`: no server to ask, the worker answers. */
export const staticSite = !base && isStaticBuild();

const pick = (value, allowed, fallback) => (allowed.includes(value) ? value : fallback);

export const state = {
  models: [],
  classes: [],
  modelIndex: 0,
  /** Whether the current model's session is open on the edge device in use. */
  modelReady: false,
  /** The last model switch: {modelId, backend, weights ("session" | "memory" | "cache" | "network"), reused, openMs, ms}. */
  lastSwitch: null,
  codec: pick(params.get("codec"), ["png", "jpeg", "ans", "prior"], "ans"),
  quality: clampInt(params.get("quality"), JPEG_QUALITY.min, JPEG_QUALITY.max, 90),
  /** Bit depth: `?bits=` as given until start-up clamps it to the module's range
   * (limits.js), then the first model's own if none was given. */
  bits: params.get("bits"),
  /** The edge device asked for: "auto" | "webgpu" | "cpu". */
  pref: pick(params.get("backend"), ["auto", "webgpu", "cpu"], "auto"),
  /** The edge device in use: "cpu" | "webgpu". */
  backend: "cpu",
  /** Open edge sessions by device: session info from the edge worker. */
  sessions: {},
  /** What the WebGPU probe found: {available, software, name} or {available: false, reason}. */
  gpu: null,
  /** "auto"'s measured edge time per frame: {cpu, webgpu} in ms. */
  comparison: null,
  /** The cloud in use (js/cloud.js: HttpCloud or WorkerCloud), chosen at start. */
  cloud: null,
  /** The bandwidth budget in kbit/s (null: none); budget.js picks the settings under it. */
  budgetKbps: parseBudget(params.get("budget")),
  /** Frames per second the drive sequence plays at. */
  driveFps: clampInt(params.get("fps"), DRIVE_FPS.min, DRIVE_FPS.max, DRIVE_FPS.default),
  /** The input, a source of the sources module, and the last frame taken from it. */
  source: null,
  lastFrame: null,
  /** The edge's result for the last frame, and the cloud's answer to the last stream. */
  lastEncode: null,
  lastResponse: null,
  cloudError: null,
  samples: [],
  /** The frame pipeline's records and figures (pipeline.js), and the frames the cloud answered or failed. */
  pipeline: new PipelineStats(),
  frames: 0,
  /** A live input's running disparity scale, so colours do not flicker. */
  dispMax: null,
  lastSeg: null,
  /** The last A/B comparison, for the test hook: see js/ab.js. */
  lastAB: null,
  /** Milliseconds from start-up to the first result shown. */
  firstResultMs: null,
};

export function currentModel() {
  return state.models[state.modelIndex];
}

/** The codec as the edge names it ("png", "ans", "jpeg90"). */
export function codecName() {
  return state.codec === "jpeg" ? `jpeg${state.quality}` : state.codec;
}

/** The evaluation label of the current codec and bit depth ("png", "png@4", "jpeg90"). */
export function settingLabel() {
  const main = currentModel()?.eval?.bits ?? 8;
  return state.bits == null || state.bits === main ? codecName() : `${codecName()}@${state.bits}`;
}
