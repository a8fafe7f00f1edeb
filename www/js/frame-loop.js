// The frame loop: `schedule` marks the picture out of date and `pump` runs frames
// through the edge and the cloud until it is current (a live input keeps it running).
// The edge of frame n+1 overlaps the cloud call of frame n; at most one cloud call is
// in flight.

import { banner } from "./banners.js";
import { edge, lock } from "./backends.js";
import { sendToCloud } from "./cloud-link.js";
import { drawInput, showEncoded } from "./views.js";
import { codecName, currentModel, state } from "./state.js";

let dirty = false;
let pumping = false;

/** Asks for a new frame with the current settings (runs the loop if it is idle). */
export function schedule() {
  dirty = true;
  if (!pumping && state.source && state.modelReady) pump();
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
        encoded = await lock.run(() => edge.encode(state.backend, currentModel().id, frame, codecName(), state.bits));
      } catch (err) {
        showEdgeError(err);
        break;
      }
      banner("edge", null);
      showEncoded(encoded, frame);
      if (cloudJob) await cloudJob;
      cloudJob = sendToCloud(encoded, frame, schedule);
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

/** Resolves when the frame loop has nothing left to do (at once for live inputs). */
export async function waitForIdle() {
  while ((pumping || dirty) && !state.source?.live) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    if (dirty && !pumping) {
      if (!state.source || !state.modelReady) break;
      pump();
    }
  }
}
