// The controls: the lambda slider and its ticks, the codec radio group, JPEG quality,
// bit depth, the edge device select, the input tabs, file drop, camera and drive
// buttons, the segmentation opacity and the rate chart's metric select.

import { $, $$, el, fixed, lambda as fmtLambda } from "./format.js";
import { METRICS, modelColour } from "./charts.js";
import { equalAccuracy } from "./models.js";
import { JPEG_BITS, bitDepths } from "./limits.js";
import { banner } from "./banners.js";
import { applyBackend, lock, showBackend } from "./backends.js";
import { schedule } from "./frame-loop.js";
import { toggleDrive, toggleWebcam, useFile } from "./inputs.js";
import { rateChart, showModel } from "./model-info.js";
import { wantModel } from "./model-switch.js";
import { drawSegmentation } from "./views.js";
import { state } from "./state.js";

/** The lambda slider: one stop and one tick (what that lambda buys) per model. */
export function buildSlider() {
  const slider = $("#lambda");
  slider.max = String(Math.max(0, state.models.length - 1));
  slider.value = String(state.modelIndex);
  slider.disabled = state.models.length < 2;
  $("#lambda-stops").replaceChildren(...state.models.map((_, i) => el("option", { value: String(i) })));
  $("#lambda-ticks").replaceChildren(
    ...state.models.map((m, i) => {
      // What lambda buys, fairly: bytes at equal accuracy against the baseline's best
      // setting (every codec and bit depth), not the 8-bit figures.
      const baseline = state.models.find((b) => b.lambda === 0);
      const eq = baseline && m !== baseline ? equalAccuracy(m, baseline) : null;
      const label =
        m === baseline ? "baseline" : eq?.change != null ? `${eq.change > 0 ? "+" : ""}${fixed(eq.change * 100, 1)} % bytes` : eq ? "less accurate" : "";
      const why =
        m === baseline
          ? "the baseline (lambda 0)"
          : eq?.change != null
            ? `bytes at equal accuracy against the baseline: ${eq.model.setting} ${Math.round(eq.model.bytes)} B vs ${eq.baseline.setting} ${Math.round(eq.baseline.bytes)} B`
            : "no setting within the baseline's accuracy (mIoU -0.005, RMSE +1 %, PSNR -0.1 dB)";
      const tick = el(
        "button",
        { class: "tick", type: "button", title: `${m.name} (${m.id}): ${why}`, onclick: () => setModelFromSlider(i) },
        el("span", { class: "tick-lambda" }, fmtLambda(m.lambda)),
      );
      tick.style.setProperty("--tick-colour", modelColour(i, state.models.length));
      if (label && m.eval) tick.append(el("span", { class: "tick-eval" }, label));
      return tick;
    }),
  );
  slider.oninput = () => setModelFromSlider(Number(slider.value), true);
}

function setModelFromSlider(index, debounce = false) {
  $("#lambda").value = String(index);
  $("#lambda-value").textContent = `λ = ${fmtLambda(state.models[index].lambda)}`;
  wantModel(index, debounce ? 120 : 0);
}

/** The rate chart's metric select and its legend (one colour per model, one shape per codec). */
export function buildMetricSelect() {
  const select = $("#metric");
  select.replaceChildren(...Object.entries(METRICS).map(([k, m]) => el("option", { value: k }, m.label)));
  select.onchange = () => rateChart.setMetric(select.value);
  $("#rate-legend").replaceChildren(
    ...state.models.map((m, i) => el("span", { class: "rate-key", style: `--key: ${modelColour(i, state.models.length)}` }, `λ ${fmtLambda(m.lambda)}`)),
    el("span", { class: "rate-key shape" }, "● JPEG  ■ PNG  ◆ ANS (every bit depth; lines: each model's best settings)  ◯ test-set mean at this setting  ┆ this frame"),
  );
}

