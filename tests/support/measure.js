// What measure.mjs and measure-static.mjs measure on a running page, through the
// test hook (tests/README.md): drive mode's pipeline figures and model switches.

/**
 * The drive running on `page` for `seconds`: frames/s (frames drawn over the time),
 * latency percentiles over every frame drawn meanwhile, stage medians, drops, and the
 * frame period against the slowest stage (the pipeline's efficiency).
 */
export async function drive(page, seconds) {
  const read = () => page.evaluate(() => ({ at: performance.now(), p: window.splitfeat.pipeline(), frames: window.splitfeat.pipelineFrames() }));
  const start = await read();
  const frames = new Map();
  const deadline = Date.now() + seconds * 1000;
  let end = start;
  while (Date.now() < deadline) {
    await page.waitForTimeout(Math.min(2000, Math.max(0, deadline - Date.now())));
    end = await read();
    for (const f of end.frames) if (f.shownAt > start.at && f.shownAt <= end.at) frames.set(f.seq, f);
  }
  const shown = [...frames.values()];
  const diff = (k) => end.p.counts[k] - start.p.counts[k];
  const span = (end.at - start.at) / 1000;
  const latency = shown.map((f) => f.shownAt - f.capturedAt);
  const stage = (f) => quantileOf(shown.map(f), 0.5);
  const stages = { edge: stage((f) => f.encodedAt - f.edgeStart), cloud: stage((f) => f.answeredAt - f.sentAt), draw: stage((f) => f.shownAt - f.drawStart) };
  if (end.p.sourceFps) stages.source = 1000 / end.p.sourceFps;
  const slowest = Object.entries(stages).sort((a, b) => b[1] - a[1])[0];
  const fps = diff("shown") / span;
  return {
    seconds: span,
    sourceFps: end.p.sourceFps,
    fps,
    frames: { drawn: diff("shown"), sent: diff("sent"), skipped: diff("skipped"), replacedBeforeCloud: diff("replacedBeforeCloud"), replacedBeforeDraw: diff("replacedBeforeDraw"), failed: diff("failed") },
    latencyMs: { n: latency.length, p50: quantileOf(latency, 0.5), p95: quantileOf(latency, 0.95), max: Math.max(...latency) },
    stagesMs: stages,
    bottleneck: slowest[0],
    periodOverSlowest: 1000 / fps / slowest[1],
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
