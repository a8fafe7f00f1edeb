// The page end to end with the shipped models (assets/): edge in Chromium, cloud
// server on a free port. Run: `cd tests && npm test` (needs www/pkg built).

import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";

import { banners, chromiumAvailable, launch, screenshot, waitFrames, waitReady } from "./support/browser.js";
import { ARTIFACTS, ROOT, requireWasm, startCloud, tempDir, webExample } from "./support/env.js";

const skip = chromiumAvailable() ? false : "no /usr/bin/chromium (apt-get install chromium)";

/** What the page shows after a frame, read from the DOM. */
async function shown(page) {
  return page.evaluate(() => ({
    bytes: Number(document.querySelector("#kpi-bytes").dataset.value),
    bytesText: document.querySelector("#kpi-bytes").textContent,
    bpe: Number(document.querySelector("#kpi-bpe").textContent),
    kbps: document.querySelector("#kpi-kbps").textContent,
    backend: document.querySelector("#backend-badge").dataset.backend,
    badge: document.querySelector("#backend-badge").textContent.trim(),
    cloud: document.querySelector("#cloud-badge").dataset.status,
    disp: document.querySelector("#disp-canvas").dataset.drawn === "true",
    recon: document.querySelector("#recon-canvas").dataset.drawn === "true",
    legend: document.querySelectorAll("#legend li").length,
    timings: document.querySelectorAll("#timings-body tr").length,
    segDrawn: (() => {
      const c = document.querySelector("#seg-canvas");
      const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      let lit = 0;
      for (let i = 0; i < d.length; i += 4) lit += d[i] + d[i + 1] + d[i + 2] > 0 ? 1 : 0;
      return lit / (d.length / 4);
    })(),
    note: document.querySelector("#input-note").textContent,
    modelId: window.splitfeat.lastEncode()?.modelId,
    cloudFrames: Number(document.body.dataset.cloudFrames || 0),
  }));
}

