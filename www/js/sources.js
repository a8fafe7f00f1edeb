// Inputs: bundled sample scenes, uploaded images, the webcam, and the bundled drive
// sequence. Each gives frames {data (RGBA), width, height, sourceWidth, sourceHeight,
// index, tick, capturedAt}, read from a canvas. A live input (drive, webcam) has a
// frame clock (`clock`): a new frame is due every 1/fps s, whether or not the page
// keeps up; the frame loop takes the newest and counts the ones it never took.

import { sizeCanvas } from "./format.js";

/** Largest side sent to the edge; larger inputs are scaled down first by the canvas. */
const MAX_SIDE = 1024;

const grabCanvas = document.createElement("canvas");
const grabContext = grabCanvas.getContext("2d", { willReadFrequently: true });

/**
 * Draws `source` (or its `crop` rectangle) at `width x height` and reads the pixels.
 * Image smoothing is off when no scaling happens, so pixels arrive unchanged.
 */
function grab(source, width, height, crop = null) {
  sizeCanvas(grabCanvas, width, height);
  const [sx, sy, sw, sh] = crop ?? [0, 0, width, height];
  grabContext.imageSmoothingEnabled = sw !== width || sh !== height;
  grabContext.imageSmoothingQuality = "high";
  grabContext.clearRect(0, 0, width, height);
  grabContext.drawImage(source, sx, sy, sw, sh, 0, 0, width, height);
  return grabContext.getImageData(0, 0, width, height).data;
}

function fitWithin(width, height, max = MAX_SIDE) {
  const scale = Math.min(1, max / Math.max(width, height));
  return [Math.max(1, Math.round(width * scale)), Math.max(1, Math.round(height * scale))];
}

/** Decodes an image Blob without colour management, so PNG pixels stay exact. */
export async function decodeImage(blob) {
  try {
    return await createImageBitmap(blob, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
  } catch (err) {
    throw new Error(`not an image this browser can decode (${err.message})`);
  }
}

export async function fetchImage(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return decodeImage(await response.blob());
}

/** Frame rate of a live input whose own rate is not known: a camera's usual. */
export const LIVE_FPS = 30;

/** A live input's frame clock: frame `k` is due `k / fps` seconds after the start. */
export class FrameClock {
  constructor(fps = LIVE_FPS) {
    this.fps = fps;
    this.start = performance.now();
  }

  /** The number of the newest frame due at `now`. */
  tick(now = performance.now()) {
    return Math.floor(((now - this.start) * this.fps) / 1000);
  }

  /** When frame `k` is due (performance.now() time). */
  dueAt(k) {
    return this.start + (k * 1000) / this.fps;
  }
}

/** A still image: the same frame every time. */
export class StillSource {
  constructor(bitmap, label) {
    this.kind = "image";
    this.live = false;
    this.label = label;
    const [w, h] = fitWithin(bitmap.width, bitmap.height);
    this.frame = {
      data: grab(bitmap, w, h, [0, 0, bitmap.width, bitmap.height]),
      width: w,
      height: h,
      sourceWidth: bitmap.width,
      sourceHeight: bitmap.height,
      index: 0,
    };
  }

  next() {
    return { ...this.frame, capturedAt: performance.now() };
  }

  stop() {}
}

/**
 * The drive sequence: frames stacked vertically in one sprite sheet, played in a loop
 * at `fps` frames a second from frame `first`; a frame the page was too busy to take
 * is skipped, as a camera's would be.
 */
export class DriveSource {
  constructor(sheet, meta, { fps = LIVE_FPS, first = 0 } = {}) {
    this.kind = "drive";
    this.playing = true;
    this.label = meta.label;
    this.sheet = sheet;
    this.width = meta.width;
    this.height = meta.height;
    this.frames = meta.frames;
    this.first = first;
    this.clock = new FrameClock(fps);
    /** The frame to resume from after a pause. */
    this.index = first;
  }

  next() {
    const tick = this.clock.tick();
    const k = this.playing ? (this.first + tick) % this.frames : this.index;
    if (this.playing) this.index = (k + 1) % this.frames;
    return {
      data: grab(this.sheet, this.width, this.height, [0, k * this.height, this.width, this.height]),
      width: this.width,
      height: this.height,
      sourceWidth: this.width,
      sourceHeight: this.height,
      index: k,
      tick,
      capturedAt: performance.now(),
    };
  }

  get live() {
    return this.playing;
  }

  stop() {
    this.playing = false;
  }
}

/** The webcam, centre-cropped to the model's aspect ratio. */
export class WebcamSource {
  static async open(aspect) {
    if (!navigator.mediaDevices?.getUserMedia) {
      throw new Error("this browser offers no camera access (getUserMedia needs https or localhost)");
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 360 } }, audio: false });
    } catch (err) {
      throw new Error(`camera unavailable: ${err.message || err.name}`);
    }
    const video = document.createElement("video");
    video.muted = true;
    video.playsInline = true;
    video.srcObject = stream;
    await video.play();
    if (!video.videoWidth) {
      await new Promise((resolve) => video.addEventListener("loadedmetadata", resolve, { once: true }));
    }
    return new WebcamSource(stream, video, aspect);
  }

  constructor(stream, video, aspect) {
    this.kind = "webcam";
    this.label = "Webcam";
    this.stream = stream;
    this.video = video;
    this.aspect = aspect;
    this.count = 0;
    // The camera's own rate where it says, else a camera's usual one.
    const rate = stream.getVideoTracks()[0]?.getSettings?.().frameRate;
    this.clock = new FrameClock(Number.isFinite(rate) && rate > 0 ? rate : LIVE_FPS);
  }

  get live() {
    return this.stream.active;
  }

  next() {
    const vw = this.video.videoWidth;
    const vh = this.video.videoHeight;
    let cw = vw;
    let ch = Math.round(vw / this.aspect);
    if (ch > vh) {
      ch = vh;
      cw = Math.round(vh * this.aspect);
    }
    const [w, h] = fitWithin(cw, ch, 512);
    return {
      data: grab(this.video, w, h, [(vw - cw) / 2, (vh - ch) / 2, cw, ch]),
      width: w,
      height: h,
      sourceWidth: vw,
      sourceHeight: vh,
      cropped: cw !== vw || ch !== vh,
      index: this.count++,
      tick: this.clock.tick(),
      capturedAt: performance.now(),
    };
  }

  stop() {
    for (const track of this.stream.getTracks()) track.stop();
  }
}
