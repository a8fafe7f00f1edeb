// The page's side of the cloud: choosing it at start (js/cloud.js: a server or the
// worker), sending each frame's bitstream, the cloud badge, and what to show when
// the cloud is down or refuses a stream.

import { $ } from "./format.js";
import { chooseCloud } from "./cloud.js";
import { loadPainter } from "./paint.js";
import { sessionEntry } from "./models.js";
import { banner } from "./banners.js";
import { drawInput, showOutputs, showTimings } from "./views.js";
import { base, params, staticSite, state } from "./state.js";

/** The cloud badge; written only when it changes (every answer sets it, and a write costs a layout). */
function setCloud(ok, text) {
  const badge = $("#cloud-badge");
  const status = ok ? "ok" : "down";
  if (badge.dataset.status !== status) badge.dataset.status = status;
  const label = $(".badge-text", badge);
  if (label.textContent !== text) label.textContent = text;
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

/** `?cloud_workers=1..3`: how many workers share the heads (default: cloud.js's choice). */
function cloudWorkers() {
  const n = Number(params.get("cloud_workers"));
  return Number.isInteger(n) && n >= 1 && n <= 3 ? n : undefined;
}

/**
 * Chooses the cloud (into `state.cloud`) for the models of the model list `list`
 * (models.js: loadModels) and shows it: title, badge, and a banner when the server
 * that should answer is down.
 */
export function connectCloud(list) {
  const cloud = chooseCloud({ base, catalogError: list.catalogError, models: list.models.map(sessionEntry), device: cloudDevice(state.gpu), workers: cloudWorkers(), staticSite });
  state.cloud = cloud;
  // The module that draws the answers, loaded now rather than on the first answer.
  loadPainter().catch(() => {});
  document.body.dataset.cloud = cloud.kind;
  $("#cloud-title small").textContent = cloud.kind === "worker" ? "in this browser · worker · task heads" : `server ${cloud.host} · task heads`;
  if (cloud.kind !== "worker" && list.catalogError) {
    setCloud(false, "Cloud: down");
    banner("cloud", "error", `The cloud is down or unreachable (${list.catalogError.message}). Models come from the manifest; the edge still runs.`);
  } else {
    setCloud(true, `Cloud: ${cloud.label}`);
  }
}

/**
 * Sends one frame's bitstream (`encoded`, the edge's result) to the cloud; resolves
 * to {ok: true, response, roundTripMs, networkMs} or {ok: false, error} (a CloudError),
 * never rejects.
 */
export async function askCloud(encoded) {
  // The server takes only a positive scale: a frame whose disparity is all zero
  // (an untrained head, a blank frame) leaves the choice to the next frame's own.
  const stableMax = state.source?.live && state.dispMax > 0 ? state.dispMax : null;
  try {
    const answer = await state.cloud.infer(encoded.modelId, encoded.bitstream, { maxDisparity: stableMax });
    return { ok: true, ...answer };
  } catch (error) {
    return { ok: false, error };
  }
}

/** Draws the cloud's answer for a frame: input (a live one), outputs, timings, badge. */
export async function showAnswer(encoded, answer, frame, source) {
  const { response, images, roundTripMs, networkMs } = answer;
  state.cloudError = null;
  state.lastResponse = response;
  banner("cloud", null);
  delete $("#outputs-card").dataset.stale;
  setCloud(true, `Cloud: ${state.cloud.label}`);
  if (source.live) drawInput(frame, source);
  await showOutputs(response, frame, images);
  showTimings(encoded, response, networkMs, roundTripMs);
  const max = response.outputs?.disp?.max_disparity;
  if (Number.isFinite(max)) state.dispMax = state.source?.live ? Math.max(max, (state.dispMax ?? 0) * 0.98) : null;
}

/**
 * Shows that the cloud did not answer a frame (`error`, a CloudError); `retry` runs
 * the frame again (the Retry button of a still input). A live frame's input is still
 * drawn, with the last outputs marked stale.
 */
export function showCloudFailure(encoded, err, frame, source, retry) {
  state.cloudError = err;
  setCloud(false, ["unreachable", "worker"].includes(err.kind) ? "Cloud: down" : `Cloud: error ${err.status || ""}`.trim());
  $("#outputs-card").dataset.stale = "true";
  if (source.live) drawInput(frame, source);
  const text = err.kind === "unreachable"
    ? `The cloud is down or unreachable (${err.message}). The edge keeps encoding; the outputs shown are from the last frame the cloud answered.`
    : err.kind === "worker"
      ? `The cloud worker could not answer: ${err.message}.`
      : `The cloud refused the features: ${err.message}`;
  banner("cloud", "error", text, source.live ? null : { label: "Retry", run: () => retry() });
  showTimings(encoded, null, null, null);
}
