// The frame loop, a pipeline of three stages that run at once: the edge (take a
// frame from the input, encode it in the edge worker), the cloud (one stream's round
// trip) and the drawing of the answer. The edge encodes frame n+1 while the cloud
// works on frame n. Between stages there is one slot, and a newer frame replaces the
// one waiting there: when a stage falls behind, frames are dropped, never queued, so
// a frame waits behind at most one other at each stage and the latency stays bounded.
// At most one stream is at the cloud at a time.
//
// A still input runs one frame per `schedule` (a setting changed); a live input
// (drive, webcam) runs until it stops, the edge taking the newest frame of its clock.
// While the cloud is busy, the edge encodes one frame for when it is free, started
// so as to be ready a little before then (from the last frames' times): the frame is
// as new as it can be when it goes out, and no work goes into frames that would only
// be replaced. A still input's new settings replace a frame still waiting at once.
// With a bandwidth budget, a planner picks each frame's settings before it is taken,
// and the frame holds the cloud slot while the simulated link lets it out (budget.js).
// Figures: pipeline.js.

import { banner } from "./banners.js";
import { edge, lock } from "./backends.js";
import { noteBytes, reserveLink } from "./budget.js";
import { askCloud, showAnswer, showCloudFailure } from "./cloud-link.js";
import { drawInput, showEncoded, showPipeline } from "./views.js";
import { codecName, currentModel, state } from "./state.js";

let dirty = false;
let edgeRunning = false;
/** The encoded frame waiting for the cloud, the one at the cloud, and likewise for drawing. */
let waiting = null;
let inFlight = null;
let drawWaiting = null;
let drawing = null;
/** Ends the edge's pause early, saying why: "taken" (the cloud took the waiting frame) or "request". */
let wakeEdge = null;

const stats = state.pipeline;

/**
 * Called before each frame is taken, to set what it is encoded with; resolves to the
 * plan for budget.js (null: the settings as they are). Set by the page's start-up.
 */
let planner = null;

