// Module worker that runs the WebAssembly edge (crate/web) off the page's thread.
//
// It keeps one session per device and model, so that switching back to a model
// already loaded costs nothing; the least recently used are freed beyond
// MAX_SESSIONS per device.
//
// Requests (the protocol of rpc.js), and their results:
//   init                                  -> {version, classes, bitDepths: {min, max}}
//   open   {backend, model, entry, weights, priorUrl} -> session info (the session of
//          `model` on `backend`: "cpu" | "webgpu"; created from `entry`, the manifest
//          entry as JSON text, `weights` and the prior tables at `priorUrl` (when the
//          model ships them) unless it is open already, then `reused` is true)
//   encode {backend, model, pixels, width, height, codec, bits} -> EncodeResult
//   close  {backend}                       (every session of that device)
// Requests run one at a time, in order: a session is never used by two at once.

import init, { EdgeSession, bitDepthRange, classes, version } from "../pkg/splitfeat_web.js";
import { fetchBytes } from "./fetch-bytes.js";
import { serve } from "./rpc.js";

/**
 * Sessions kept per device. A `tiny` model's session holds about 0.5 MB of weights;
 * eight covers every model of the shipped zoo, so every one of them stays loaded.
 */
const MAX_SESSIONS = 8;

/** backend -> Map(model id -> EdgeSession), least recently used first. */
const devices = new Map();
let loaded = null;

function sessionsOf(backend) {
  let sessions = devices.get(backend);
  if (!sessions) {
    sessions = new Map();
    devices.set(backend, sessions);
  }
  return sessions;
}

function info(session, sessions, extra = {}) {
  return {
    backend: session.backend(),
    modelId: session.modelId(),
    warmupMs: session.warmupMs(),
    modelInput: session.modelInput(),
    featureShape: session.featureShape(),
    fallbackReason: session.fallbackReason() ?? null,
    /** Every model with a session on this device, least recently used first. */
    models: [...sessions.keys()],
    ...extra,
  };
}

/** The session of `model` on `backend`, now the most recently used. */
function use(sessions, model) {
  const session = sessions.get(model);
  sessions.delete(model);
  sessions.set(model, session);
  return session;
}

const handlers = {
  async init() {
    loaded ??= init({ module_or_path: new URL("../pkg/splitfeat_web_bg.wasm", import.meta.url) });
    await loaded;
    return { version: version(), classes: classes(), bitDepths: bitDepthRange() };
  },

  async open({ backend, model, entry, weights, priorUrl }) {
    const sessions = sessionsOf(backend);
    if (sessions.has(model)) return info(use(sessions, model), sessions, { reused: true, openMs: 0 });
    if (!weights) throw Object.assign(new Error(`model ${model} is not loaded on ${backend} and no weights came with the request`), { code: "weights" });
    const t0 = performance.now();
    // The entry goes in as JSON text: serde_json parses it in well under a
    // millisecond, while reading the same object field by field from JavaScript
    // (serde_wasm_bindgen) took about 0.5 s for a manifest entry with its evaluation.
    const prior = priorUrl ? await fetchBytes(priorUrl) : undefined;
    const session = await EdgeSession.create(entry, new Uint8Array(weights), backend, prior);
    if (session.modelId() !== model) {
      session.free();
      throw Object.assign(new Error(`the weights are of model ${session.modelId()}, not ${model}`), { code: "verify" });
    }
    sessions.set(model, session);
    for (const [id, old] of sessions) {
      if (sessions.size <= MAX_SESSIONS) break;
      old.free();
      sessions.delete(id);
    }
    return info(session, sessions, { reused: false, openMs: performance.now() - t0 });
  },

  async encode({ backend, model, pixels, width, height, codec, bits }) {
    const sessions = sessionsOf(backend);
    if (!sessions.has(model)) {
      throw Object.assign(new Error(`model ${model} is not loaded on ${backend}`), { code: "device" });
    }
    return use(sessions, model).encode(new Uint8Array(pixels), width, height, codec, bits);
  },

  async close({ backend }) {
    for (const session of sessionsOf(backend).values()) session.free();
    devices.delete(backend);
    return null;
  },
};

serve(handlers, {
  // The stream and the tiled image move to the page instead of being copied.
  transfer: (result) => (result?.bitstream ? [result.bitstream.buffer, result.tiled.pixels.buffer] : []),
});
