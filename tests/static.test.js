// The demo as a static site: `cargo xtask dist` output served by a plain static file
// server (tests/support/static.js: files only, no API). The page finds no cloud
// server and runs the cloud half in its worker; with `?cloud=URL` it uses a
// splitfeat-cloud on another loopback port, across origins (CORS).

import assert from "node:assert/strict";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { after, before, describe, test } from "node:test";
import { gzipSync } from "node:zlib";

import { banners, chromiumAvailable, launch, screenshot, waitReady } from "./support/browser.js";
import { ROOT, cargo, requireWasm, startCloud, tempDir } from "./support/env.js";
import { serveStatic } from "./support/static.js";

const skip = chromiumAvailable() ? false : "no /usr/bin/chromium (apt-get install chromium)";

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

/** What the page shows and got back for its last frame. */
async function result(page) {
  return page.evaluate(() => {
    const sf = window.splitfeat;
    const r = sf.lastResponse();
    const last = sf.lastEncode();
    return {
      cloudKind: document.body.dataset.cloud,
      badge: document.querySelector("#cloud-badge").textContent.trim(),
      status: document.querySelector("#cloud-badge").dataset.status,
      bytesShown: Number(document.querySelector("#kpi-bytes").dataset.value),
      bpeShown: document.querySelector("#kpi-bpe").textContent,
      byteCount: last?.byteCount,
      bitsPerElement: last?.bitsPerElement,
      modelId: last?.modelId,
      recon: document.querySelector("#recon-canvas").dataset.drawn === "true",
      disp: document.querySelector("#disp-canvas").dataset.drawn === "true",
      firstResultMs: sf.firstResultMs(),
      workerBackend: sf.cloud()?.backend ?? null,
      response: r,
    };
  });
}

