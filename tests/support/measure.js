// What measure.mjs and measure-static.mjs measure on a running page, through the
// test hook (tests/README.md): drive mode's pipeline figures and model switches; and
// the scripts' command-line flags.

/** The text after `--name` on the command line; undefined without the flag. */
export function flagValue(name) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}

/** The number after `--name`, or `fallback` without the flag. */
export function numberFlag(name, fallback) {
  return process.argv.indexOf(`--${name}`) > 0 ? Number(flagValue(name)) : fallback;
}

/**
 * The drive running on `page` for `seconds`: frames/s (frames drawn over the time),
 * latency percentiles over every frame drawn meanwhile, stage medians and means, drops,
 * and the mean frame period against the slowest stage (the pipeline's efficiency), by
 * medians and by means. `onSample` runs
 * every two seconds.
 */
export async function drive(page, seconds, onSample = async () => {}) {
  const read = () => page.evaluate(() => ({ at: performance.now(), p: window.splitfeat.pipeline(), frames: window.splitfeat.pipelineFrames() }));
  const start = await read();
  const frames = new Map();
  const deadline = Date.now() + seconds * 1000;
  let end = start;
  while (Date.now() < deadline) {
    await page.waitForTimeout(Math.min(2000, Math.max(0, deadline - Date.now())));
    end = await read();
    await onSample();
    for (const f of end.frames) if (f.shownAt > start.at && f.shownAt <= end.at) frames.set(f.seq, f);
  }
  const shown = [...frames.values()];
  const diff = (k) => end.p.counts[k] - start.p.counts[k];
  const span = (end.at - start.at) / 1000;
  const latency = shown.map((f) => f.shownAt - f.capturedAt);
  const stage = (f) => quantileOf(shown.map(f), 0.5);
  const mean = (f) => shown.map(f).reduce((a, b) => a + b, 0) / shown.length;
  // The stages that run at once; the cloud slot is the link's hold (with a budget)
  // and the cloud's round trip, one after the other.
  const stages = { edge: stage((f) => f.encodedAt - f.edgeStart), cloudSlot: stage((f) => f.answeredAt - f.sentAt), draw: stage((f) => f.shownAt - f.drawStart) };
  if (end.p.sourceFps) stages.source = 1000 / end.p.sourceFps;
  const slowest = Object.entries(stages).sort((a, b) => b[1] - a[1])[0];
  const parts = { cloudRoundTrip: stage((f) => f.answeredAt - f.uploadedAt), linkHold: stage((f) => f.uploadedAt - f.sentAt) };
  // Throughput is set by mean times: a stage's mean time per frame against the mean
  // frame period (on a loaded machine the means sit well above the medians).
  const means = { edge: mean((f) => f.encodedAt - f.edgeStart), cloudSlot: mean((f) => f.answeredAt - f.sentAt), draw: mean((f) => f.shownAt - f.drawStart) };
  if (end.p.sourceFps) means.source = 1000 / end.p.sourceFps;
  const slowestMean = Object.entries(means).sort((a, b) => b[1] - a[1])[0];
  const fps = diff("shown") / span;
  return {
    seconds: span,
    sourceFps: end.p.sourceFps,
    fps,
    frames: { drawn: diff("shown"), sent: diff("sent"), skipped: diff("skipped"), replacedBeforeCloud: diff("replacedBeforeCloud"), replacedBeforeDraw: diff("replacedBeforeDraw"), failed: diff("failed") },
    latencyMs: { n: latency.length, p50: quantileOf(latency, 0.5), p95: quantileOf(latency, 0.95), max: Math.max(...latency) },
    stagesMs: stages,
    cloudSlotMs: parts,
    bottleneck: slowest[0],
    periodOverSlowest: 1000 / fps / slowest[1],
    stagesMeanMs: means,
    periodOverSlowestMean: 1000 / fps / slowestMean[1],
    uploadKbitPerSecond: (8 * shown.reduce((a, f) => a + f.bytes, 0)) / span / 1000,
    maxAtOnce: end.p.max,
  };
}