export function setPlanner(fn) {
  planner = fn;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** Asks for a new frame with the current settings (runs the edge if it is idle). */
export function schedule() {
  dirty = true;
  wakeEdge?.("request");
  if (!edgeRunning && state.source && state.modelReady) edgeStage();
}

function occupancy() {
  stats.occupancy({ inFlight: inFlight ? 1 : 0, waiting: waiting ? 1 : 0, drawing: drawing ? 1 : 0, drawWaiting: drawWaiting ? 1 : 0 });
}

/**
 * A live input: waits for a frame newer than the last one taken, then, while the cloud
 * is busy, until the next frame is due to start (see above): one frame is encoded per
 * cloud call, timed to be ready a little before the cloud is free (from the last
 * frames' times).
 */
async function pace(source) {
  if (stats.lastTick != null) await sleep(source.clock.dueAt(stats.lastTick + 1) - performance.now());
  for (;;) {
    if (!inFlight) return;
    const ahead = inFlight;
    // A frame already encoded for this call waits until the cloud takes it; before
    // the first frames' times are known, the edge does not wait.
    const ready = waiting?.record.waitedBehind === ahead.record.seq;
    // A quick cloud call against a slow edge frame: the frame is late (the cloud idles)
    // in about one call in ten rather than one in four, at the cost of a few ms of wait.
    const cloudMs = stats.estimate("slot", 0.1);
    const edgeMs = stats.estimate("edge", 0.9);
    const known = Number.isFinite(cloudMs) && Number.isFinite(edgeMs);
    const startAt = ready ? Infinity : known ? ahead.record.sentAt + cloudMs - edgeMs : -Infinity;
    const now = performance.now();
    if (startAt <= now) return;
    const woken = new Promise((resolve) => {
      wakeEdge = resolve;
    });
    const why = await (startAt === Infinity ? woken : Promise.race([woken, sleep(startAt - now).then(() => "time")]));
    wakeEdge = null;
    // The cloud took the waiting frame: time the next one against the new call.
    if (why !== "taken") return;
  }
}

async function edgeStage() {
  edgeRunning = true;
  try {
    for (;;) {
      const source = state.source;
      if (!source || !state.modelReady) break;
      if (stats.source !== source) stats.reset(source);
      if (source.live) {
        await pace(source);
        if (state.source !== source) continue;
        if (!source.live && !dirty) break;
      } else if (!dirty) {
        break;
      }
      dirty = false;
      let plan = null;
      try {
        plan = planner ? await planner() : null;
      } catch (err) {
        banner("budget", "error", `The bandwidth budget could not choose this frame's settings: ${err.message}`);
      }
      if (state.source !== source) continue;
      const record = stats.begin();
      const frame = source.next();
      stats.captured(record, frame);
      state.lastFrame = frame;
      // A live frame is drawn with its outputs; a still one at once.
      if (!source.live) drawInput(frame, source);
      let encoded;
      try {
        encoded = await lock.run(() => edge.encode(state.backend, currentModel().id, frame, codecName(), state.bits));
      } catch (err) {
        showEdgeError(err);
        break;
      }
      stats.encoded(record, encoded.byteCount);
      noteBytes(plan, encoded.byteCount);
      record.waitedBehind = inFlight ? inFlight.record.seq : null;
      if (waiting) stats.counts.replacedBeforeCloud += 1;
      waiting = { record, encoded, frame, source };
      occupancy();
      // Sent (if the cloud is free) before anything is drawn.
      pumpCloud();
      banner("edge", null);
      showEncoded(encoded, frame);
    }
  } finally {
    edgeRunning = false;
  }
  // A request that came while the loop was ending.
  if (dirty && state.source && state.modelReady) edgeStage();
}

/** Sends the waiting frame if the cloud is free; its answer frees it for the next. */
function pumpCloud() {
  if (inFlight || !waiting) return;
  const job = waiting;
  waiting = null;
  inFlight = job;
  // One clock reading for the link and the record, so that the record is the link's.
  const now = performance.now();
  const link = reserveLink(job.encoded.byteCount, now);
  stats.sent(job.record, link, now);
  occupancy();
  wakeEdge?.("taken");
  const leave = link.holdMs > 0 ? sleep(link.holdMs) : Promise.resolve();
  leave
    .then(() => askCloud(job.encoded))
    .then((answer) => {
      stats.answered(job.record, answer.ok);
      inFlight = null;
      // The next frame goes out before this one is drawn.
      pumpCloud();
      state.frames += 1;
      document.body.dataset.frames = String(state.frames);
      if (!answer.ok) {
        showCloudFailure(job.encoded, answer.error, job.frame, job.source, schedule);
        showPipeline(stats.summary());
        return;
      }
      if (drawWaiting) stats.counts.replacedBeforeDraw += 1;
      drawWaiting = { job, answer };
      occupancy();
      pumpDraw();
    })
    // askCloud does not reject: this is the page failing on the answer. Said, and the
    // cloud slot is not left taken.
    .catch((err) => {
      banner("draw", "error", `The page could not take the cloud's answer: ${err.message}`);
      if (inFlight === job) {
        inFlight = null;
        pumpCloud();
      }
    });
}

/** Draws the newest answer not yet drawn, one at a time. */
async function pumpDraw() {
  if (drawing || !drawWaiting) return;
  drawing = drawWaiting;
  drawWaiting = null;
  occupancy();
  const { job, answer } = drawing;
  job.record.drawStart = performance.now();
  try {
    await showAnswer(job.encoded, answer, job.frame, job.source);
    banner("draw", null);
  } catch (err) {
    banner("draw", "error", `The cloud's outputs could not be drawn: ${err.message}`);
  }
  stats.shown(job.record);
  drawing = null;
  showPipeline(stats.summary());
  pumpDraw();
}

function showEdgeError(err) {
  const why = err.code === "input" ? "This input cannot be encoded" : "The edge failed on this frame";
  banner("edge", "error", `${why}: ${err.message}`);
}

/** Whether anything is under way or asked for. */
function busy() {
  return edgeRunning || dirty || waiting || inFlight || drawWaiting || drawing;
}

/** Resolves when the frame loop has nothing left to do (at once for live inputs). */
export async function waitForIdle() {
  while (busy() && !state.source?.live) {
    await sleep(20);
    if (dirty && !edgeRunning) {
      if (!state.source || !state.modelReady) break;
      edgeStage();
    }
  }
}
