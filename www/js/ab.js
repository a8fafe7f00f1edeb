// The A/B view: one frame through the baseline (the lambda 0 model) and through the
// current model, with the same codec and bit depth, side by side: bytes, bits per
// element and the three outputs of each. A live input is paused first, so that both
// streams are of the frame on screen and the frame loop's one stream at the cloud
// stays the only one.

import { $, bytes, el, fixed, lambda as fmtLambda } from "./format.js";
import { edge, ensureSession, lock } from "./backends.js";
import { banner } from "./banners.js";
import { waitForIdle } from "./frame-loop.js";
import { stopSource } from "./inputs.js";
import { codecName, state } from "./state.js";
import { answerImages, drawOutput } from "./views.js";

/** The baseline: the first model in lambda order with lambda 0 (null: none). */
export function baselineIndex() {
  const i = state.models.findIndex((m) => m.lambda === 0);
  return i >= 0 ? i : null;
}

/** Encodes `frame` with model `index` on the device in use, loading it there if needed. */
function encodeWith(index, frame, codec, bits) {
  const model = state.models[index];
  return lock.run(async () => {
    await ensureSession(state.backend, model);
    return edge.encode(state.backend, model.id, frame, codec, bits);
  });
}

/**
 * Runs the comparison on the frame on screen; resolves to {frame, sides: [baseline,
 * current]} with each side {modelIndex, encoded, response}, and shows it. Errors are
 * shown in the card's banner and rethrown.
 */
export async function compareAB() {
  const button = $("#ab-run");
  const base = baselineIndex();
  if (base == null) throw new Error("no model with lambda 0 is installed");
  button.disabled = true;
  $("#ab-card").setAttribute("aria-busy", "true");
  try {
    if (state.source?.live) stopSource();
    await waitForIdle();
    const frame = state.lastFrame;
    if (!frame) throw new Error("no frame yet");
    const codec = codecName();
    const bits = state.bits;
    const sides = [];
    for (const index of [base, state.modelIndex]) {
      const encoded = await encodeWith(index, frame, codec, bits);
      const { response, images } = await state.cloud.infer(encoded.modelId, encoded.bitstream);
      sides.push({ modelIndex: index, encoded, response, images: await answerImages(response, images) });
    }
    state.lastAB = {
      frameIndex: frame.index ?? null,
      codec,
      bits,
      sides: sides.map((s) => ({
        modelIndex: s.modelIndex,
        modelId: s.encoded.modelId,
        lambda: state.models[s.modelIndex].lambda,
        byteCount: s.encoded.byteCount,
        bitsPerElement: s.encoded.bitsPerElement,
        outputs: Object.keys(s.response.outputs ?? {}),
      })),
    };
    showAB(sides, codec, bits);
    banner("ab", null);
    return state.lastAB;
  } catch (err) {
    banner("ab", "error", `The A/B comparison failed: ${err.message}`);
    throw err;
  } finally {
    button.disabled = false;
    $("#ab-card").removeAttribute("aria-busy");
  }
}

function image(output, alt) {
  if (!output) return el("span", { class: "note" }, "–");
  return drawOutput(el("canvas", { role: "img", ariaLabel: alt, width: 256, height: 128 }), output);
}

function showAB(sides, codec, bits) {
  const [base] = sides;
  $("#ab-grid").replaceChildren(
    ...sides.map((s, i) => {
      const m = state.models[s.modelIndex];
      const out = s.images;
      const saving = i > 0 && base.encoded.byteCount ? s.encoded.byteCount / base.encoded.byteCount - 1 : null;
      const head = i === 0 ? "Baseline" : s.modelIndex === base.modelIndex ? "This model (the baseline)" : "This model";
      return el(
        "figure",
        { class: "ab-side", "data-side": i === 0 ? "baseline" : "current" },
        el("figcaption", {}, el("strong", {}, `${head} · λ ${fmtLambda(m.lambda)}`), el("small", {}, ` ${m.name}`)),
        el(
          "p",
          { class: "ab-figures" },
          el("span", { class: "ab-bytes" }, s.encoded.byteCount < 10000 ? `${bytes(s.encoded.byteCount)} bytes` : bytes(s.encoded.byteCount)),
          ` · ${fixed(s.encoded.bitsPerElement, 3)} bits/element`,
        ),
        // One line on each side, so that the outputs line up.
        el("p", { class: "ab-figures" }, saving != null ? `${saving > 0 ? "+" : ""}${fixed(saving * 100, 1)} % bytes against the baseline` : "the reference"),
        image(out.seg, "Segmentation"),
        image(out.disp, "Disparity"),
        image(out.recon, "Reconstruction"),
      );
    }),
  );
  const label = codec.startsWith("jpeg") ? codec.replace("jpeg", "JPEG ") : codec.toUpperCase();
  $("#ab-note").textContent = `The same frame, ${label} at ${bits} bits, through both models and the same cloud. Rows: segmentation, disparity, reconstruction.`;
  $("#ab-grid").hidden = false;
}

/** The A/B card's button (disabled without a baseline model). */
export function wireAB() {
  const base = baselineIndex();
  $("#ab-run").disabled = base == null;
  $("#ab-run").onclick = () => compareAB().catch(() => {});
  if (base == null) $("#ab-note").textContent = "No model with λ 0 is installed, so there is no baseline to compare with.";
}