/** Nearest-rank quantile, as the page's (www/js/pipeline.js). */
export function quantileOf(values, p) {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  return v.length ? v[Math.min(v.length - 1, Math.max(0, Math.ceil(p * v.length) - 1))] : NaN;
}

/**
 * Model switches on `page` (a still input): each model in turn, then again. `ms`: the
 * slider's switch (selectModel) until the model is current; `toDrawnMs`: until its
 * first frame's outputs are drawn. `weights`: where they came from ("session": already
 * loaded on the device).
 */
export async function switches(page) {
  return page.evaluate(async () => {
    const sf = window.splitfeat;
    const n = (await (await fetch("assets/manifest.json")).json()).models.length;
    const start = sf.model().index;
    const order = [...Array(n).keys()].map((k) => (start + 1 + k) % n);
    const rows = [];
    for (const round of [1, 2]) {
      for (const i of order) {
        const t0 = performance.now();
        const ok = await sf.selectModel(i);
        const t1 = performance.now();
        await sf.idle();
        const s = sf.lastSwitch();
        rows.push({ round, model: i, ok, backend: s.backend, weights: s.weights, ms: t1 - t0, inLoadMs: s.ms, toDrawnMs: performance.now() - t0 });
      }
    }
    return rows;
  });
}

/**
 * Model switches on a fresh page at `url` in `page`'s profile: the first visit (each
 * model's weights from the network), then after a reload (from the Cache Storage API
 * on each model's first switch, then from its open session).
 */
export async function cachedSwitches(page, url, waitReady) {
  await page.goto(url);
  if ((await waitReady(page)) !== "ready") throw new Error(`${url}: the page failed`);
  const firstVisit = await switches(page);
  await page.reload();
  if ((await waitReady(page)) !== "ready") throw new Error(`${url}: the page failed after a reload`);
  const afterReload = await switches(page);
  return { backend: await page.evaluate(() => window.splitfeat.backend()), firstVisit, afterReload };
}

/**
 * The drive on `page` under each bandwidth budget in `budgets` (kbit/s) for `seconds`
 * (after `settle` seconds): the pipeline's figures (`drive`), the bit rate actually
 * sent (bytes of the frames that left over the time they took, and the most over any
 * run of frames spanning at least a second) and the settings chosen, by frames.
 */
export async function budgets(page, budgetList, seconds, settle = 3) {
  const out = {};
  for (const kbps of budgetList) {
    await page.evaluate((k) => window.splitfeat.setBudget(k), kbps);
    await page.waitForTimeout(settle * 1000);
    const from = await page.evaluate(() => performance.now());
    const chosen = {};
    const sample = async () => {
      const c = await page.evaluate(() => window.splitfeat.budget().choice);
      if (c) chosen[`${c.modelIndex}:${c.setting}`] = (chosen[`${c.modelIndex}:${c.setting}`] ?? 0) + 1;
    };
    const pipeline = await drive(page, seconds, sample);
    const uploads = (await page.evaluate(() => window.splitfeat.uploads())).filter((u) => u.leftAt - u.linkMs >= from);
    let worst = 0;
    for (let j = 0; j < uploads.length; j++) {
      let bits = 0;
      for (let k = j; k < uploads.length; k++) {
        bits += uploads[k].bytes * 8;
        const ms = uploads[k].leftAt - uploads[j].leftAt + uploads[j].linkMs;
        if (ms >= 1000) worst = Math.max(worst, bits / ms);
      }
    }
    const total = uploads.reduce((a, u) => a + u.bytes, 0);
    const span = uploads.length ? uploads.at(-1).leftAt - (uploads[0].leftAt - uploads[0].linkMs) : NaN;
    out[kbps ?? "unlimited"] = { ...pipeline, sentKbps: (total * 8) / span, worstKbpsOverAtLeast1s: worst, framesSent: uploads.length, chosen };
  }
  await page.evaluate(() => window.splitfeat.setBudget(null));
  return out;
}
