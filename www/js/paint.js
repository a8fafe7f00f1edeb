// Turning a cloud answer in the planes format (docs/api.md) into images: the bytes
// are decoded and coloured by the page's own copy of the wasm module (crate/web's
// `paintPlanes`: core's planes decoder and its one colouring of classes and
// disparity, the same code that colours the server's PNGs), so the page draws
// exactly the pixels a JSON answer's PNGs hold, without PNG or base64 on either side.

import init, { paintPlanes } from "../pkg/splitfeat_web.js";

let loaded = null;

/** Loads the module on the page's thread (once; at start-up, ahead of the first answer). */
export function loadPainter() {
  loaded ??= init({ module_or_path: new URL("../pkg/splitfeat_web_bg.wasm", import.meta.url) });
  return loaded;
}

/**
 * A planes response (`bytes`, a Uint8Array) as {response, images}: `response` the
 * metadata (POST /v1/infer's JSON without the PNGs), `images` {seg, disp, recon} as
 * ImageData at the model's size, for the tasks answered. Throws an Error with code
 * "planes" for bytes that are not a planes response.
 */
export async function paint(bytes) {
  await loadPainter();
  const painted = paintPlanes(bytes);
  const { response } = painted;
  const images = {};
  for (const task of ["seg", "disp", "recon"]) {
    if (painted[task]) images[task] = new ImageData(painted[task], response.width, response.height);
  }
  return { response, images };
}
