// The bandwidth budget (www/js/budget.js) with the shipped models and their
// evaluations: the setting each budget chooses, what the page shows of it, and the
// simulated link keeping the upload within the budget over the drive sequence.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { banners, chromiumAvailable, launch, waitReady } from "./support/browser.js";
import { requireWasm, startCloud } from "./support/env.js";

const skip = chromiumAvailable() ? false : "no /usr/bin/chromium (apt-get install chromium)";

/**
 * What the budget should choose, worked out here from the manifest alone: the most
 * accurate setting (on `metric`) whose test-set bytes times `calibration` fit in
 * `allowedBytes`, fewer bytes on a tie; else the cheapest. Settings the page sends:
 * PNG and ANS at any bit depth, JPEG at its evaluated qualities.
 */
function expectedChoice(models, { metric, allowedBytes, calibration }) {
  const sign = metric === "disparity_rmse" ? -1 : 1;
  const all = models.flatMap((m, modelIndex) =>
    m.eval.results
      .filter((r) => r.setting !== "float" && /^(png|ans|jpeg\d+)$/.test(r.codec))
      .map((r) => ({ modelIndex, setting: r.setting, bytes: r.bytes_per_image, score: sign * r[metric] })),
  );
  const fit = all.filter((c) => c.bytes * calibration <= allowedBytes);
  const better = (a, b) => (a.score !== b.score ? a.score > b.score : a.bytes < b.bytes);
  if (fit.length) return { ...fit.reduce((a, b) => (better(b, a) ? b : a)), fits: true };
  return { ...all.reduce((a, b) => (b.bytes < a.bytes ? b : a)), fits: false };
}