describe("page with the shipped models", { skip }, () => {
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

  test("loads, encodes on the CPU, and renders the cloud's outputs", async (t) => {
    const { page, messages, close } = await launch();
    t.after(close);
    try {
      const t0 = Date.now();
      await page.goto(`${cloud.url}/?backend=cpu`);
      assert.equal(await waitReady(page), "ready", JSON.stringify(await banners(page)));
      const s = await shown(page);
      assert.ok(s.bytes > 0, `byte count shown: ${s.bytesText}`);
      assert.ok(s.bpe > 0 && s.bpe < 32, `bits per element ${s.bpe}`);
      assert.equal(s.backend, "cpu");
      assert.equal(s.cloud, "ok");
      assert.ok(s.disp && s.recon, "disparity and reconstruction images");
      assert.ok(s.segDrawn > 0.9, "segmentation overlay drawn");
      assert.ok(s.legend > 0, "legend lists classes");
      assert.equal(s.timings, 6);
      assert.equal(s.modelId, manifest.models[0].id);
      assert.deepEqual(await banners(page), {});
      console.log(`# first result after ${Date.now() - t0} ms (navigation to ready)`);
      await screenshot(page, "page-cpu");
    } catch (err) {
      console.log(messages.join("\n"));
      throw err;
    }
  });

  test("the planes the page draws are the pixels of the JSON answer's PNGs", async (t) => {
    const { page, messages, close } = await launch();
    t.after(close);
    try {
      await page.goto(`${cloud.url}/?backend=cpu`);
      assert.equal(await waitReady(page), "ready", JSON.stringify(await banners(page)));
      const r = await page.evaluate(async () => {
        const sf = window.splitfeat;
        const { modelId, bitstream } = sf.lastEncode();
        const planes = await sf.infer(modelId, bitstream, { format: "planes" });
        const json = await sf.infer(modelId, bitstream, { format: "json" });
        const pixels = async (b64) => {
          const blob = await (await fetch(`data:image/png;base64,${b64}`)).blob();
          const bitmap = await createImageBitmap(blob, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
          const c = new OffscreenCanvas(bitmap.width, bitmap.height);
          const ctx = c.getContext("2d");
          ctx.drawImage(bitmap, 0, 0);
          return ctx.getImageData(0, 0, c.width, c.height).data;
        };
        const drawn = (id) => {
          const c = document.querySelector(id);
          return c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
        };
        const differ = (a, b) => {
          if (a.length !== b.length) return `sizes ${a.length} and ${b.length}`;
          let n = 0;
          for (let i = 0; i < a.length; i++) n += a[i] !== b[i] ? 1 : 0;
          return n;
        };
        const out = { format: planes.images ? "planes" : "json", pngFormat: json.images ? "planes" : "json", differ: {}, distinct: {} };
        for (const task of ["seg", "disp", "recon"]) {
          const image = planes.images[task].data;
          out.differ[task] = differ(image, await pixels(json.response.outputs[task].png));
          const colours = new Set();
          for (let i = 0; i < image.length; i += 4) colours.add((image[i] << 16) | (image[i + 1] << 8) | image[i + 2]);
          out.distinct[task] = colours.size;
        }
        // The page's own canvases hold what it was answered (the last frame: the same stream).
        out.differ.dispCanvas = differ(drawn("#disp-canvas"), planes.images.disp.data);
        out.differ.reconCanvas = differ(drawn("#recon-canvas"), planes.images.recon.data);
        out.meta = JSON.stringify([planes.response.outputs.seg.class_pixels, planes.response.outputs.disp.max_disparity]);
        out.jsonMeta = JSON.stringify([json.response.outputs.seg.class_pixels, json.response.outputs.disp.max_disparity]);
        out.encodePng = [planes.response.timings_ms.encode_png, json.response.timings_ms.encode_png];
        return out;
      });
      console.log(`# planes vs JSON PNGs: ${JSON.stringify(r.differ)} differing bytes; distinct colours ${JSON.stringify(r.distinct)}`);
      assert.equal(r.format, "planes");
      assert.equal(r.pngFormat, "json");
      assert.deepEqual(r.differ, { seg: 0, disp: 0, recon: 0, dispCanvas: 0, reconCanvas: 0 });
      // Real outputs, not blank images that would match anything blank.
      for (const task of ["seg", "disp", "recon"]) assert.ok(r.distinct[task] > 3, `${task}: ${r.distinct[task]} colours`);
      assert.equal(r.meta, r.jsonMeta);
      assert.equal(r.encodePng[0], 0);
      assert.ok(r.encodePng[1] > 0);
    } catch (err) {
      console.log(messages.join("\n"));
      throw err;
    }
  });

  test("says when an image of another size is resized", async (t) => {
    const { page, close } = await launch();
    t.after(close);
    await page.goto(`${cloud.url}/?backend=cpu`);
    await waitReady(page);
    const wide = page.locator("#sample-list .thumb", { hasText: "x" }).last();
    await wide.click();
    await waitFrames(page, 1);
    const s = await shown(page);
    assert.match(s.note, /Resized from 512×256 to 256×128/);
    assert.ok(s.bytes > 0);
  });

  test("a larger lambda lowers the bitrate of the same image", async (t) => {
    const models = [...manifest.models].sort((a, b) => a.lambda - b.lambda || a.name.localeCompare(b.name));
    if (models.length < 2) {
      t.skip(`assets/manifest.json has ${models.length} model(s); the lambda comparison needs two or more`);
      return;
    }
    const { page, close } = await launch();
    t.after(close);
    await page.goto(`${cloud.url}/?backend=cpu&codec=ans`);
    await waitReady(page);
    const rates = [];
    for (let i = 0; i < models.length; i++) {
      await page.locator("#lambda").fill(String(i));
      await page.waitForFunction((id) => window.splitfeat.lastEncode()?.modelId === id, models[i].id, { timeout: 60_000 });
      await page.evaluate(() => window.splitfeat.idle());
      const s = await shown(page);
      assert.equal(s.modelId, models[i].id);
      rates.push({ lambda: models[i].lambda, bytes: s.bytes, bpe: s.bpe });
    }
    console.log(`# bytes per frame by lambda: ${JSON.stringify(rates)}`);
    const [lo, hi] = [rates[0], rates[rates.length - 1]];
    assert.ok(hi.lambda > lo.lambda);
    assert.ok(hi.bytes < lo.bytes, `lambda ${hi.lambda}: ${hi.bytes} bytes, lambda ${lo.lambda}: ${lo.bytes} bytes`);
    await screenshot(page, "page-high-lambda");
  });

  test("codec, JPEG quality and bit depth reach the bitstream and the cloud", async (t) => {
    const { page, close } = await launch();
    t.after(close);
    await page.goto(`${cloud.url}/?backend=cpu`);
    await waitReady(page);
    const last = () => page.evaluate(() => ({ ...window.splitfeat.lastEncode(), bitstream: null, tiled: null }));
    const settle = async (check) => {
      await page.waitForFunction(check, null, { timeout: 60_000 });
      await page.evaluate(() => window.splitfeat.idle());
    };

    await page.locator('#codec [data-codec="jpeg"]').click();
    await settle(() => window.splitfeat.lastEncode()?.codec === "jpeg90");
    assert.equal(await page.isDisabled('#bits option[value="6"]'), true, "JPEG carries 8-bit planes only");
    await page.locator("#jpeg-quality").fill("50");
    await settle(() => window.splitfeat.lastEncode()?.codec === "jpeg50");
    const jpeg50 = await last();

    await page.locator('#codec [data-codec="png"]').click();
    await page.selectOption("#bits", "6");
    await settle(() => window.splitfeat.lastEncode()?.codec === "png" && window.splitfeat.lastEncode()?.bits === 6);
    const png6 = await last();
    assert.equal(png6.bits, 6);
    // The wasm binding takes the page's number and checks it once: a depth outside
    // the range or not whole is refused with the code `bit-depth`.
    const refused = await page.evaluate(async () => {
      const codes = [];
      for (const bits of [1, 17, 8.5, 300]) {
        codes.push(await window.splitfeat.encode("cpu", "png", bits).then(() => "encoded", (e) => `${e.code}: ${e.message}`));
      }
      return codes;
    });
    assert.deepEqual(refused, [
      "bit-depth: bit depth 1 is outside 2..=16",
      "bit-depth: bit depth 17 is outside 2..=16",
      'bit-depth: bit depth "8.5" is not a whole number in 2..=16',
      'bit-depth: bit depth "300" is not a whole number in 2..=16',
    ]);
    assert.ok(jpeg50.byteCount > 0 && png6.byteCount > 0);
    const s = await shown(page);
    assert.equal(s.cloud, "ok");
    assert.equal(s.bytes, png6.byteCount);
    assert.deepEqual(await banners(page), {});
  });

  test("the browser's CPU bitstream equals the native one for a fixed image", async (t) => {
    const { page, close } = await launch();
    t.after(close);
    await page.goto(`${cloud.url}/?backend=cpu&codec=ans&sample=0`);
    await waitReady(page);
    const sample = await page.evaluate(async () => (await (await fetch("samples/index.json")).json()).samples[0].file);
    const browser = await page.evaluate(() => Array.from(window.splitfeat.lastEncode().bitstream));
    const dir = tempDir("splitfeat-bytes-");
    const file = join(dir, "browser.bin");
    writeFileSync(file, Uint8Array.from(browser));
    const report = JSON.parse(
      webExample("native_encode", ["--assets", "assets", "--model", manifest.models[0].id, "--image", `www/samples/${sample}`, "--codec", "ans", "--compare", file]),
    );
    writeFileSync(join(ARTIFACTS, "bitstream-cpu-vs-native.json"), JSON.stringify(report, null, 2));
    console.log(`# native vs browser (CPU): ${JSON.stringify(report.compare)}`);
    assert.ok(report.compare.same_shape_codec_bits);
    if (!report.compare.identical) {
      // Summation order in the convolutions may differ between native and wasm SIMD
      // kernels; then codes may differ by one quantization step, rarely.
      assert.ok(report.compare.max_code_difference <= 1, JSON.stringify(report.compare));
      assert.ok(report.compare.codes_differing / report.compare.codes < 0.01, JSON.stringify(report.compare));
    }
  });

  test("keeps encoding and says so when the cloud goes down", async (t) => {
    const own = await startCloud();
    const { page, close } = await launch();
    t.after(async () => {
      await close();
      await own.stop();
    });
    await page.goto(`${own.url}/?backend=cpu`);
    await waitReady(page);
    const before = await shown(page);
    await own.stop();
    // The page was served by the stopped server: give it a local file.
    await page.locator('[data-tab="upload"]').click();
    await page.locator("#file-input").setInputFiles(join(ROOT, "www", "samples", "scene-11.png"));
    await waitFrames(page, 1);
    const s = await shown(page);
    const b = await banners(page);
    assert.equal(s.cloud, "down");
    assert.match(b.cloud ?? "", /^error: The cloud is down or unreachable/);
    assert.ok(s.bytes > 0 && s.bytes !== before.bytes, "the edge still encodes the new image");
    await screenshot(page, "page-cloud-down");
  });

  test("reports a model whose weights fail verification", async (t) => {
    const { page, close } = await launch();
    t.after(close);
    await page.route("**/edge.bpk", async (route) => {
      const response = await route.fetch();
      const body = Buffer.from(await response.body());
      body[body.length - 1] ^= 0xff;
      await route.fulfill({ response, body });
    });
    await page.goto(`${cloud.url}/?backend=cpu`);
    assert.equal(await waitReady(page), "failed");
    const b = await banners(page);
    assert.match(b.fatal ?? "", /failed to load: edge weights rejected: .*sha256/);
  });

  test("plays the drive sequence frame by frame", async (t) => {
    const { page, close } = await launch();
    t.after(close);
    await page.goto(`${cloud.url}/?backend=cpu`);
    await waitReady(page);
    await page.locator('[data-tab="drive"]').click();
    await page.locator("#drive-toggle").click();
    await waitFrames(page, 4);
    const s = await shown(page);
    const label = await page.textContent("#input-label");
    assert.match(label, /frame \d+\/\d+/);
    assert.match(s.kbps, /^\d/);
    assert.match(await page.textContent("#kpi-kbps-label"), /kbit\/s sent at [\d.]+ fps/);
    const p = await page.evaluate(() => window.splitfeat.pipeline());
    assert.ok(p.live && p.fps > 0 && p.latencyMs.p95 >= p.latencyMs.p50, JSON.stringify(p));
    assert.ok(["source", "edge", "cloud", "draw"].includes(p.bottleneck.stage));
    assert.equal(await page.isVisible("#pipeline"), true, "frames/s, latency and the slowest stage shown");
    await screenshot(page, "page-drive");
    await page.locator("#drive-toggle").click();
    const stopped = await page.evaluate(() => window.splitfeat.source().live);
    assert.equal(stopped, false);
  });

  test("compares one frame through the baseline and the current model (A/B)", async (t) => {
    const models = [...manifest.models].sort((a, b) => a.lambda - b.lambda || a.name.localeCompare(b.name));
    if (models.length < 2 || models[0].lambda !== 0) {
      t.skip("the A/B view needs a lambda 0 model and another in assets/manifest.json");
      return;
    }
    const { page, close } = await launch();
    t.after(close);
    await page.goto(`${cloud.url}/?backend=cpu&codec=ans`);
    await waitReady(page);
    const last = models.length - 1;
    assert.equal(await page.evaluate((i) => window.splitfeat.selectModel(i), last), true);
    await page.evaluate(() => window.splitfeat.idle());
    const encoded = await page.evaluate(() => window.splitfeat.lastEncode().byteCount);
    // The drive plays; the comparison pauses it and takes the frame on screen.
    await page.locator('[data-tab="drive"]').click();
    await page.locator("#drive-toggle").click();
    await waitFrames(page, 1);
    await page.locator("#ab-run").click();
    await page.waitForFunction(() => window.splitfeat.lastAB() != null, null, { timeout: 120_000 });
    const ab = await page.evaluate(() => window.splitfeat.lastAB());
    assert.equal(await page.evaluate(() => window.splitfeat.source().live), false, "the drive paused");
    assert.deepEqual(ab.sides.map((s) => s.modelId), [models[0].id, models[last].id]);
    assert.deepEqual([ab.codec, ab.bits], ["ans", 8]);
    for (const side of ab.sides) {
      assert.ok(side.byteCount > 0 && side.bitsPerElement > 0);
      assert.deepEqual(side.outputs.sort(), ["disp", "recon", "seg"]);
    }
    const shownAB = await page.evaluate(async () => {
      const sides = [...document.querySelectorAll("#ab-grid .ab-side")];
      // An output is drawn when its canvas holds pixels that are not all one colour.
      const drawn = (c) => {
        const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
        for (let i = 4; i < d.length; i += 4) if (d[i] !== d[0] || d[i + 1] !== d[1] || d[i + 2] !== d[2]) return true;
        return false;
      };
      return sides.map((f) => ({
        side: f.dataset.side,
        bytes: f.querySelector(".ab-bytes").textContent,
        images: [...f.querySelectorAll("canvas")].filter((c) => c.dataset.drawn === "true" && c.width > 0 && drawn(c)).length,
      }));
    });
    assert.deepEqual(
      shownAB,
      ab.sides.map((s, i) => ({ side: i ? "current" : "baseline", bytes: `${s.byteCount.toLocaleString("en-US")} bytes`, images: 3 })),
    );
    assert.deepEqual(await banners(page), {});

    // On a still, the current model's side is the stream the page sent for that frame.
    await page.locator('[data-tab="samples"]').click();
    await page.locator("#sample-list .thumb").first().click();
    // The sample loads before it becomes the input.
    await page.waitForFunction(() => window.splitfeat.source()?.kind === "image", null, { timeout: 60_000 });
    await page.evaluate(() => window.splitfeat.idle());
    const still = await page.evaluate(() => window.splitfeat.compareAB());
    assert.equal(still.sides[1].byteCount, encoded);
    await screenshot(page, "page-ab");
  });

  test("runs the webcam through the edge (fake camera)", async (t) => {
    const { page, close } = await launch({ camera: true });
    t.after(close);
    await page.goto(`${cloud.url}/?backend=cpu`);
    await waitReady(page);
    await page.locator('[data-tab="webcam"]').click();
    await page.locator("#webcam-toggle").click();
    await waitFrames(page, 3);
    const s = await shown(page);
    assert.match(s.note, /centre-cropped/);
    assert.ok(s.bytes > 0);
    assert.match(s.kbps, /^\d/);
    await page.locator("#webcam-toggle").click();
    await screenshot(page, "page-webcam");
  });
});
