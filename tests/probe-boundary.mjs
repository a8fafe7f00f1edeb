// Times the JavaScript-to-wasm boundary that model switching crosses: EdgeSession
// creation from a manifest entry given as a JavaScript object (serde_wasm_bindgen
// reads it field by field) and as JSON text (serde_json), same weights, same page.
// The page loads entries as JSON text since this was measured (docs/results-web.md).
// Prints JSON.
//
//   cd tests && node probe-boundary.mjs [--runs 6]

import { cpus } from "node:os";

import { launch } from "./support/browser.js";
import { requireWasm, startCloud } from "./support/env.js";

const i = process.argv.indexOf("--runs");
const RUNS = i > 0 ? Number(process.argv[i + 1]) : 6;

requireWasm();
const cloud = await startCloud();
const { page, close } = await launch();
let result;
try {
  await page.goto(`${cloud.url}/?backend=cpu`);
  result = await page.evaluate(async (runs) => {
    // The module on this page's thread (the page itself runs it in a worker).
    const { default: init, EdgeSession } = await import("/pkg/splitfeat_web.js");
    await init({ module_or_path: "/pkg/splitfeat_web_bg.wasm" });
    const manifest = await (await fetch("/assets/manifest.json")).json();
    const entry = manifest.models[0];
    const weights = new Uint8Array(await (await fetch(`/assets/${entry.edge.path}`)).arrayBuffer());
    const time = async (arg) => {
      const t0 = performance.now();
      const session = await EdgeSession.create(arg, weights, "cpu");
      const ms = performance.now() - t0;
      const warmup = session.warmupMs();
      session.free();
      return { ms, warmup };
    };
    const out = { object: [], json: [] };
    for (let r = 0; r < runs; r++) {
      out.object.push(await time(entry));
      out.json.push(await time(JSON.stringify(entry)));
    }
    return { model: entry.name, entryJsonBytes: JSON.stringify(entry).length, ...out };
  }, RUNS);
} finally {
  await close();
  await cloud.stop();
}
const median = (v) => [...v].sort((a, b) => a - b)[v.length >> 1];
console.log(
  JSON.stringify(
    {
      date: new Date().toISOString(),
      machine: `${cpus().length} x ${cpus()[0]?.model}`,
      ...result,
      medianMs: { object: median(result.object.map((x) => x.ms)), json: median(result.json.map((x) => x.ms)) },
    },
    null,
    2,
  ),
);
