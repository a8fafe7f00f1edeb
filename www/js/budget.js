// The bandwidth budget (`?budget=` kbit/s, or the budget select): with one set, the
// page picks before each frame the model, codec and bit depth of the best expected
// accuracy whose frames fit in the budget, and a simulated link holds each frame
// back until the budget has earned its bytes, so the upload never exceeds it.
//
// Which setting fits: a frame may have the budget's bytes of one frame period, the
// period the pipeline runs at without the budget (its slowest other stage, or the
// input's frame period; a still counts at NOMINAL_FPS). Each setting's expected bytes
// are its test-set mean in the manifest (`eval.results[].bytes_per_image`), scaled
// by how this input's frames have compared with that mean so far; its expected
// accuracy is the test-set figure on the metric the rate chart shows. With 10 %
// headroom, the most accurate setting that fits is chosen (the fewer bytes on a tie);
// when none fits, the cheapest, and the link then sets the frame rate.
//
// The link: a frame of b bytes takes 8b / budget seconds of link time, after the
// previous frame's, and leaves when its time ends. Over any stretch of frames the
// bytes sent are at most the budget times the link time they took.

import { BIT_DEPTHS } from "./limits.js";
import { METRICS } from "./charts.js";
import { state } from "./state.js";

/** Frame rate assumed for a still input, by the budget and the bit rate figure. */
export const NOMINAL_FPS = 25;
/** Share of the budget a frame is planned to use: the rest absorbs frames larger than expected. */
const HEADROOM = 0.9;
/** Weight of the newest frame in the running ratio of actual to expected bytes. */
const CALIBRATION_WEIGHT = 0.3;

/** The codec settings the page can send, from a model's evaluation: {codec, quality, bits}. */
function settingOf(result, model) {
  const bits = result.bits ?? model.eval?.bits ?? model.bits;
  if (!Number.isInteger(bits) || bits < BIT_DEPTHS.min || bits > BIT_DEPTHS.max) return null;
  if (result.codec === "png" || result.codec === "ans") return { codec: result.codec, quality: null, bits };
  // The prior codec needs the model's tables (eval lists it only for a model with a prior).
  if (result.codec === "prior") return model.prior ? { codec: "prior", quality: null, bits } : null;
  const jpeg = /^jpeg(\d+)$/.exec(result.codec ?? "");
  return jpeg ? { codec: "jpeg", quality: Number(jpeg[1]), bits } : null;
}

/**
 * Every setting the page can send, over all models: {modelIndex, setting (the
 * evaluation's label), codec, quality, bits, bytes (test-set mean), value (the
 * metric's test-set figure), score (the same, larger is better)}.
 */
export function candidates(models, metric) {
  const sign = METRICS[metric]?.better === "lower" ? -1 : 1;
  const out = [];
  models.forEach((model, modelIndex) => {
    for (const r of model.eval?.results ?? []) {
      const s = r.setting !== "float" ? settingOf(r, model) : null;
      if (!s || !Number.isFinite(r.bytes_per_image) || !Number.isFinite(r[metric])) continue;
      out.push({ modelIndex, setting: r.setting, ...s, bytes: r.bytes_per_image, value: r[metric], score: sign * r[metric] });
    }
  });
  return out;
}

/**
 * The most accurate candidate whose expected bytes (`bytes * calibration`) are at most
 * `allowedBytes` (fewer bytes on a tie); the cheapest when none is. Null without any.
 */
export function choose(list, allowedBytes, calibration = 1) {
  let best = null;
  let cheapest = null;
  for (const c of list) {
    const expected = c.bytes * calibration;
    if (!cheapest || expected < cheapest.bytes * calibration) cheapest = c;
    if (expected > allowedBytes) continue;
    if (!best || c.score > best.score || (c.score === best.score && c.bytes < best.bytes)) best = c;
  }
  return best ? { ...best, fits: true } : cheapest ? { ...cheapest, fits: false } : null;
}

/** The budget's state: the link's time, the running bytes ratio, the last choice. */
const link = { end: -Infinity };
let calibration = 1;
let lastChoice = null;

/** Sets the budget (kbit/s, null: none) and starts the link and the byte ratio afresh. */
export function setBudget(kbps) {
  state.budgetKbps = kbps;
  link.end = -Infinity;
  calibration = 1;
  lastChoice = null;
}

/**
 * The frame period (ms) the pipeline runs at without the budget: for a live input its
 * slowest stage but the link (recent medians), at least the input's frame period; for
 * a still, 1 / NOMINAL_FPS.
 */
export function framePeriodMs(summary) {
  if (!summary.live) return 1000 / NOMINAL_FPS;
  const { link: _, ...stages } = summary.stagesMs ?? {};
  return Math.max(summary.sourceFps ? 1000 / summary.sourceFps : 0, ...Object.values(stages).filter(Number.isFinite));
}

/**
 * The setting for the next frame under the budget, or null without one:
 * {modelIndex, codec, quality, bits, setting, bytes, value, expectedBytes,
 * allowedBytes, periodMs, fits, metric, calibration}. Models in `exclude` (indices)
 * are not chosen.
 */
export function plan(metric, exclude = new Set()) {
  if (!state.budgetKbps) return null;
  const periodMs = framePeriodMs(state.pipeline.summary());
  const allowedBytes = (HEADROOM * state.budgetKbps * 1000 * periodMs) / 1000 / 8;
  const list = candidates(state.models, metric).filter((c) => !exclude.has(c.modelIndex));
  const choice = choose(list, allowedBytes, calibration);
  if (!choice) return null;
  lastChoice = { ...choice, expectedBytes: choice.bytes * calibration, allowedBytes, periodMs, metric, calibration };
  return lastChoice;
}

/** The last choice (see `plan`), null before one or without a budget. */
export function currentChoice() {
  return state.budgetKbps ? lastChoice : null;
}

/** Updates the ratio of this input's bytes to the test-set means with a frame sent at `choice`. */
export function noteBytes(choice, byteCount) {
  if (!choice || !(choice.bytes > 0)) return;
  calibration += CALIBRATION_WEIGHT * (byteCount / choice.bytes - calibration);
}

/**
 * Reserves the link at time `now` for a frame of `bytes`: returns {leavesAt, holdMs,
 * linkMs}, when the frame leaves, how long it waits for that and how much link time
 * it takes (it leaves at once, taking none, without a budget).
 */
export function reserveLink(bytes, now = performance.now()) {
  if (!state.budgetKbps) return { leavesAt: now, holdMs: 0, linkMs: 0 };
  const linkMs = (bytes * 8) / state.budgetKbps;
  const leavesAt = Math.max(now, link.end + linkMs);
  link.end = leavesAt;
  return { leavesAt, holdMs: leavesAt - now, linkMs };
}
