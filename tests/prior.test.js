// The `prior` codec on the page (docs/bitstream.md, "prior"): offered only for a model
// that ships prior tables, coded in the browser's wasm with the tables fetched beside
// the weights, the payload byte for byte the native one on the CPU path, decoded by
// the server with the same tables. Fixture models (untrained: rates mean nothing here).

import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";

import { banners, chromiumAvailable, launch, waitReady } from "./support/browser.js";
import { ARTIFACTS, cargo, fixtureAssets, requireWasm, startCloud, tempDir, webExample } from "./support/env.js";
import { serveStatic } from "./support/static.js";

const skip = chromiumAvailable() ? false : "no /usr/bin/chromium (apt-get install chromium)";

describe("prior codec", { skip }, () => {
  let cloud;
  let assets;
  let models;

  before(async () => {
    requireWasm();
    assets = fixtureAssets(2, "tiny", { prior: true });
    models = JSON.parse(readFileSync(join(assets, "manifest.json"), "utf8")).models;
    cloud = await startCloud({ assets });
  });

  after(async () => {
    await cloud?.stop();
  });

  const priorShown = (page) => page.evaluate(() => !document.querySelector("#codec [data-codec=prior]").hidden);
  const showing = (page) =>
    page.evaluate(() => ({
      codec: window.splitfeat.lastEncode()?.codec,
      model: window.splitfeat.lastEncode()?.modelId,
      checked: document.querySelector("#codec input:checked")?.value,
      cloud: document.querySelector("#cloud-badge").dataset.status,
    }));

  test("is offered for a model with tables, codes like the native build and decodes on the server", async (t) => {
    assert.equal(models[0].prior, undefined);
    assert.ok(models[1].prior, "the second fixture model ships tables");
    const { page, messages, close } = await launch();
    t.after(close);
    const fetched = [];
    page.on("request", (r) => {
      if (r.url().endsWith("/prior.json")) fetched.push(new URL(r.url()).pathname);
    });
    try {
      // Asked for `prior` on the baseline, which has no tables: ANS, and no Prior button.
      await page.goto(`${cloud.url}/?backend=cpu&codec=prior&sample=0`);
      assert.equal(await waitReady(page), "ready", JSON.stringify(await banners(page)));
      assert.equal(await priorShown(page), false);
      let s = await showing(page);
      assert.equal(s.codec, "ans");
      assert.equal(s.checked, "ans");

      // The model with tables: the button appears, and choosing it codes with them.
      await page.locator("#lambda").fill("1");
      await page.waitForFunction((id) => window.splitfeat.lastEncode()?.modelId === id, models[1].id, { timeout: 60_000 });
      assert.equal(await priorShown(page), true);
      await page.locator("#codec [data-codec=prior]").click();
      await page.waitForFunction(() => window.splitfeat.lastEncode()?.codec === "prior", null, { timeout: 60_000 });
      await page.evaluate(() => window.splitfeat.idle());
      s = await showing(page);
      assert.deepEqual(s, { codec: "prior", model: models[1].id, checked: "prior", cloud: "ok" });
      assert.deepEqual(await banners(page), {});
      assert.deepEqual(fetched, [`/assets/${models[1].prior.path}`]);

      // The stream the native edge makes of the same image with the same tables.
      const sample = await page.evaluate(async () => (await (await fetch("samples/index.json")).json()).samples[0].file);
      const browser = await page.evaluate(() => Array.from(window.splitfeat.lastEncode().bitstream));
      const file = join(tempDir("splitfeat-bytes-"), "prior.bin");
      writeFileSync(file, Uint8Array.from(browser));
      const report = JSON.parse(
        webExample("native_encode", ["--assets", assets, "--model", models[1].id, "--image", `www/samples/${sample}`, "--codec", "prior", "--compare", file]),
      );
      writeFileSync(join(ARTIFACTS, "bitstream-prior-cpu-vs-native.json"), JSON.stringify(report, null, 2));
      console.log(`# native vs browser (CPU, prior): ${JSON.stringify(report.compare)}`);
      assert.equal(report.codec, "prior");
      assert.ok(report.compare.same_shape_codec_bits, JSON.stringify(report.compare));
      // The coder is bit-exact across targets: the same codes give the same payload.
      // The header's f32 range may differ in its last bits where the edge's float
      // sums do (as for ans: tests/page.test.js), and then so does the CRC.
      assert.equal(report.compare.codes_differing, 0, JSON.stringify(report.compare));
      assert.equal(report.compare.payload_identical, true, JSON.stringify(report.compare));

      // Back to the baseline: the choice falls back to ANS and the button goes.
      await page.locator("#lambda").fill("0");
      await page.waitForFunction((id) => window.splitfeat.lastEncode()?.modelId === id, models[0].id, { timeout: 60_000 });
      await page.evaluate(() => window.splitfeat.idle());
      s = await showing(page);
      assert.equal(s.codec, "ans");
      assert.equal(s.checked, "ans");
      assert.equal(await priorShown(page), false);
      assert.deepEqual(await banners(page), {});
    } catch (err) {
      console.log(messages.join("\n"));
      throw err;
    }
  });

  test("the static site ships the tables and its cloud worker decodes prior streams", async (t) => {
    const dist = tempDir("splitfeat-dist-");
    cargo(["xtask", "dist", "--no-build", "--assets", assets, "--out", dist]);
    const shipped = readFileSync(join(dist, "assets", models[1].prior.path));
    assert.equal(shipped.length, models[1].prior.bytes);
    const site = await serveStatic(dist);
    const { page, messages, close } = await launch();
    t.after(async () => {
      await close();
      await site.close();
    });
    try {
      await page.goto(`${site.url}/?backend=cpu&codec=prior&sample=0&model=${models[1].id}`);
      assert.equal(await waitReady(page), "ready", JSON.stringify(await banners(page)));
      await page.evaluate(() => window.splitfeat.idle());
      const s = await showing(page);
      assert.deepEqual(s, { codec: "prior", model: models[1].id, checked: "prior", cloud: "ok" });
      assert.equal(await page.evaluate(() => document.body.dataset.cloud), "worker");
      assert.deepEqual(await banners(page), {});
    } catch (err) {
      console.log(messages.join("\n"));
      throw err;
    }
  });
});
