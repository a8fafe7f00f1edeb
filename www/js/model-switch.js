// Model switching: the model's session on the edge device in use, from the edge
// worker's open sessions or else loaded from its weights (memory, Cache Storage or
// network; a stale cached copy is fetched again); the other device loads it only
// when it is used (backends.js: ensureSession). One switch at a time, with the newest
// choice of the lambda slider loaded next and a failed load leaving the current
// model in place. Each switch's time and steps are kept (`state.lastSwitch`).

import { $, lambda as fmtLambda } from "./format.js";
import { dropWeights, getWeights, keepWeights } from "./edge.js";
import { banner } from "./banners.js";
import { hasSession, lock, openSession } from "./backends.js";
import { schedule } from "./frame-loop.js";
import { showModel } from "./model-info.js";
import { state } from "./state.js";

/**
 * Makes model `index` current on the edge device in use; call under `lock`. Resolves
 * to where its weights came from ("session": already loaded, "memory", "cache",
 * "network").
 */
export async function loadModel(index) {
  const t0 = performance.now();
  const model = state.models[index];
  const backend = state.backend;
  // The worker cloud loads the model's heads meanwhile (a server has them already).
  state.cloud?.prepare(model.id);
  let source = "session";
  let info;
  if (hasSession(backend, model)) {
    info = await openSession(backend, model, null);
  } else {
    let bytes;
    ({ bytes, source } = await getWeights(model, model.weightsUrl));
    try {
      info = await openSession(backend, model, bytes);
    } catch (err) {
      if (source === "network" || !["verify", "weights"].includes(err.code)) throw err;
      // A stale or damaged cached copy: forget it and fetch once more.
      await dropWeights(model, model.weightsUrl);
      ({ bytes, source } = await getWeights(model, model.weightsUrl));
      info = await openSession(backend, model, bytes);
    }
    // Only new bytes go to the cache: writing the same 0.5 MB again on every switch
    // cost up to 0.1 s here.
    if (source === "network") await keepWeights(model, model.weightsUrl, bytes);
    else if (source === "cache") await keepWeights(model, model.weightsUrl, bytes, { memoryOnly: true });
  }
  state.modelReady = true;
  state.modelIndex = index;
  // Only a model with prior tables codes with `prior` (models.js, `priorUrl`).
  if (state.codec === "prior" && !model.prior) state.codec = "ans";
  state.lastSwitch = { modelId: model.id, backend, weights: source, reused: info.reused, openMs: info.openMs, ms: performance.now() - t0 };
  return source;
}

/**
 * Loads model `index`; resolves to true when it is the current model. `reschedule`:
 * run a frame with it (the bandwidth budget switches right before a frame instead).
 */
export async function selectModel(index, { reschedule = true } = {}) {
  const previous = state.modelIndex;
  const model = state.models[index];
  try {
    const source = await lock.run(() => loadModel(index));
    banner("model", null);
    $("#footer-info").textContent = `model ${model.name} (${model.id}) ${source === "session" ? "already loaded" : `weights from ${source}`}`;
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
    if (reschedule) schedule();
  }
}

/** The model the slider asks for while a switch is under way (null: none pending). */
let wantedModel = null;
let switching = false;
let wantTimer = null;

/** Asks for model `index`: loaded after `delayMs` (a slider being dragged), after any switch under way. */
export function wantModel(index, delayMs = 0) {
  wantedModel = index;
  clearTimeout(wantTimer);
  wantTimer = setTimeout(switchModel, delayMs);
}

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
