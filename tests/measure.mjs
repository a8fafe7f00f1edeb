// Measures the page for docs/results-web.md: wasm size, load to first result, edge
// time per frame on WebGPU (SwiftShader here) and CPU in the same page, drive mode
// (frames/s end to end, latency p50/p95, stage times, dropped frames, and under each
// bandwidth budget the rate sent and the settings chosen) and model switching times,
// with the cloud server. Prints JSON and writes
// tests/artifacts/measurements.json.
//
//   cd tests && node measure.mjs [--frames 20] [--drive-seconds 15] [--assets DIR] [--drive-only]
//
// `--assets DIR`: another zoo (e.g. untrained models of other head widths from
// `fixture_assets --head-channels`, to measure what cheaper heads would buy);
// `--drive-only`: drive mode on the CPU edge alone (no budgets, no switch timings).

import { readFileSync, statSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

import { launch, waitReady } from "./support/browser.js";
import { ARTIFACTS, ROOT, requireWasm, startCloud } from "./support/env.js";
import { budgets, cachedSwitches, drive, flagValue, numberFlag } from "./support/measure.js";

const FRAMES = numberFlag("frames", 20);
const ASSETS = flagValue("assets");
const DRIVE_ONLY = process.argv.includes("--drive-only");
const DRIVE_SECONDS = numberFlag("drive-seconds", 15);
/** kbit/s, as the page's budget select offers them. */
const BUDGETS = [1000, 300, 100];

const stats = (v) => {
  const s = [...v].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { n: s.length, median: q(0.5), p10: q(0.1), p90: q(0.9), mean: s.reduce((a, b) => a + b, 0) / s.length };
};

requireWasm();
const wasmPath = join(ROOT, "www", "pkg", "splitfeat_web_bg.wasm");
const wasm = readFileSync(wasmPath);
const result = {
  date: new Date().toISOString(),
  machine: `${cpus().length} x ${cpus()[0]?.model}`,
  wasm: { bytes: wasm.length, gzip9: gzipSync(wasm, { level: 9 }).length, js_glue_bytes: statSync(join(ROOT, "www", "pkg", "splitfeat_web.js")).size },
};

const cloud = await startCloud(ASSETS ? { assets: ASSETS } : {});
if (ASSETS) result.assets = ASSETS;
const { page, close } = await launch({ webgpu: true });
try {
  const t0 = Date.now();
  await page.goto(`${cloud.url}/?backend=auto&codec=ans&sample=0`);
  await page.waitForFunction(() => Number(document.body.dataset.frames || 0) >= 1, null, { timeout: 180_000 });
  const firstResultMs = Date.now() - t0;
  await waitReady(page);
  const page_ = await page.evaluate(() => ({
    firstResultInPageMs: window.splitfeat.firstResultMs(),
    comparison: window.splitfeat.comparison(),
    chosen: window.splitfeat.backend(),
    gpu: window.splitfeat.gpu(),
    sessions: window.splitfeat.sessions(),
    userAgent: navigator.userAgent,
  }));
  result.load = { navigationToFirstResultMs: firstResultMs, pageStartToFirstResultMs: page_.firstResultInPageMs };
  result.browser = page_.userAgent;
  result.adapter = page_.gpu;
  result.warmupMs = Object.fromEntries(Object.entries(page_.sessions).map(([k, v]) => [k, v.warmupMs]));
  result.autoChoice = { ...page_.comparison, chosen: page_.chosen };

  // Edge time per frame, both devices, same page, same frame, interleaved.
  const perFrame = await page.evaluate(async (n) => {
    const sf = window.splitfeat;
    const sessions = sf.sessions();
    const out = { cpu: { edge: [], code: [], total: [], bytes: [] }, webgpu: { edge: [], code: [], total: [], bytes: [] } };
    for (let i = 0; i < n; i++) {
      for (const b of ["cpu", "webgpu"]) {
        if (!sessions[b]) continue;
        const r = await sf.encode(b, "ans", 8);
        out[b].edge.push(r.timings.edgeMs);
        out[b].code.push(r.timings.codeMs);
        out[b].total.push(r.timings.totalMs);
        out[b].bytes.push(r.byteCount);
      }
    }
    return out;
  }, FRAMES);
  result.edgePerFrameMs = {};
  for (const [b, v] of Object.entries(perFrame)) {
    if (!v.edge.length) continue;
    result.edgePerFrameMs[b] = { edge: stats(v.edge), code: stats(v.code), total: stats(v.total), bytes: stats(v.bytes) };
  }

  // Drive mode, on each device: the pipeline's figures over DRIVE_SECONDS after a
  // two-second start (frames/s, end-to-end latency, stage times, drops).
  result.drive = {};
  for (const backend of DRIVE_ONLY ? ["cpu"] : ["cpu", "webgpu"]) {
    if (!page_.sessions[backend]) continue;
    await page.evaluate((b) => window.splitfeat.setBackend(b), backend);
    await page.locator('[data-tab="drive"]').click();
    await page.locator("#drive-toggle").click();
    await page.waitForTimeout(2000);
    result.drive[backend] = await drive(page, DRIVE_SECONDS);
    // The bandwidth budgets, on the CPU edge.
    if (backend === "cpu" && !DRIVE_ONLY) result.budgets = await budgets(page, BUDGETS, DRIVE_SECONDS);
    await page.locator("#drive-toggle").click();
    await page.evaluate(() => window.splitfeat.idle());
  }
} finally {
  await close();
}

// Model switches, still input, fresh profiles: "auto" with WebGPU (SwiftShader) beside
// the CPU, and the CPU alone (no WebGPU adapter).
result.switchMs = {};
try {
  for (const [name, webgpu, query] of DRIVE_ONLY ? [] : [["auto", true, "backend=auto"], ["cpu", false, "backend=cpu"]]) {
    const browser = await launch({ webgpu });
    try {
      result.switchMs[name] = await cachedSwitches(browser.page, `${cloud.url}/?${query}&codec=ans&sample=0`, waitReady);
    } finally {
      await browser.close();
    }
  }
} finally {
  await cloud.stop();
}
writeFileSync(join(ARTIFACTS, DRIVE_ONLY ? "measurements-drive.json" : "measurements.json"), JSON.stringify(result, null, 2));
console.log(JSON.stringify(result, null, 2));
