// The inputs: the bundled sample scenes, an uploaded or dropped image, the webcam and
// the bundled drive sequence. Each becomes the frame loop's source, from the sources module.

import { $, $$, el } from "./format.js";
import { DriveSource, StillSource, WebcamSource, decodeImage, fetchImage } from "./sources.js";
import { banner } from "./banners.js";
import { schedule } from "./frame-loop.js";
import { currentModel, state } from "./state.js";

/** The bundled samples (samples/index.json). */
export async function loadSamples() {
  const response = await fetch("samples/index.json");
  if (!response.ok) throw new Error(`samples/index.json: HTTP ${response.status}`);
  return (await response.json()).samples;
}

/** Stops the input (a live one pauses: the drive, the camera). */
export function stopSource() {
  state.source?.stop();
  $("#webcam-toggle").textContent = "Start camera";
  $("#drive-toggle").textContent = "Play";
}

function useSource(source) {
  stopSource();
  state.source = source;
  state.dispMax = null;
  schedule();
}

/** Makes sample image `sample` (its thumbnail `button`) the input. */
export async function useSample(sample, button) {
  $$("#sample-list .thumb").forEach((b) => b.setAttribute("aria-pressed", String(b === button)));
  try {
    const bitmap = await fetchImage(`samples/${sample.file}`);
    useSource(new StillSource(bitmap, sample.label));
  } catch (err) {
    banner("input", "error", `Sample “${sample.label}” could not be loaded: ${err.message}`);
  }
}

/** The sample thumbnails and the drive sequence's description. */
export function buildSamples() {
  const list = $("#sample-list");
  const images = state.samples.filter((s) => s.kind === "image");
  list.replaceChildren(
    ...images.map((s, i) => {
      const b = el("button", { class: "thumb", type: "button", title: s.label, "data-index": String(i) }, el("img", { src: `samples/${s.file}`, alt: s.label, loading: "lazy" }), el("span", {}, s.label));
      b.onclick = () => useSample(s, b);
      return b;
    }),
  );
  const drive = state.samples.find((s) => s.kind === "drive");
  if (drive) $("#drive-info").textContent = `${drive.label}: ${drive.frames} frames at ${drive.width}×${drive.height}, encoded live, frame by frame.`;
}

/** Makes an uploaded or dropped image file the input. */
export async function useFile(file) {
  if (!file) return;
  try {
    const bitmap = await decodeImage(file);
    useSource(new StillSource(bitmap, file.name));
    banner("input", null);
  } catch (err) {
    banner("input", "error", `“${file.name}” cannot be used: ${err.message}`);
  }
}

/** Starts the webcam as the input, or stops it. */
export async function toggleWebcam() {
  if (state.source?.kind === "webcam" && state.source.live) {
    stopSource();
    return;
  }
  const model = currentModel();
  try {
    const cam = await WebcamSource.open(model.config.input_width / model.config.input_height);
    useSource(cam);
    $("#webcam-toggle").textContent = "Stop camera";
    banner("input", null);
  } catch (err) {
    banner("input", "error", err.message);
  }
}

let driveSheet = null;
/** Plays the drive sequence (from the frame it was paused at), or pauses it. */
export async function toggleDrive() {
  if (state.source?.kind === "drive" && state.source.live) {
    stopSource();
    return;
  }
  const meta = state.samples.find((s) => s.kind === "drive");
  if (!meta) {
    banner("input", "error", "No drive sequence is bundled with this page.");
    return;
  }
  try {
    driveSheet ??= await fetchImage(`samples/${meta.file}`);
    const resume = state.source?.kind === "drive" ? state.source.index : 0;
    useSource(new DriveSource(driveSheet, meta, { fps: state.driveFps, first: resume }));
    $("#drive-toggle").textContent = "Pause";
  } catch (err) {
    banner("input", "error", `The drive sequence could not be loaded: ${err.message}`);
  }
}
