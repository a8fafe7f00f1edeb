// The controls: the lambda slider and its ticks, the codec radio group, JPEG quality,
// bit depth, the bandwidth budget (which, when set, chooses model, codec and bit
// depth itself), the edge device select, the input tabs, file drop, camera and drive
// buttons, the segmentation opacity and the rate chart's metric select.

import { $, $$, bytes, el, fixed, lambda as fmtLambda } from "./format.js";
import { METRICS, modelColour } from "./charts.js";
import { equalAccuracy } from "./models.js";
import { BUDGET_CHOICES, JPEG_BITS, bitDepths } from "./limits.js";
import { currentChoice, plan, setBudget } from "./budget.js";
import { banner } from "./banners.js";
import { applyBackend, lock, showBackend } from "./backends.js";
import { schedule } from "./frame-loop.js";
import { toggleDrive, toggleWebcam, useFile } from "./inputs.js";
import { rateChart, showModel } from "./model-info.js";
import { selectModel, wantModel } from "./model-switch.js";
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

const kbpsText = (v) => (v >= 1000 ? `${+(v / 1000).toPrecision(3)} Mbit/s` : `${v} kbit/s`);

/** The budget select: none, the usual budgets, and `?budget=`'s when it is another. */
export function buildBudget() {
  const select = $("#budget");
  const values = [...new Set([...BUDGET_CHOICES, ...(state.budgetKbps ? [state.budgetKbps] : [])])].sort((a, b) => b - a);
  select.replaceChildren(el("option", { value: "" }, "Unlimited"), ...values.map((v) => el("option", { value: String(v) }, kbpsText(v))));
  select.onchange = () => useBudget(select.value ? Number(select.value) : null);
  setBudget(state.budgetKbps);
  showBudget();
}

/** Sets the bandwidth budget (kbit/s, null: none), as the budget select does. */
export function useBudget(kbps) {
  setBudget(kbps);
  unloadable.clear();
  showBudget();
  schedule();
}

/** Models the budget could not load: not chosen again until the budget changes. */
const unloadable = new Set();

/**
 * The frame loop's planner (frame-loop.js setPlanner): under a budget, picks the next
 * frame's model, codec and bit depth (budget.js) and applies them; resolves to the
 * choice, or null (no budget, or its model did not load: the banner says so).
 */
export async function followBudget() {
  const choice = plan(rateChart.metric, unloadable);
  if (!choice) {
    // A budget with nothing to choose from (no evaluations in the manifest, or every
    // model failed to load): said, while the link still holds the upload to it.
    banner("budget", state.budgetKbps ? "warn" : null, state.budgetKbps ? "The bandwidth budget has no evaluated setting to choose from (the manifest's evaluations, models that load); the current settings are used and the upload is still held to the budget." : null);
    return null;
  }
  banner("budget", null);
  if (choice.modelIndex !== state.modelIndex && !(await selectModel(choice.modelIndex, { reschedule: false }))) {
    unloadable.add(choice.modelIndex);
    return null;
  }
  if (state.codec !== choice.codec || state.bits !== choice.bits || (choice.quality != null && state.quality !== choice.quality)) {
    state.codec = choice.codec;
    if (choice.quality != null) state.quality = choice.quality;
    state.bits = choice.bits;
    showCodec();
  }
  showBudget();
  return choice;
}

/**
 * The budget's part of the controls: with a budget, the model, codec and bit-depth
 * controls show its choice and are disabled, and a note says what was chosen and why.
 */
export function showBudget() {
  const kbps = state.budgetKbps;
  $("#budget").value = kbps ? String(kbps) : "";
  for (const node of [$("#lambda"), $("#jpeg-quality"), $("#bits"), ...$$("#codec input"), ...$$("#lambda-ticks .tick")]) {
    node.disabled = Boolean(kbps) || (node.id === "lambda" && state.models.length < 2);
  }
  document.body.dataset.budget = kbps ? String(kbps) : "";
  const note = $("#budget-note");
  const c = currentChoice();
  note.hidden = !kbps;
  if (!kbps) return;
  if (!c) {
    note.textContent = `Budget ${kbpsText(kbps)}: the settings are chosen before each frame.`;
    return;
  }
  const model = state.models[c.modelIndex];
  const what = `λ ${fmtLambda(model.lambda)} · ${c.codec === "jpeg" ? `JPEG ${c.quality}` : c.codec.toUpperCase()} at ${c.bits} bits`;
  const metric = METRICS[c.metric];
  const accuracy = `${metric.label.replace(/ \(.*\)$/, "")} ${fixed(c.value * metric.scale, metric.scale === 100 ? 1 : 2)}${metric.scale === 100 ? " %" : ""} on the test set`;
  const size = (n) => `${bytes(Math.round(n))}${n >= 10000 ? "" : " B"}`;
  const per = `${fixed(1000 / c.periodMs, 1)} frames/s allow ${size(c.allowedBytes)} a frame`;
  const expected = `expected ${size(c.expectedBytes)} (test-set mean ×${fixed(c.calibration, 2)} for this input)`;
  note.textContent = c.fits
    ? `Budget ${kbpsText(kbps)}: ${per}; the most accurate setting that fits is ${what}, ${expected}, ${accuracy}.`
    : `Budget ${kbpsText(kbps)}: ${per}, and no setting fits; the cheapest, ${what}, ${expected}: the link holds frames back and sets the frame rate.`;
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
