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
    assert.equal(fetched.length, 0, `refetched: ${fetched.join(", ")}`);
    const source = await page.textContent("#footer-info");
    assert.match(source ?? "", /splitfeat-web/);
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