/** The input tabs (sample, file, webcam, drive) as a WAI-ARIA tab list. */
export function wireTabs() {
  const tabs = $$('[role="tab"]');
  const choose = (tab, focus = false) => {
    for (const t of tabs) {
      t.setAttribute("aria-selected", String(t === tab));
      t.tabIndex = t === tab ? 0 : -1;
    }
    for (const p of $$(".tab-panel")) p.hidden = p.dataset.panel !== tab.dataset.tab;
    if (focus) tab.focus();
  };
  for (const tab of tabs) {
    tab.onclick = () => choose(tab);
    tab.tabIndex = tab.getAttribute("aria-selected") === "true" ? 0 : -1;
  }
  // Roving focus (WAI-ARIA tabs): the arrow keys, Home and End choose a tab.
  $('[role="tablist"]').onkeydown = (e) => {
    const i = tabs.indexOf(document.activeElement);
    if (i < 0) return;
    const next = { ArrowRight: i + 1, ArrowDown: i + 1, ArrowLeft: i - 1, ArrowUp: i - 1, Home: 0, End: tabs.length - 1 }[e.key];
    if (next == null) return;
    e.preventDefault();
    choose(tabs[(next + tabs.length) % tabs.length], true);
  };
}

/** The bit depth select: every depth the feature coder accepts. */
export function buildBits() {
  const select = $("#bits");
  select.replaceChildren(...bitDepths().map((b) => el("option", { value: String(b) }, `${b} bits`)));
  select.onchange = () => {
    state.bits = Number(select.value);
    showModel();
    schedule();
  };
}

/** The codec choice on the controls (JPEG: quality shown, bit depth fixed at JPEG_BITS). */
export function showCodec() {
  for (const input of $$("#codec input")) input.checked = input.value === state.codec;
  $("#quality-control").hidden = state.codec !== "jpeg";
  $("#jpeg-quality").value = String(state.quality);
  $("#jpeg-quality-value").textContent = String(state.quality);
  const jpeg = state.codec === "jpeg";
  if (jpeg) state.bits = JPEG_BITS;
  for (const o of $$("#bits option")) o.disabled = jpeg && o.value !== String(JPEG_BITS);
  $("#bits").value = String(state.bits);
  $("#bits").title = jpeg ? `JPEG carries ${JPEG_BITS}-bit planes only` : "";
  showModel();
}

/** Sets the edge device preference ("auto" | "webgpu" | "cpu") and applies it. */
export async function setBackendPreference(pref) {
  state.pref = pref;
  $("#backend").disabled = true;
  try {
    await lock.run(applyBackend);
  } catch (err) {
    banner("backend", "error", `Switching the edge device failed: ${err.message}`);
  } finally {
    $("#backend").disabled = false;
    showBackend();
    schedule();
  }
}

/** The event handlers of the codec, quality, device, opacity and input controls. */
export function wireControls() {
  // Native radio inputs of one name: Tab enters the group at the checked one, the
  // arrow keys move the choice (and fire change).
  for (const input of $$("#codec input")) {
    input.onchange = () => {
      if (!input.checked) return;
      state.codec = input.value;
      showCodec();
      schedule();
    };
  }
  $("#jpeg-quality").oninput = () => {
    state.quality = Number($("#jpeg-quality").value);
    $("#jpeg-quality-value").textContent = String(state.quality);
    showModel();
    schedule();
  };
  $("#backend").onchange = () => setBackendPreference($("#backend").value);
  $("#backend-badge").onclick = () => $("#backend").focus();
  $("#seg-opacity").oninput = drawSegmentation;
  $("#file-input").onchange = (e) => useFile(e.target.files[0]);
  const drop = $("#drop-zone");
  drop.ondragover = (e) => {
    e.preventDefault();
    drop.classList.add("over");
  };
  drop.ondragleave = () => drop.classList.remove("over");
  drop.ondrop = (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    useFile(e.dataTransfer.files[0]);
  };
  $("#webcam-toggle").onclick = toggleWebcam;
  $("#drive-toggle").onclick = toggleDrive;
}
