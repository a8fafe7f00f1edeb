// Module worker that runs the WebAssembly edge (crate/web) off the page's thread.
//
// Requests (the protocol of rpc.js), and their results:
//   init                           -> {version, classes, bitDepths: {min, max}}
//   open   {backend, entry, weights} -> session info (creates, or swaps weights of, the
//                                     session of that backend: "cpu" | "webgpu")
//   encode {backend, pixels, width, height, codec, bits} -> EncodeResult
//   close  {backend}
// Requests run one at a time, in order: a session is never used by two at once.

import init, { EdgeSession, bitDepthRange, classes, version } from "../pkg/splitfeat_web.js";
import { serve } from "./rpc.js";

const sessions = new Map();
let loaded = null;

function info(session) {
  return {
    backend: session.backend(),
    modelId: session.modelId(),
    warmupMs: session.warmupMs(),
    modelInput: session.modelInput(),
    featureShape: session.featureShape(),
    fallbackReason: session.fallbackReason() ?? null,
  };
}

function sessionFor(backend) {
  const session = sessions.get(backend);
  if (!session) {
    throw Object.assign(new Error(`no ${backend} session is open`), { code: "device" });
  }
  return session;
}

const handlers = {
  async init() {
    loaded ??= init({ module_or_path: new URL("../pkg/splitfeat_web_bg.wasm", import.meta.url) });
    await loaded;
    return { version: version(), classes: classes(), bitDepths: bitDepthRange() };
  },

  async open({ backend, entry, weights }) {
    const bytes = new Uint8Array(weights);
    const existing = sessions.get(backend);
    if (existing) {
      await existing.loadWeights(entry, bytes);
      return info(existing);
    }
    const session = await EdgeSession.create(entry, bytes, backend);
    sessions.set(backend, session);
    return info(session);
  },

  async encode({ backend, pixels, width, height, codec, bits }) {
    const session = sessionFor(backend);
    return session.encode(new Uint8Array(pixels), width, height, codec, bits);
  },

  async close({ backend }) {
    sessions.get(backend)?.free();
    sessions.delete(backend);
    return null;
  },
};

serve(handlers, {
  // The stream and the tiled image move to the page instead of being copied.
  transfer: (result) => (result?.bitstream ? [result.bitstream.buffer, result.tiled.pixels.buffer] : []),
});
