// Measures the static site for docs/results-static.md: dist/ size (total and gzip -9
// per file, by kind), and time to first result with a fresh browser profile in each
// cloud mode: the worker (dist/ on a plain static server), a splitfeat-cloud serving
// the page (same origin), and dist/ with `?cloud=` to that server (cross-origin).
// Also the worker's and the server's per-frame times for the same stream, drive mode
// with the worker cloud (frames/s end to end, latency, stage times, drops) and model
// switches on the static site. Prints JSON and writes
// tests/artifacts/measurements-static.json.
//
//   cd tests && SPLITFEAT_CLOUD_BIN=$PWD/../target/release/splitfeat-cloud node measure-static.mjs [--runs 5] [--frames 10] [--drive-seconds 15] [--assets DIR]
//   (`--assets DIR`: another zoo, as in measure.mjs)

import { readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join, relative } from "node:path";
import { gzipSync } from "node:zlib";

import { launch, waitReady } from "./support/browser.js";
import { ARTIFACTS, cargo, requireWasm, startCloud, tempDir } from "./support/env.js";
import { cachedSwitches, drive, flagValue, numberFlag } from "./support/measure.js";
import { serveStatic } from "./support/static.js";

const RUNS = numberFlag("runs", 5);
const FRAMES = numberFlag("frames", 10);
const DRIVE_SECONDS = numberFlag("drive-seconds", 15);
/** How many cloud workers the worker mode asks for (`?cloud_workers=`); the page's default when not given. */
const CLOUD_WORKERS = numberFlag("cloud-workers", null);
const ASSETS = flagValue("assets") ?? null;

const stats = (v) => {
  const s = [...v].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { n: s.length, median: q(0.5), min: s[0], max: s[s.length - 1] };
};

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

requireWasm();
const dist = tempDir("splitfeat-dist-");
cargo(["xtask", "dist", "--no-build", "--out", dist, ...(ASSETS ? ["--assets", ASSETS] : [])]);
const kind = (f) => (f.endsWith(".wasm") ? "wasm" : /\.(js|css|html)$/.test(f) ? "page" : f.startsWith("assets/") ? "models" : "samples");
const size = { total: { files: 0, bytes: 0, gzip9: 0 } };
for (const path of walk(dist)) {
  const f = relative(dist, path);
  const bytes = readFileSync(path);
  const gz = gzipSync(bytes, { level: 9 }).length;
  for (const k of ["total", kind(f)]) {
    size[k] ??= { files: 0, bytes: 0, gzip9: 0 };
    size[k].files += 1;
    size[k].bytes += bytes.length;
    size[k].gzip9 += gz;
  }
}

const site = await serveStatic(dist);
const cloud = await startCloud({ args: ["--allow-origin", site.url], ...(ASSETS ? { assets: ASSETS } : {}) });

/** One fresh profile: navigation to the first frame's outputs, and the page's own figure. */
async function firstResult(url) {
  const { page, close } = await launch();
  try {
    const t0 = Date.now();
    await page.goto(url);
    await page.waitForFunction(() => Number(document.body.dataset.cloudFrames || 0) >= 1, null, { timeout: 180_000, polling: 20 });
    const navigationMs = Date.now() - t0;
    if ((await waitReady(page)) !== "ready") throw new Error(`${url}: page failed`);
    const r = await page.evaluate(() => ({ pageMs: window.splitfeat.firstResultMs(), cloud: document.body.dataset.cloud }));
    return { navigationMs, ...r };
  } finally {
    await close();
  }
}

const modes = {
  worker: `${site.url}/?backend=cpu&codec=ans&sample=0${CLOUD_WORKERS ? `&cloud_workers=${CLOUD_WORKERS}` : ""}`,
  "same-origin": `${cloud.url}/?backend=cpu&codec=ans&sample=0`,
  "cross-origin": `${site.url}/?backend=cpu&codec=ans&sample=0&cloud=${encodeURIComponent(cloud.url)}`,
};
const load = {};
for (let i = 0; i < RUNS; i++) {
  for (const [mode, url] of Object.entries(modes)) {
    const r = await firstResult(url);
    if (r.cloud !== (mode === "same-origin" ? "same-origin" : mode === "worker" ? "worker" : "url")) throw new Error(`${mode}: cloud ${r.cloud}`);
    load[mode] ??= { navigationMs: [], pageMs: [] };
    load[mode].navigationMs.push(r.navigationMs);
    load[mode].pageMs.push(r.pageMs);
  }
}

// Per-frame cloud time for the same stream: the worker (in the page) and the server.
const { page, close } = await launch();
let perFrame;
let workerDrive;
try {
  await page.goto(modes.worker);
  await waitReady(page);
  perFrame = await page.evaluate(
    async ({ n, serverUrl }) => {
      const sf = window.splitfeat;
      const cloud = { infer: (model, bitstream) => sf.infer(model, bitstream) };
      // The server, from the same page (cross-origin, allowed): as js/cloud.js posts
      // (planes format, drawn by the page's wasm).
      const server = { infer: (model, bitstream) => sf.inferAt(serverUrl, model, bitstream) };
      const last = sf.lastEncode();
      const stream = last.bitstream;
      const out = { worker: { roundTrip: [], heads: [], total: [] }, server: { roundTrip: [], heads: [], total: [] } };
      for (let i = 0; i < n; i++) {
        for (const [name, c] of [["worker", cloud], ["server", server]]) {
          const r = await c.infer(last.modelId, stream);
          const t = r.response.timings_ms;
          out[name].roundTrip.push(r.roundTripMs);
          out[name].heads.push(Object.values(t.heads).reduce((a, b) => a + b, 0));
          out[name].total.push(t.total);
        }
      }
      return { out, bytes: stream.length };
    },
    { n: FRAMES, serverUrl: cloud.url },
  );
  // Drive mode with the worker cloud (the CPU edge).
  await page.locator('[data-tab="drive"]').click();
  await page.locator("#drive-toggle").click();
  await page.waitForTimeout(2000);
  workerDrive = await drive(page, DRIVE_SECONDS);
  await page.locator("#drive-toggle").click();
} finally {
  await close();
  await cloud.stop();
}

// Model switches on the static site (the worker cloud loads each model's heads too).
const switcher = await launch();
let workerSwitches;
try {
  workerSwitches = await cachedSwitches(switcher.page, modes.worker, waitReady);
} finally {
  await switcher.close();
  await site.close();
}

const result = {
  date: new Date().toISOString(),
  machine: `${cpus().length} x ${cpus()[0]?.model}`,
  dist: size,
  firstResult: Object.fromEntries(Object.entries(load).map(([m, v]) => [m, { navigationMs: stats(v.navigationMs), pageMs: stats(v.pageMs) }])),
  cloudPerFrameMs: Object.fromEntries(Object.entries(perFrame.out).map(([m, v]) => [m, { roundTrip: stats(v.roundTrip), heads: stats(v.heads), total: stats(v.total) }])),
  streamBytes: perFrame.bytes,
  workerDrive,
  workerSwitchMs: workerSwitches,
};
writeFileSync(join(ARTIFACTS, "measurements-static.json"), JSON.stringify(result, null, 2));
console.log(JSON.stringify(result, null, 2));
