// The page for everyone, with the shipped models (assets/): keyboard use of the lambda
// slider and the codec radio group, error banners in view wherever the page is
// scrolled, no control spilling out of its group, the captions on what the models
// know and what lambda buys, and the phone layout (touch targets, outputs near the
// input). Screenshots go to tests/artifacts/.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { join } from "node:path";

import { banners, chromiumAvailable, launch, screenshot, waitReady } from "./support/browser.js";
import { ARTIFACTS, requireWasm, startCloud } from "./support/env.js";
import { equalAccuracy } from "../www/js/models.js";
import { lambda as fmtLambda } from "../www/js/format.js";

const skip = chromiumAvailable() ? false : "no /usr/bin/chromium (apt-get install chromium)";

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

/** Elements that stick out of their group sideways, and selects too narrow for their text. */
function overflows(page) {
  return page.evaluate(() => {
    const visible = (n) => n.getClientRects().length > 0 && !n.closest("[hidden]");
    const name = (n) => `${n.tagName.toLowerCase()}${n.id ? `#${n.id}` : ""}${n.dataset.codec ? `[${n.dataset.codec}]` : ""}${typeof n.className === "string" && n.className ? `.${n.className.split(" ")[0]}` : ""}`;
    const bad = [];
    for (const group of document.querySelectorAll(".control, .segmented, .control-grid, .card, .kpi, .topbar")) {
      if (!visible(group)) continue;
      const g = group.getBoundingClientRect();
      for (const child of group.querySelectorAll("*")) {
        if (!visible(child)) continue;
        // Content of a scroller inside the group (the phone's row of samples) may run
        // past it; the scroller itself is checked.
        let clipped = false;
        for (let a = child.parentElement; a && a !== group; a = a.parentElement) {
          if (getComputedStyle(a).overflowX !== "visible") clipped = true;
        }
        if (clipped) continue;
        const r = child.getBoundingClientRect();
        if (r.width === 0) continue;
        if (r.left < g.left - 0.5 || r.right > g.right + 0.5) {
          bad.push(`${name(child)} [${Math.round(r.left)}..${Math.round(r.right)}] outside ${name(group)} [${Math.round(g.left)}..${Math.round(g.right)}]`);
        }
      }
    }
    const ctx = document.createElement("canvas").getContext("2d");
    for (const select of document.querySelectorAll("select")) {
      if (!visible(select)) continue;
      const cs = getComputedStyle(select);
      ctx.font = cs.font;
      const text = select.selectedOptions[0]?.text ?? "";
      // Text, paddings, and about 20 px for the drop-down arrow.
      const need = ctx.measureText(text).width + parseFloat(cs.paddingLeft) + parseFloat(cs.paddingRight) + 20;
      if (need > select.clientWidth + 0.5) bad.push(`select#${select.id}: "${text}" needs ${Math.ceil(need)} px, has ${select.clientWidth}`);
    }
    if (document.documentElement.scrollWidth > window.innerWidth) bad.push(`page scrolls sideways: ${document.documentElement.scrollWidth} > ${window.innerWidth}`);
    return bad;
  });
}

/** Selects JPEG (the widest control set: the quality slider appears) and waits for its frame. */
async function selectJpeg(page) {
  await page.locator('#codec [data-codec="jpeg"]').click();
  await page.waitForFunction(() => window.splitfeat.lastEncode()?.codec?.startsWith("jpeg"), null, { timeout: 60_000 });
  await page.evaluate(() => window.splitfeat.idle());
}

/** The banner's box and what is drawn at its centre. */
function bannerPlacement(page, id) {
  return page.evaluate((id) => {
    const node = document.getElementById(`banner-${id}`);
    const r = node.getBoundingClientRect();
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    const bar = document.querySelector(".topbar").getBoundingClientRect();
    return {
      top: r.top,
      bottom: r.bottom,
      left: r.left,
      right: r.right,
      viewport: { width: innerWidth, height: innerHeight },
      scrollY,
      hitInside: node.contains(hit),
      hit: hit ? `${hit.tagName}.${hit.className}` : null,
      barBottom: getComputedStyle(document.querySelector(".topbar")).position === "sticky" ? bar.bottom : 0,
    };
  }, id);
}

function assertInView(p, what) {
  const msg = `${what}: ${JSON.stringify(p)}`;
  assert.ok(p.scrollY > 0, `the page is scrolled (${msg})`);
  assert.ok(p.top >= p.barBottom - 0.5 && p.bottom <= p.viewport.height + 0.5, `inside the viewport, below the top bar (${msg})`);
  assert.ok(p.left >= -0.5 && p.right <= p.viewport.width + 0.5, msg);
  assert.ok(p.hitInside, `nothing covers it (${msg})`);
}

/** Uploads a file that is not an image, from the bottom of the page. */
async function badUploadFromBottom(page) {
  await page.locator('[data-tab="upload"]').click();
  await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
  await page.locator("#file-input").setInputFiles({ name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from("not an image\n") });
  await page.waitForSelector("#banner-input", { timeout: 30_000 });
  // Scrolled to the bottom, whatever the upload did to the scroll position.
  await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
}