describe("bandwidth budget", { skip }, () => {
  let cloud;
  let models;

  before(async () => {
    requireWasm();
    cloud = await startCloud();
    const manifest = await (await fetch(`${cloud.url}/assets/manifest.json`)).json();
    models = [...manifest.models].sort((a, b) => a.lambda - b.lambda || a.name.localeCompare(b.name));
  });

  after(async () => {
    await cloud?.stop();
  });

  test("chooses the most accurate setting that fits, and says so", async (t) => {
    if (models.length < 2 || !models.every((m) => m.eval)) {
      t.skip("the budget test needs two or more evaluated models in assets/manifest.json");
      return;
    }
    const { page, messages, close } = await launch();
    t.after(close);
    try {
      // A still counts at 25 frames/s: 100 kbit/s leaves 450 bytes a frame, less than
      // any setting's test-set mean, so the cheapest is chosen; 1 Mbit/s leaves 4.5 KB.
      await page.goto(`${cloud.url}/?backend=cpu&budget=100`);
      assert.equal(await waitReady(page), "ready", JSON.stringify(await banners(page)));
      for (const kbps of [100, 1000]) {
        await page.evaluate((k) => window.splitfeat.setBudget(k), kbps);
        await page.evaluate(() => window.splitfeat.idle());
        const s = await page.evaluate(() => ({
          budget: window.splitfeat.budget(),
          model: window.splitfeat.model(),
          last: { ...window.splitfeat.lastEncode(), bitstream: null, tiled: null },
          note: document.querySelector("#budget-note").textContent,
          noteShown: !document.querySelector("#budget-note").hidden,
          disabled: ["#lambda", "#bits", '#codec input[value="png"]'].map((q) => document.querySelector(q).disabled),
          select: document.querySelector("#budget").value,
        }));
        const c = s.budget.choice;
        console.log(`# ${kbps} kbit/s: ${c.setting} of model ${c.modelIndex}, ${Math.round(c.expectedBytes)} of ${Math.round(c.allowedBytes)} bytes expected, ${s.last.byteCount} sent`);
        assert.equal(s.budget.kbps, kbps);
        assert.equal(s.select, String(kbps));
        assert.ok(Math.abs(c.allowedBytes - (0.9 * kbps * 1000) / 25 / 8) < 1e-6, `allowed bytes ${c.allowedBytes}`);
        const want = expectedChoice(models, c);
        assert.deepEqual([c.modelIndex, c.setting, c.fits], [want.modelIndex, want.setting, want.fits]);
        if (kbps === 100) assert.equal(c.fits, false, "nothing fits 450 bytes");
        else assert.equal(c.fits, true);
        // The frame went out with the chosen model, codec and bit depth.
        assert.equal(s.model.index, c.modelIndex);
        assert.equal(s.last.modelId, models[c.modelIndex].id);
        assert.equal(s.last.codec, c.codec === "jpeg" ? `jpeg${c.quality}` : c.codec);
        assert.equal(s.last.bits, c.bits);
        // Shown, and the controls it sets are the budget's.
        assert.ok(s.noteShown);
        assert.match(s.note, kbps === 100 ? /no setting fits; the cheapest/ : /the most accurate setting that fits/);
        assert.deepEqual(s.disabled, [true, true, true]);
      }
      await page.evaluate(() => window.splitfeat.setBudget(null));
      const off = await page.evaluate(() => ({
        budget: window.splitfeat.budget(),
        noteShown: !document.querySelector("#budget-note").hidden,
        disabled: ["#lambda", "#bits", '#codec input[value="png"]'].map((q) => document.querySelector(q).disabled),
      }));
      assert.deepEqual(off, { budget: { kbps: null, choice: null }, noteShown: false, disabled: [false, false, false] });
      assert.deepEqual(await banners(page), {});
    } catch (err) {
      console.log(messages.join("\n"));
      throw err;
    }
  });

  test("the upload never exceeds the budget over the drive sequence", async (t) => {
    const { page, messages, close } = await launch();
    t.after(close);
    // Below what the drive would send unthrottled: even the cheapest setting (about
    // 0.6 KB) at 2 frames/s is 10 kbit/s.
    const KBPS = 10;
    try {
      await page.goto(`${cloud.url}/?backend=cpu&fps=30&budget=${KBPS}`);
      assert.equal(await waitReady(page), "ready", JSON.stringify(await banners(page)));
      await page.locator('[data-tab="drive"]').click();
      await page.locator("#drive-toggle").click();
      await page.waitForFunction(() => window.splitfeat.pipeline().counts.sent >= 8, null, { timeout: 180_000, polling: 100 });
      await page.locator("#drive-toggle").click();
      await page.evaluate(() => window.splitfeat.idle());
      const { uploads, p, budget, label } = await page.evaluate(() => ({
        uploads: window.splitfeat.uploads(),
        p: window.splitfeat.pipeline(),
        budget: window.splitfeat.budget(),
        label: document.querySelector("#kpi-kbps-label").textContent,
      }));
      const total = uploads.reduce((a, u) => a + u.bytes, 0);
      const seconds = (uploads.at(-1).leftAt - uploads[0].leftAt + uploads[0].linkMs) / 1000;
      console.log(`# drive at ${KBPS} kbit/s: ${uploads.length} frames, ${((total * 8) / 1000 / seconds).toFixed(1)} kbit/s, ${p.fps?.toFixed(1)} frames/s, last choice ${budget.choice?.setting}`);
      assert.equal(uploads.length, p.counts.sent);
      assert.match(label, new RegExp(`budget ${KBPS}$`));
      // Every stretch of consecutive frames, from the start of the first one's link
      // time to the moment the last one left, carried at most the budget.
      for (let j = 0; j < uploads.length; j++) {
        let bits = 0;
        for (let k = j; k < uploads.length; k++) {
          bits += uploads[k].bytes * 8;
          const ms = uploads[k].leftAt - uploads[j].leftAt + uploads[j].linkMs;
          assert.ok(bits <= KBPS * ms * (1 + 1e-9) + 1e-6, `frames ${j}..${k}: ${bits} bits in ${ms} ms over ${KBPS} kbit/s`);
        }
        assert.ok(Math.abs(uploads[j].linkMs - (uploads[j].bytes * 8) / KBPS) < 1e-6);
      }
      assert.deepEqual(await banners(page), {});
    } catch (err) {
      console.log(messages.join("\n"));
      throw err;
    }
  });
});
