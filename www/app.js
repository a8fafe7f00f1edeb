// The splitfeat page: inputs -> edge (WebAssembly worker) -> bitstream -> cloud ->
// outputs, with live bitrate, timings and the rate-accuracy chart. The cloud is a
// splitfeat-cloud server (`?cloud=URL`, or this origin if it serves the API) or, for
// the page served as static files, a WebAssembly worker in this page (js/cloud.js).
//
// This module is the start-up: it wires the page's modules (js/) together, loads the
// wasm module, the model list, the samples and the first model, and shows the first
// result. URL parameters: js/state.js.

import { $, $$ } from "./js/format.js";
import { wireAB } from "./js/ab.js";
import { adoptBitDepths, clampBits, clampInt } from "./js/limits.js";
import { loadModels } from "./js/models.js";
import { banner, trackTopbar } from "./js/banners.js";
import { applyBackend, edge, lock, probeGpu, showBackend } from "./js/backends.js";
import { connectCloud } from "./js/cloud-link.js";
import { buildBits, buildBudget, buildMetricSelect, buildSlider, followBudget, showCodec, wireControls, wireTabs } from "./js/controls.js";
import { schedule, setPlanner, waitForIdle } from "./js/frame-loop.js";
import { installHook } from "./js/hook.js";
import { buildSamples, loadSamples, useSample } from "./js/inputs.js";
import { rateChart, showModel } from "./js/model-info.js";
import { loadModel } from "./js/model-switch.js";
import { showLegend } from "./js/views.js";
import { base, params, state, staticSite } from "./js/state.js";

// For the browser tests and for curious users (tests/README.md).
installHook();

async function main() {
  trackTopbar();
  wireTabs();
  wireControls();
  const t0 = performance.now();
  const [wasm, models, samples, gpu] = await Promise.allSettled([edge.init(), loadModels(base, undefined, { catalog: !staticSite }), loadSamples(), probeGpu()]);
  state.gpu = gpu.status === "fulfilled" ? gpu.value : { available: false, reason: String(gpu.reason) };

  if (wasm.status === "rejected") {
    fail(`The WebAssembly edge did not load (${wasm.reason.message}). Build it with \`cargo xtask demo\` (or the build_wasm step) so that pkg/ exists next to this page.`);
    return;
  }
  if (models.status === "rejected") {
    fail(`No model list: ${models.reason.message}.`);
    return;
  }
  adoptBitDepths(wasm.value.bitDepths);
  state.bits = clampBits(state.bits);
  buildBits();
  const m = models.value;
  state.models = m.models;
  state.classes = m.classes ?? wasm.value.classes;
  connectCloud(m);
  if (!state.models.length) {
    fail("The model manifest lists no model. Train and export one (`splitfeat export`).");
    return;
  }
  if (samples.status === "fulfilled") state.samples = samples.value;
  else banner("input", "warn", `Bundled samples unavailable (${samples.reason.message}); upload an image or use the webcam.`);

  const wanted = params.get("model");
  const found = wanted ? state.models.findIndex((x) => x.id === wanted || x.name === wanted) : -1;
  const first = found >= 0 ? found : 0;
  state.bits ??= state.models[first].bits;
  buildSlider();
  buildMetricSelect();
  rateChart.setModels(state.models);
  $("#rate-card").hidden = !rateChart.hasData();
  buildSamples();
  showCodec();
  buildBudget();
  setPlanner(followBudget);
  wireAB();
  showLegend(null);

  try {
    await lock.run(() => loadModel(first));
    if (state.pref === "webgpu") await lock.run(applyBackend);
  } catch (err) {
    fail(`Model “${state.models[first].name}” failed to load: ${err.message}`);
    return;
  }
  showModel();
  showBackend();
  $("#footer-info").textContent = `splitfeat-web ${wasm.value.version}`;

  const sampleIndex = clampInt(params.get("sample"), 0, 99, 0);
  const images = state.samples.filter((s) => s.kind === "image");
  if (images.length) {
    await useSample(images[Math.min(sampleIndex, images.length - 1)], $$("#sample-list .thumb")[Math.min(sampleIndex, images.length - 1)]);
  }
  await waitForIdle();
  state.firstResultMs = performance.now() - t0;

  if (state.pref === "auto" && state.gpu.available) {
    document.body.dataset.state = "comparing";
    try {
      await lock.run(applyBackend);
    } catch (err) {
      state.backend = "cpu";
      banner("webgpu", "warn", `WebGPU was not usable (${err.message}); the CPU runs the encoder.`);
    }
    showBackend();
    schedule();
    await waitForIdle();
  }
  document.body.dataset.state = "ready";
}

function fail(text) {
  banner("fatal", "error", text);
  document.body.dataset.state = "failed";
  $(".badge-text", $("#backend-badge")).textContent = "Edge: not running";
  $("#backend-badge").dataset.backend = "none";
}

main().catch((err) => fail(`The page failed to start: ${err.message}`));
