// The model list the page works with: the zoo manifest (assets/manifest.json, the
// full entries an edge session needs) joined with the server's catalogue
// (GET /v1/models: which models the server has loaded, the class legend). Without a
// server the manifest alone gives the list.

import { fetchCatalog, priorUrl } from "./cloud.js";

/**
 * Returns {models, classes, catalogError, manifestUrl}. `models` are manifest entries in
 * lambda order, each with `weightsUrl`, `priorUrl` (null without tables) and `served` (the server knows it; null when
 * the server could not be, or was not, asked). `catalog: false` asks no server (the
 * static site, where there is none): `classes` and `catalogError` are then null.
 */
export async function loadModels(base, assetsBase = "assets/", { catalog: askServer = true } = {}) {
  const manifestUrl = new URL(`${assetsBase}manifest.json`, location.href).href;
  const [catalog, manifest] = await Promise.allSettled([
    askServer ? fetchCatalog(base) : Promise.resolve(null),
    fetch(manifestUrl, { cache: "no-cache" }).then(async (r) => {
      if (!r.ok) throw new Error(`${manifestUrl}: HTTP ${r.status}`);
      return r.json();
    }),
  ]);
  if (manifest.status === "rejected") {
    throw new Error(`the model manifest could not be loaded (${manifest.reason.message})`);
  }
  const served = catalog.value ? new Set(catalog.value.models.map((m) => m.id)) : null;
  const models = [...manifest.value.models]
    .sort((a, b) => a.lambda - b.lambda || a.name.localeCompare(b.name))
    .map((entry) => ({
      ...entry,
      weightsUrl: new URL(`${assetsBase}${entry.edge.path.replace(/^\.?\//, "")}`, location.href).href,
      // The `prior` codec's tables, when the model ships them (docs/bitstream.md, "prior").
      priorUrl: priorUrl(entry, assetsBase),
      served: served ? served.has(entry.id) : null,
    }));
  return {
    models,
    classes: catalog.value ? catalog.value.classes : null,
    catalogError: catalog.status === "rejected" ? catalog.reason : null,
    manifestUrl,
  };
}

/** The manifest entry as the edge session takes it (without the page's additions). */
export function sessionEntry(model) {
  const { weightsUrl, priorUrl, served, ...entry } = model;
  return entry;
}

/** Eval results of a model keyed by setting ("float", "png", "jpeg90", "ans", ...). */
export function evalBySetting(model) {
  const out = new Map();
  for (const r of model?.eval?.results ?? []) out.set(r.setting, r);
  return out;
}

/**
 * The fair comparison's "saving at equal accuracy" (docs/results.md; the same rule as
 * `EQUAL_ACCURACY` in crate/train/src/report/curves.rs): the cheapest setting of
 * `model` whose mIoU, disparity RMSE and PSNR are all within mIoU -0.005, RMSE +1 %,
 * PSNR -0.1 dB of the baseline's float accuracy, against the baseline's cheapest such
 * setting. Returns {model, baseline} (each {setting, bytes} or null) and `change`,
 * model bytes / baseline bytes - 1 (null when either has no such setting).
 */
export function equalAccuracy(model, baseline) {
  const reference = evalBySetting(baseline).get("float");
  if (!reference) return { model: null, baseline: null, change: null };
  const within = (r) =>
    r.miou >= reference.miou - 0.005 &&
    r.disparity_rmse <= reference.disparity_rmse * 1.01 &&
    r.psnr_db >= reference.psnr_db - 0.1;
  const cheapest = (m) => {
    let best = null;
    for (const r of m?.eval?.results ?? []) {
      if (r.setting === "float" || !within(r)) continue;
      if (!best || r.bytes_per_image < best.bytes) best = { setting: r.setting, bytes: r.bytes_per_image };
    }
    return best;
  };
  const a = cheapest(model);
  const b = cheapest(baseline);
  return { model: a, baseline: b, change: a && b ? a.bytes / b.bytes - 1 : null };
}
