// The edge's two devices: WebGPU (on SwiftShader, a software adapter) and the CPU
// fallback when the browser has no WebGPU adapter.

import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";

import { banners, chromiumAvailable, launch, screenshot, waitFrames, waitReady } from "./support/browser.js";
import { ARTIFACTS, requireWasm, startCloud, tempDir, webExample } from "./support/env.js";

const skip = chromiumAvailable() ? false : "no /usr/bin/chromium (apt-get install chromium)";

async function edgeState(page) {
  return page.evaluate(() => {
    const sf = window.splitfeat;
    const last = sf.lastEncode();
    return {
      backend: sf.backend(),
      badge: document.querySelector("#backend-badge").dataset.backend,
      badgeText: document.querySelector("#backend-badge").textContent.trim(),
      bytes: last?.byteCount ?? 0,
      resultBackend: last?.backend,
      comparison: sf.comparison(),
      gpu: sf.gpu(),
      cloud: document.querySelector("#cloud-badge").dataset.status,
      recon: document.querySelector("#recon-canvas").dataset.drawn === "true",
    };
  });
}

describe("edge devices", { skip }, () => {
  let cloud;
  let manifest;

  before(async () => {
    requireWasm();
    cloud = await startCloud();
    manifest = await (await fetch(`${cloud.url}/assets/manifest.json`)).json();
  });

  after(async () => {
    await cloud?.stop();
  });

  test("falls back to the CPU without a WebGPU adapter", async (t) => {
    const { page, close } = await launch({ webgpu: false });
    t.after(close);
    await page.goto(`${cloud.url}/`);
    assert.equal(await waitReady(page), "ready");
    const auto = await edgeState(page);
    assert.equal(auto.gpu.available, false);
    assert.equal(auto.backend, "cpu");
    assert.equal(auto.badge, "cpu");
    assert.match(auto.badgeText, /CPU/);
    assert.ok(auto.bytes > 0 && auto.recon);

    // Asking for WebGPU explicitly: a warning, and the CPU keeps working.
    await page.goto(`${cloud.url}/?backend=webgpu`);
    assert.equal(await waitReady(page), "ready");
    const forced = await edgeState(page);
    assert.equal(forced.backend, "cpu");
    assert.equal(forced.resultBackend, "cpu");
    assert.match((await banners(page)).webgpu ?? "", /^warn: WebGPU could not run the encoder/);
    assert.ok(forced.bytes > 0 && forced.recon);
  });

  test("runs the encoder on WebGPU (SwiftShader) and compares it with the CPU", async (t) => {
    const { page, messages, close } = await launch({ webgpu: true });
    t.after(close);
    try {
      await page.goto(`${cloud.url}/?backend=webgpu&codec=ans&sample=0`);
      assert.equal(await waitReady(page), "ready", JSON.stringify(await banners(page)));
      const gpu = await edgeState(page);
      assert.equal(gpu.gpu.available, true);
      assert.equal(gpu.backend, "webgpu");
      assert.equal(gpu.resultBackend, "webgpu");
      assert.equal(gpu.badge, "webgpu");
      assert.ok(gpu.bytes > 0 && gpu.recon && gpu.cloud === "ok");
      await screenshot(page, "page-webgpu");

      // The WebGPU stream against the native (CPU) one for the same image.
      const sample = await page.evaluate(async () => (await (await fetch("samples/index.json")).json()).samples[0].file);
      const bytes = await page.evaluate(() => Array.from(window.splitfeat.lastEncode().bitstream));
      const file = join(tempDir("splitfeat-bytes-"), "webgpu.bin");
      writeFileSync(file, Uint8Array.from(bytes));
      const report = JSON.parse(
        webExample("native_encode", ["--assets", "assets", "--model", manifest.models[0].id, "--image", `www/samples/${sample}`, "--codec", "ans", "--compare", file]),
      );
      writeFileSync(join(ARTIFACTS, "bitstream-webgpu-vs-native.json"), JSON.stringify(report, null, 2));
      console.log(`# native vs browser (WebGPU): ${JSON.stringify(report.compare)}`);
      assert.ok(report.compare.same_shape_codec_bits);
      // Float kernels differ between GPU and CPU; codes may move by a step or two.
      assert.ok(report.compare.max_code_difference <= 2, JSON.stringify(report.compare));
      assert.ok(report.compare.codes_differing / report.compare.codes < 0.05, JSON.stringify(report.compare));

      // "auto" times both devices on the current frame and keeps the faster.
      await page.evaluate(() => window.splitfeat.setBackend("auto"));
      await page.waitForFunction(() => window.splitfeat.comparison() != null, null, { timeout: 120_000 });
      await page.evaluate(() => window.splitfeat.idle());
      const auto = await edgeState(page);
      const c = auto.comparison;
      assert.ok(c.cpu > 0 && c.webgpu > 0);
      assert.equal(auto.backend, c.webgpu < c.cpu ? "webgpu" : "cpu");
      assert.equal(auto.badge, auto.backend);
      console.log(`# edge per frame, same page: CPU ${c.cpu.toFixed(1)} ms, WebGPU (${auto.gpu.name}) ${c.webgpu.toFixed(1)} ms -> ${auto.backend}`);
      writeFileSync(join(ARTIFACTS, "backend-comparison.json"), JSON.stringify({ ...c, chosen: auto.backend, adapter: auto.gpu }, null, 2));
      await waitFrames(page, 0);
      await screenshot(page, "page-auto");
    } catch (err) {
      console.log(messages.join("\n"));
      throw err;
    }
  });
});