describe("the demo as a static site", { skip }, () => {
  let dist;
  let site;
  let cloud;
  let manifest;

  before(async () => {
    requireWasm();
    dist = tempDir("splitfeat-dist-");
    // The module www/pkg already holds (built by `cargo xtask test`/`demo`): no rebuild.
    cargo(["xtask", "dist", "--no-build", "--out", dist]);
    site = await serveStatic(dist);
    manifest = JSON.parse(readFileSync(join(dist, "assets", "manifest.json"), "utf8"));
  });

  after(async () => {
    await site?.close();
    await cloud?.stop();
  });

  test("dist/ holds the page, hashed scripts and the models, with relative references only", () => {
    const files = walk(dist).map((f) => relative(dist, f).split("\\").join("/"));
    const sizes = files.map((f) => {
      const bytes = readFileSync(join(dist, f));
      return { f, bytes: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
    });
    const total = sizes.reduce((a, s) => a + s.bytes, 0);
    const gzip = sizes.reduce((a, s) => a + s.gzip, 0);
    console.log(`# dist: ${files.length} files, ${(total / 1e6).toFixed(2)} MB, ${(gzip / 1e6).toFixed(2)} MB gzip -9 (per file)`);

    assert.ok(files.includes("index.html"));
    assert.deepEqual(readFileSync(join(dist, "assets/manifest.json")), readFileSync(join(ROOT, "assets/manifest.json")));
    for (const m of manifest.models) {
      for (const w of [m.edge, m.heads]) {
        assert.equal(statSync(join(dist, "assets", w.path)).size, w.bytes, w.path);
      }
    }
    assert.ok(!files.some((f) => /\.d\.ts$|checkpoint|\.sfck$/.test(f)), "no declarations or checkpoints");
    const code = files.filter((f) => /\.(js|css|wasm)$/.test(f));
    assert.ok(code.length >= 8, code.join(" "));
    for (const f of code) assert.match(f, /\.[0-9a-f]{10}\.(js|css|wasm)$/, `${f} has a content-hashed name`);

    const html = readFileSync(join(dist, "index.html"), "utf8");
    const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]).filter((r) => !r.startsWith("data:"));
    assert.ok(refs.length >= 2);
    for (const r of refs) {
      assert.ok(!/^(\/|[a-z]+:)/i.test(r), `index.html refers to ${r}: relative paths only`);
      assert.ok(files.includes(r), `index.html refers to ${r}, which is in dist/`);
    }
    for (const f of files.filter((x) => /\.(js|css|html)$/.test(x))) {
      const text = readFileSync(join(dist, f), "utf8");
      assert.doesNotMatch(text, /(from|import\()\s*["'](https?:)?\/\//, `${f} imports nothing remote`);
      assert.doesNotMatch(text, /(url\(|@import)\s*["']?(https?:)?\/\//, `${f} loads no remote styles or fonts`);
      assert.doesNotMatch(text, /(src|href)=["'](https?:)?\/\//, `${f} links nothing remote`);
    }
  });

  test("runs edge and cloud worker from the static files alone", async (t) => {
    const { context, page, messages, close } = await launch();
    t.after(close);
    const urls = [];
    context.on("request", (r) => urls.push(r.url()));
    try {
      const t0 = Date.now();
      await page.goto(`${site.url}/?backend=cpu`);
      assert.equal(await waitReady(page), "ready", JSON.stringify(await banners(page)));
      const ms = Date.now() - t0;
      const r = await result(page);
      console.log(`# static site, worker cloud: first result ${Math.round(r.firstResultMs)} ms after the script started, ${ms} ms from navigation to ready`);
      assert.equal(r.cloudKind, "worker");
      assert.equal(r.status, "ok");
      assert.match(r.badge, /Cloud: in this browser \((\d )?workers?, CPU\)/);
      assert.equal(r.workerBackend, "cpu");
      assert.ok(r.recon && r.disp, "outputs shown");
      assert.deepEqual(await banners(page), {});
      assert.equal(r.bytesShown, r.byteCount);
      assert.equal(r.response.bytes_received, r.byteCount);
      assert.equal(r.response.bits_per_element, r.bitsPerElement);
      assert.equal(r.response.model, r.modelId);
      assert.deepEqual(r.response.tasks, ["seg", "disp", "recon"]);
      assert.equal(r.response.outputs.seg.class_pixels.reduce((a, b) => a + b, 0), r.response.width * r.response.height);
      assert.match(await page.textContent("#timings-body"), /Workers? · messages/);
      await screenshot(page, "static-worker");

      // Every byte came from the static host, and nothing missed: the page knows it is
      // the static site (content-hashed script names) and does not probe for an API.
      const foreign = urls.filter((u) => !u.startsWith(`${site.url}/`) && !/^(data|blob):/.test(u));
      assert.deepEqual(foreign, [], "no request leaves the host");
      const probes = site.requests.filter((q) => q.path.endsWith("/v1/models") && q.status === 404);
      assert.deepEqual(probes, [], "no GET /v1/models answered 404 on the static site");
      const misses = site.requests.filter((q) => ![200, 304].includes(q.status)).map((q) => `${q.status} ${q.path}`);
      assert.deepEqual(misses, []);
      assert.ok(site.requests.some((q) => /heads\.bpk$/.test(q.path)), "the worker fetched the heads");
      // Both workers and the page (which colours the answers) load the same module; the
      // loads after the first are revalidations.
      const wasm = site.requests.filter((q) => q.path.endsWith(".wasm")).map((q) => q.status);
      assert.ok(wasm.length >= 2 && wasm[0] === 200 && wasm.slice(1).every((s) => s === 304), JSON.stringify(wasm));
    } catch (err) {
      console.log(messages.join("\n"));
      throw err;
    }
  });

  test("worker and server give the same figures, and refuse bad streams alike (?cloud= across origins)", async (t) => {
    cloud = await startCloud({ args: ["--allow-origin", site.url] });
    const { page, messages, close } = await launch();
    t.after(close);
    try {
      await page.goto(`${site.url}/?backend=cpu&codec=ans`);
      assert.equal(await waitReady(page), "ready", JSON.stringify(await banners(page)));
      const worker = await result(page);

      // The bad streams, to the worker from the page and to the server from here.
      const cases = await page.evaluate(async () => {
        const sf = window.splitfeat;
        const good = sf.lastEncode().bitstream;
        const crc = good.slice();
        crc[crc.length - 1] ^= 0xff;
        const magic = good.slice();
        magic[0] ^= 0xff;
        const streams = { crc, truncated: good.slice(0, 20), magic, empty: new Uint8Array(0), good };
        const out = [];
        const ask = async (name, model, bytes, options) => {
          try {
            const { response } = await sf.infer(model, bytes, options);
            out.push({ name, status: 200, bytes: response.bytes_received });
          } catch (err) {
            out.push({ name, status: err.status, code: err.code, message: err.message, kind: err.kind });
          }
        };
        const id = sf.lastEncode().modelId;
        for (const [name, bytes] of Object.entries(streams)) await ask(name, id, bytes);
        await ask("unknown-model", "0000000000000000", good);
        await ask("unknown-task", id, good, { tasks: ["seg", "depth"] });
        await ask("bad-max-disparity", id, good, { maxDisparity: -1 });
        return { cases: out, streams: Object.fromEntries(Object.entries(streams).map(([k, v]) => [k, Array.from(v)])), id };
      });
      for (const c of cases.cases) {
        const stream = { "unknown-model": "good", "unknown-task": "good", "bad-max-disparity": "good" }[c.name] ?? c.name;
        const query = new URLSearchParams({ model: c.name === "unknown-model" ? "0000000000000000" : cases.id });
        if (c.name === "unknown-task") query.set("tasks", "seg,depth");
        if (c.name === "bad-max-disparity") query.set("max_disparity", "-1");
        const response = await fetch(`${cloud.url}/v1/infer?${query}`, {
          method: "POST",
          headers: { "content-type": "application/octet-stream" },
          body: Uint8Array.from(cases.streams[stream]),
        });
        const body = await response.json();
        if (response.status === 200) {
          assert.deepEqual({ name: c.name, status: c.status, bytes: c.bytes }, { name: c.name, status: 200, bytes: body.bytes_received });
        } else {
          assert.equal(c.kind, "http", JSON.stringify(c));
          assert.deepEqual(
            { name: c.name, status: c.status, code: c.code, message: c.message },
            { name: c.name, status: response.status, code: body.error, message: `${body.message} (HTTP ${response.status})` },
          );
        }
      }
      console.log(`# worker vs server refusals: ${cases.cases.map((c) => `${c.name} ${c.status} ${c.code ?? ""}`.trim()).join(", ")}`);

      // The same page from the static host, with the server's API on another port.
      await page.goto(`${site.url}/?backend=cpu&codec=ans&cloud=${encodeURIComponent(cloud.url)}`);
      assert.equal(await waitReady(page), "ready", JSON.stringify(await banners(page)));
      const server = await result(page);
      assert.equal(server.cloudKind, "url");
      assert.equal(server.status, "ok");
      assert.match(server.badge, new RegExp(`Cloud: ${new URL(cloud.url).host}`));
      assert.deepEqual(await banners(page), {});
      await screenshot(page, "static-cross-origin");

      // Same stream, same figures: bytes, bits per element, the response's fields.
      for (const k of ["bytesShown", "bpeShown", "byteCount", "bitsPerElement", "modelId"]) assert.equal(server[k], worker[k], k);
      for (const k of ["model", "model_name", "tasks", "bytes_received", "width", "height", "bits_per_element", "codec", "bits"]) {
        assert.deepEqual(server.response[k], worker.response[k], k);
      }
      assert.deepEqual(Object.keys(server.response).sort(), Object.keys(worker.response).sort());
      assert.deepEqual(Object.keys(server.response.timings_ms).sort(), Object.keys(worker.response.timings_ms).sort());
      // Heads on native and wasm SIMD may sum in another order: labels can differ at a
      // few boundary pixels, not more.
      const [a, b] = [server.response.outputs.seg.class_pixels, worker.response.outputs.seg.class_pixels];
      const moved = a.reduce((s, v, i) => s + Math.abs(v - b[i]), 0) / 2;
      console.log(`# seg pixels whose class differs between server and worker: ${moved}`);
      assert.ok(moved <= 0.01 * server.response.width * server.response.height, `${moved} pixels`);
    } catch (err) {
      console.log(messages.join("\n"));
      throw err;
    }
  });

  test("a cloud that does not allow this origin is reported, not silently replaced", async (t) => {
    cloud ??= await startCloud({ args: ["--allow-origin", site.url] });
    const other = await serveStatic(dist); // another port: another origin, not allowed
    const { page, close } = await launch();
    t.after(async () => {
      await close();
      await other.close();
    });
    await page.goto(`${other.url}/?backend=cpu&cloud=${encodeURIComponent(cloud.url)}`);
    assert.equal(await waitReady(page), "ready");
    const r = await result(page);
    assert.equal(r.cloudKind, "url");
    assert.equal(r.status, "down");
    assert.match((await banners(page)).cloud ?? "", /^error: The cloud is down or unreachable/);
  });

  test("heads that fail verification are reported; the edge keeps running", async (t) => {
    const { context, page, close } = await launch();
    t.after(close);
    await context.route("**/heads.bpk", async (route) => {
      const response = await route.fetch();
      const body = Buffer.from(await response.body());
      body[body.length - 1] ^= 0xff;
      await route.fulfill({ response, body });
    });
    await page.goto(`${site.url}/?backend=cpu`);
    assert.equal(await waitReady(page), "ready");
    const r = await result(page);
    assert.equal(r.cloudKind, "worker");
    assert.equal(r.status, "down");
    assert.ok(r.byteCount > 0 && r.bytesShown === r.byteCount, "the edge still encodes and shows its bitrate");
    assert.match((await banners(page)).cloud ?? "", /^error: The cloud worker could not answer: .*heads weights rejected: .*heads\.bpk: sha256/);
  });

  test("the cloud worker runs the heads on WebGPU when asked", async (t) => {
    const { page, messages, close } = await launch({ webgpu: true });
    t.after(close);
    try {
      await page.goto(`${site.url}/?backend=cpu&cloud_device=webgpu`);
      assert.equal(await waitReady(page), "ready", JSON.stringify(await banners(page)));
      const r = await result(page);
      assert.equal(r.cloudKind, "worker");
      assert.equal(r.workerBackend, "webgpu");
      assert.match(r.badge, /worker, WebGPU/);
      assert.ok(r.recon && r.disp);
      const heads = r.response.timings_ms.heads;
      console.log(`# worker heads on WebGPU (SwiftShader): seg ${heads.seg} ms, disp ${heads.disp} ms, recon ${heads.recon} ms`);
      assert.equal(r.response.outputs.seg.class_pixels.reduce((a, b) => a + b, 0), r.response.width * r.response.height);
    } catch (err) {
      console.log(messages.join("\n"));
      throw err;
    }
  });
});
