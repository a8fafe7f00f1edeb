// Model switching and weight caching, on fixture models (untrained, so rates mean
// nothing here; tests/page.test.js checks rates with the shipped models).

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";

import { banners, chromiumAvailable, launch, waitReady } from "./support/browser.js";
import { fixtureAssets, requireWasm, startCloud } from "./support/env.js";

const skip = chromiumAvailable() ? false : "no /usr/bin/chromium (apt-get install chromium)";

describe("lambda slider on fixture models", { skip }, () => {
  let cloud;
  let models;

  before(async () => {
    requireWasm();
    const assets = fixtureAssets(3);
    models = JSON.parse(readFileSync(join(assets, "manifest.json"), "utf8")).models;
    cloud = await startCloud({ assets });
  });

  after(async () => {
    await cloud?.stop();
  });

  test("switches models without a reload and fetches each model's weights once", async (t) => {
    const { page, close } = await launch();
    t.after(close);
    const fetched = [];
    page.on("request", (r) => {
      if (r.url().endsWith("/edge.bpk")) fetched.push(new URL(r.url()).pathname);
    });
    await page.goto(`${cloud.url}/?backend=cpu`);
    assert.equal(await waitReady(page), "ready", JSON.stringify(await banners(page)));
    const ticks = await page.locator("#lambda-ticks .tick").count();
    assert.equal(ticks, models.length);

    const order = [1, 2, 0, 2];
    for (const i of order) {
      await page.locator("#lambda").fill(String(i));
      await page.waitForFunction((id) => window.splitfeat.lastEncode()?.modelId === id, models[i].id, { timeout: 60_000 });
      await page.evaluate(() => window.splitfeat.idle());
      const s = await page.evaluate(() => ({
        label: document.querySelector("#lambda-value").textContent,
        cloud: document.querySelector("#cloud-badge").dataset.status,
      }));
      assert.equal(s.cloud, "ok", "the cloud accepts the new model's features");
      assert.match(s.label, /λ = /);
    }
    assert.deepEqual(await banners(page), {});
    const unique = new Set(fetched);
    assert.equal(unique.size, models.length);
    assert.equal(fetched.length, models.length, `weights fetched: ${fetched.join(", ")}`);

    // A second visit in the same profile reads the weights from the Cache Storage API.
    fetched.length = 0;
    await page.reload();
    assert.equal(await waitReady(page), "ready");
    const source = await page.textContent("#footer-info");
    assert.match(source ?? "", /splitfeat-web/);
    assert.equal(await page.evaluate(() => window.splitfeat.selectModel(1)), true);
    assert.equal((await page.evaluate(() => window.splitfeat.lastSwitch())).weights, "cache");
    // Back to a model loaded before: its session is still open, nothing is loaded.
    assert.equal(await page.evaluate(() => window.splitfeat.selectModel(0)), true);
    const back = await page.evaluate(() => window.splitfeat.lastSwitch());
    assert.deepEqual([back.modelId, back.weights, back.reused], [models[0].id, "session", true]);
    assert.equal(fetched.length, 0, `refetched: ${fetched.join(", ")}`);
  });

  test("a switch loads the model on the edge device in use only; the other catches up when used", async (t) => {
    const { page, messages, close } = await launch({ webgpu: true });
    t.after(close);
    const fetched = [];
    page.on("request", (r) => {
      if (r.url().endsWith("/edge.bpk")) fetched.push(new URL(r.url()).pathname);
    });
    try {
      // "auto" opens both devices on the first model and keeps the faster.
      await page.goto(`${cloud.url}/?backend=auto`);
      assert.equal(await waitReady(page), "ready", JSON.stringify(await banners(page)));
      const sessions = () => page.evaluate(() => window.splitfeat.sessions());
      const start = await sessions();
      assert.deepEqual(Object.keys(start).sort(), ["cpu", "webgpu"]);
      const active = await page.evaluate(() => window.splitfeat.backend());
      const idle = active === "cpu" ? "webgpu" : "cpu";

      assert.equal(await page.evaluate(() => window.splitfeat.selectModel(1)), true);
      const first = await page.evaluate(() => window.splitfeat.lastSwitch());
      assert.deepEqual([first.modelId, first.backend, first.reused], [models[1].id, active, false]);
      const after1 = await sessions();
      assert.equal(after1[active].modelId, models[1].id);
      assert.deepEqual(after1[idle], start[idle], `the ${idle} session was not touched`);
      assert.ok(after1[active].models.includes(models[0].id), "the first model's session stays open");

      // Back to the first model: its session is reused on the device in use.
      assert.equal(await page.evaluate(() => window.splitfeat.selectModel(0)), true);
      const back = await page.evaluate(() => window.splitfeat.lastSwitch());
      assert.deepEqual([back.modelId, back.weights, back.reused], [models[0].id, "session", true]);
      assert.deepEqual((await sessions())[idle], start[idle]);

      // The other device loads the current model when it is chosen (weights from memory).
      assert.equal(await page.evaluate(() => window.splitfeat.selectModel(2)), true);
      await page.evaluate((b) => window.splitfeat.setBackend(b), idle);
      await page.evaluate(() => window.splitfeat.idle());
      const used = await sessions();
      assert.equal(used[idle].modelId, models[2].id);
      const last = await page.evaluate(() => ({ ...window.splitfeat.lastEncode(), bitstream: null, tiled: null }));
      assert.deepEqual([last.backend, last.modelId], [idle, models[2].id]);
      assert.deepEqual(await banners(page), {});
      assert.deepEqual([...new Set(fetched)].length, fetched.length, `weights fetched twice: ${fetched.join(", ")}`);
    } catch (err) {
      console.log(messages.join("\n"));
      throw err;
    }
  });

  test("a bandwidth budget without evaluations to choose from says so", async (t) => {
    // Fixture models carry no evaluation: the budget has nothing to pick from.
    const { page, close } = await launch();
    t.after(close);
    await page.goto(`${cloud.url}/?backend=cpu&budget=300`);
    assert.equal(await waitReady(page), "ready");
    const b = await banners(page);
    assert.match(b.budget ?? "", /^warn: The bandwidth budget has no evaluated setting to choose from/);
    assert.equal(await page.evaluate(() => window.splitfeat.budget().choice), null);
    assert.ok((await page.evaluate(() => window.splitfeat.lastEncode().byteCount)) > 0, "frames still go out");
  });

  test("stays on the current model when another fails to load", async (t) => {
    const { page, close } = await launch();
    t.after(close);
    await page.route(`**/models/${models[1].name}/edge.bpk`, (route) => route.fulfill({ status: 404, body: "gone" }));
    await page.goto(`${cloud.url}/?backend=cpu`);
    await waitReady(page);
    await page.locator("#lambda").fill("1");
    await page.waitForSelector("#banner-model", { timeout: 30_000 });
    await page.evaluate(() => window.splitfeat.idle());
    const b = await banners(page);
    assert.match(b.model, /fixture-1.*failed to load.*HTTP 404.*Still using “fixture-0”/);
    assert.equal(await page.evaluate(() => window.splitfeat.lastEncode().modelId), models[0].id);
    assert.equal(await page.inputValue("#lambda"), "0");
  });
});
