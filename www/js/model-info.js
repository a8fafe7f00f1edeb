// What the page says about the current model: the lambda label and ticks, the model
// line (its test-set figures at the current setting, and what lambda buys across the
// installed models), the "not served" warning, and the rate-accuracy chart's marks.

import { $, $$, fixed, lambda as fmtLambda } from "./format.js";
import { RateChart } from "./charts.js";
import { equalAccuracy, evalBySetting } from "./models.js";
import { banner } from "./banners.js";
import { currentModel, settingLabel, state } from "./state.js";

/** The rate-accuracy chart of the installed models' evaluations. */
export const rateChart = new RateChart($("#rate-chart"));

/** Shows the current model: label, active tick, model line, served warning, chart mark. */
export function showModel() {
  const model = currentModel();
  if (!model) return;
  $("#lambda-value").textContent = `λ = ${fmtLambda(model.lambda)}`;
  $$("#lambda-ticks .tick").forEach((t, i) => t.classList.toggle("active", i === state.modelIndex));
  // The prior codec is offered for a model that ships its tables (a switch to one
  // without them falls back to ANS: loadModel).
  $("#codec [data-codec=prior]").hidden = !model.prior;
  for (const input of $$("#codec input")) input.checked = input.value === state.codec;
  const ev = evalBySetting(model).get(settingLabel());
  const parts = [`${model.name}`, `id ${model.id}`, `${model.config.preset} preset`, `trained at ${model.bits} bits`];
  if (ev) {
    parts.push(`test-set mean over ${model.eval.images} scenes (${settingLabel()}): mIoU ${fixed(ev.miou * 100, 1)} %, ${fixed(ev.bits_per_element, 2)} bits/el, PSNR ${fixed(ev.psnr_db, 1)} dB, disparity RMSE ${fixed(ev.disparity_rmse, 2)} px`);
  } else if (model.eval) {
    parts.push(`no evaluation for ${settingLabel()}`);
  }
  if (state.models.length < 2) parts.push("only one model is installed: export more lambdas to compare rates");
  const buys = lambdaSummary();
  $("#model-info").textContent = parts.join(" · ") + (buys ? `. ${buys}` : "");
  if (model.served === false) {
    banner("served", "warn", `The server has not loaded model “${model.name}”; it will refuse these features.`);
  } else {
    banner("served", null);
  }
  updateRatePoint();
}

/**
 * One sentence on what lambda buys on the installed models, by the fair comparison's
 * rule (equalAccuracy: each model's cheapest setting within the baseline's float
 * accuracy against the baseline's cheapest such setting); "" without a baseline
 * (lambda 0) or evaluations.
 */
function lambdaSummary() {
  const baseline = state.models.find((m) => m.lambda === 0 && m.eval);
  const others = state.models.filter((m) => m !== baseline && m.eval);
  if (!baseline || !others.length) return "";
  const reached = [];
  const missed = [];
  for (const m of others) {
    const eq = equalAccuracy(m, baseline);
    if (eq.change != null) {
      const sign = eq.change > 0 ? "+" : eq.change < 0 ? "−" : "±";
      reached.push(`λ ${fmtLambda(m.lambda)} needs ${sign}${fixed(Math.abs(eq.change) * 100, 1)} % bytes (${eq.model.setting} against ${eq.baseline.setting})`);
    } else if (eq.baseline) {
      missed.push(fmtLambda(m.lambda));
    }
  }
  if (!reached.length && !missed.length) return "";
  const lead = "What λ buys here: at equal accuracy with the baseline's best setting, ";
  const missText = missed.length
    ? `${missed.length > 1 ? `λ ${missed.slice(0, -1).join(", ")} and ${missed.at(-1)} never reach` : `λ ${missed[0]} never reaches`} the baseline's accuracy at any setting`
    : "";
  return `${lead}${[reached.join(", "), missText].filter(Boolean).join("; ")}.`;
}

/** Marks the current model, setting and last frame's rate on the rate-accuracy chart. */
export function updateRatePoint() {
  rateChart.setCurrent({
    modelIndex: state.modelIndex,
    setting: settingLabel(),
    bitsPerElement: state.lastEncode?.bitsPerElement ?? NaN,
  });
}