describe("the page for everyone", { skip }, () => {
  let cloud;
  let manifest;
  let models;

  before(async () => {
    requireWasm();
    cloud = await startCloud();
    manifest = await (await fetch(`${cloud.url}/assets/manifest.json`)).json();
    models = [...manifest.models].sort((a, b) => a.lambda - b.lambda || a.name.localeCompare(b.name));
  });

  after(async () => {
    await cloud?.stop();
  });

  test("desktop (1280x800): captions, no overflow, keyboard on codec and lambda, banners in view", async (t) => {
    const { page, messages, close } = await launch({ viewport: DESKTOP });
    t.after(close);
    try {
      await page.goto(`${cloud.url}/?backend=cpu&codec=png`);
      assert.equal(await waitReady(page), "ready", JSON.stringify(await banners(page)));

      // Captions: what the models were trained on; what lambda buys, by equalAccuracy.
      assert.match(await page.textContent("#outputs-note"), /trained on synthetic street scenes.*poor/);
      const info = await page.textContent("#model-info");
      const baseline = models.find((m) => m.lambda === 0);
      if (baseline && models.length > 1) {
        assert.match(info, /What λ buys here: at equal accuracy with the baseline's best setting, /);
        for (const m of models.filter((x) => x !== baseline)) {
          const eq = equalAccuracy(m, baseline);
          if (eq.change != null) {
            const sign = eq.change > 0 ? "+" : eq.change < 0 ? "−" : "±";
            assert.ok(info.includes(`λ ${fmtLambda(m.lambda)} needs ${sign}${Math.abs(eq.change * 100).toFixed(1)} % bytes`), `${m.name} in: ${info}`);
          } else {
            assert.match(info, new RegExp(`λ [^;]*\\b${fmtLambda(m.lambda).replace(".", "\\.")}\\b[^;]*never reach`), `${m.name} in: ${info}`);
          }
        }
      }
      console.log(`# model info: ${info}`);

      // No control sticks out of its group, JPEG's quality slider shown.
      await selectJpeg(page);
      assert.deepEqual(await overflows(page), []);
      await page.screenshot({ path: join(ARTIFACTS, "usability-desktop-jpeg.png") });

      // The codec radio group answers the arrow keys, and the choice reaches the stream.
      await page.focus("#codec input:checked");
      await page.keyboard.press("ArrowRight");
      await page.waitForFunction(() => window.splitfeat.lastEncode()?.codec === "ans", null, { timeout: 60_000 });
      await page.evaluate(() => window.splitfeat.idle());
      const radio = await page.evaluate(() => ({
        focused: document.activeElement?.value,
        checked: document.querySelector("#codec input:checked")?.value,
        state: window.splitfeat.codec(),
        response: window.splitfeat.lastResponse()?.codec,
      }));
      assert.deepEqual({ focused: radio.focused, checked: radio.checked, state: radio.state }, { focused: "ans", checked: "ans", state: "ans" });
      assert.match(radio.response ?? "", /^ans/, "the cloud decoded an ans stream");
      await page.keyboard.press("ArrowLeft");
      await page.waitForFunction(() => window.splitfeat.lastEncode()?.codec?.startsWith("jpeg"), null, { timeout: 60_000 });
      await page.evaluate(() => window.splitfeat.idle());

      // The lambda slider keeps the focus while a model loads; a second key works.
      if (models.length >= 2) {
        await page.focus("#lambda");
        const steps = Math.min(2, models.length - 1);
        for (let i = 1; i <= steps; i++) {
          await page.keyboard.press("ArrowRight");
          await page.waitForFunction((id) => window.splitfeat.lastEncode()?.modelId === id, models[i].id, { timeout: 60_000 });
          await page.evaluate(() => window.splitfeat.idle());
          const focus = await page.evaluate(() => ({ id: document.activeElement?.id, value: document.querySelector("#lambda").value, disabled: document.querySelector("#lambda").disabled }));
          assert.deepEqual(focus, { id: "lambda", value: String(i), disabled: false }, `after ArrowRight ${i}`);
        }
      }

      // A banner raised with the page scrolled to the bottom is in view, under nothing.
      await badUploadFromBottom(page);
      assert.match((await banners(page)).input ?? "", /^error: “notes\.txt” cannot be used/);
      assertInView(await bannerPlacement(page, "input"), "input banner, desktop");
      await page.screenshot({ path: join(ARTIFACTS, "usability-desktop-banner.png") });
    } catch (err) {
      console.log(messages.join("\n"));
      throw err;
    }
  });

  test("phone (390x844): touch targets, outputs next to the input, no overflow, banners in view", async (t) => {
    const { page, messages, close } = await launch({ viewport: PHONE });
    t.after(close);
    try {
      await page.goto(`${cloud.url}/?backend=cpu`);
      assert.equal(await waitReady(page), "ready", JSON.stringify(await banners(page)));
      await page.screenshot({ path: join(ARTIFACTS, "usability-phone.png") });

      const layout = await page.evaluate(() => {
        const box = (s) => document.querySelector(s).getBoundingClientRect();
        const small = [];
        const targets = ".button, .tabs button, .segmented label, select, .tick, .thumb, input[type=range], #backend-badge";
        for (const n of document.querySelectorAll(targets)) {
          if (!n.getClientRects().length || n.closest("[hidden]")) continue;
          const r = n.getBoundingClientRect();
          if (r.height < 43.5) small.push(`${n.tagName.toLowerCase()}${n.id ? `#${n.id}` : ""}.${n.className}: ${r.height.toFixed(1)} px`);
        }
        return { small, inputBottom: box("#input-card").bottom, outputsTop: box("#outputs-card").top, controlsTop: box("#controls-card").top };
      });
      assert.deepEqual(layout.small, [], "touch targets at least 44 px tall");
      assert.ok(layout.outputsTop - layout.inputBottom < 40, `outputs right under the input: ${JSON.stringify(layout)}`);
      assert.ok(layout.outputsTop < layout.controlsTop, "outputs before the controls");

      await selectJpeg(page);
      assert.deepEqual(await overflows(page), []);
      await screenshot(page, "usability-phone-jpeg");

      await badUploadFromBottom(page);
      assertInView(await bannerPlacement(page, "input"), "input banner, phone");
    } catch (err) {
      console.log(messages.join("\n"));
      throw err;
    }
  });
});
