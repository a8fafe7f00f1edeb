// The page's test hook, `window.splitfeat`: what the browser tests (tests/*.test.js)
// and the measurement scripts may read and do, documented in tests/README.md. Getters
// return copies (structured clones), so nothing outside can change the page's state
// through them; the actions are the page's own (switching model or edge device,
// waiting for the frame loop).

import { edge, ensureSession, lock } from "./backends.js";
import { compareAB } from "./ab.js";
import { infer as inferAt } from "./cloud.js";
import { currentChoice } from "./budget.js";
import { setBackendPreference, useBudget } from "./controls.js";
import { waitForIdle } from "./frame-loop.js";
import { selectModel } from "./model-switch.js";
import { currentModel, state } from "./state.js";

const copy = (value) => (value == null ? null : structuredClone(value));

export function installHook() {
  window.splitfeat = Object.freeze({
    /** The current model: {index, id, name, lambda}; null before the model list is in. */
    model() {
      const m = currentModel();
      return m ? { index: state.modelIndex, id: m.id, name: m.name, lambda: m.lambda } : null;
    },
    /** The codec chosen: "png" | "jpeg" | "ans". */
    codec: () => state.codec,
    /** JPEG quality. */
    quality: () => state.quality,
    /** Bit depth of the features (null before the first model is known). */
    bits: () => state.bits,
    /** The edge device asked for: "auto" | "webgpu" | "cpu". */
    preference: () => state.pref,
    /** The edge device in use: "cpu" | "webgpu". */
    backend: () => state.backend,
    /** The WebGPU probe's finding: {available, software, name} | {available: false, reason}. */
    gpu: () => copy(state.gpu),
    /** "auto"'s measured edge time per frame, {cpu, webgpu} in ms; null before a race. */
    comparison: () => copy(state.comparison),
    /**
     * The edge sessions by device ("cpu", "webgpu"): the last one opened or used,
     * {backend, modelId, warmupMs, ..., models (every model with a session there)}.
     */
    sessions: () => copy(state.sessions),
    /** The last model switch: {modelId, backend, weights, reused, openMs, ms}; null before one. */
    lastSwitch: () => copy(state.lastSwitch),
    /** The frame pipeline's figures (js/pipeline.js `summary`). */
    pipeline: () => copy(state.pipeline.summary()),
    /** The pipeline's last completed frames, with the time of each step (js/pipeline.js `frames`). */
    pipelineFrames: () => copy(state.pipeline.frames()),
    /** The last frames sent: {seq, bytes, leftAt, linkMs} (js/pipeline.js `uploadsSent`). */
    uploads: () => copy(state.pipeline.uploadsSent()),
    /** The bandwidth budget and its last choice (js/budget.js `plan`): {kbps, choice}. */
    budget: () => copy({ kbps: state.budgetKbps, choice: currentChoice() }),
    /** Sets the bandwidth budget in kbit/s (null: none), as the budget select does. */
    setBudget: (kbps) => useBudget(kbps),
    /** Runs the A/B view on the frame on screen, as its button does; resolves to `lastAB()`. */
    compareAB: () => compareAB(),
    /** The last A/B comparison: {frameIndex, codec, bits, sides: [{modelIndex, modelId, lambda, byteCount, bitsPerElement, outputs}]}. */
    lastAB: () => copy(state.lastAB),
    /** The input: {kind: "image" | "webcam" | "drive", label, live}; null before one. */
    source: () => (state.source ? { kind: state.source.kind, label: state.source.label, live: state.source.live } : null),
    /** Frames that went through edge and cloud (answered or not). */
    frames: () => state.frames,
    /** The last frame given to the edge: {data (RGBA), width, height, ...}. */
    lastFrame: () => copy(state.lastFrame),
    /** The edge's result for the last frame (EncodeResult: bitstream, codec, bits, byteCount, ...). */
    lastEncode: () => copy(state.lastEncode),
    /** The cloud's last answer: POST /v1/infer's metadata (its JSON body without the PNGs). */
    lastResponse: () => copy(state.lastResponse),
    /** Milliseconds from start-up to the first result shown; null before it. */
    firstResultMs: () => state.firstResultMs,
    /** The cloud in use: {kind: "url" | "same-origin" | "worker", label, backend}; null before start-up chose it. */
    cloud: () => (state.cloud ? { kind: state.cloud.kind, label: state.cloud.label, backend: state.cloud.backend ?? null } : null),
    /** Resolves when the frame loop is idle (at once for a live input). */
    idle: () => waitForIdle(),
    /** Switches to model `index` (lambda order); resolves to whether it is now current. */
    selectModel: (index) => selectModel(index),
    /** Sets the edge device preference, as the device select does; resolves when applied. */
    setBackend: (pref) => setBackendPreference(pref),
    /** Encodes the last frame again on `backend`, outside the frame loop; the EncodeResult. */
    encode: (backend, codec, bits) =>
      lock.run(async () => {
        await ensureSession(backend);
        return edge.encode(backend, currentModel().id, state.lastFrame, codec, bits);
      }),
    /**
     * Sends a bitstream to the cloud in use: {response, images ({seg, disp, recon}
     * ImageData), roundTripMs, networkMs}, or a CloudError. A server cloud takes
     * `options.format` "json" too (then `response` holds the PNGs, `images` is null).
     */
    infer: (modelId, bitstream, options) => state.cloud.infer(modelId, bitstream, options),
    /** Sends a bitstream to the splitfeat-cloud at `base`, as a server cloud does (same answer as `infer`). */
    inferAt: (base, modelId, bitstream, options) => inferAt(base, modelId, bitstream, options),
  });
}
