// The cloud the page sends its bitstreams to, in one of three places, picked in this
// order (`chooseCloud`):
//   1. `?cloud=URL`: a splitfeat-cloud server elsewhere (it must allow this page's
//      origin: `--allow-origin`);
//   2. this page's own origin, if it answers GET /v1/models (the page was served by
//      splitfeat-cloud, e.g. `cargo xtask demo`); not asked when the page is
//      `cargo xtask dist`'s static site (`isStaticBuild`), which no server serves;
//   3. else a Web Worker in this page (cloud-worker.js): the same heads and response
//      code, compiled to WebAssembly, for the demo served as static files.
// All three answer POST /v1/infer (docs/api.md) in the planes format (raw class ids,
// disparity and RGB, no PNG), which paint.js decodes and colours; `infer` returns the
// answer alike from each: the metadata and the images.

import { paint } from "./paint.js";
import { RpcClient } from "./rpc.js";

/** The media type of the planes format (splitfeat_core::api::planes::MEDIA_TYPE). */
export const PLANES_MEDIA_TYPE = "application/vnd.splitfeat.planes";

export class CloudError extends Error {
  /**
   * kind: "unreachable" (no answer) | "http" (an error status) | "protocol" (bad body)
   * | "worker" (the in-browser cloud failed: heads not loadable, a crash).
   */
  constructor(kind, message, { status = 0, code = null } = {}) {
    super(message);
    this.name = "CloudError";
    this.kind = kind;
    this.status = status;
    this.code = code;
  }
}

export function cloudBase(params = new URLSearchParams(location.search)) {
  const base = params.get("cloud");
  return base ? base.replace(/\/+$/, "") : "";
}

async function request(url, init, timeoutMs) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    return await fetch(url, { ...init, signal: controller.signal });
  } catch (err) {
    const why = err.name === "AbortError" ? `no answer within ${timeoutMs / 1000} s` : err.message;
    throw new CloudError("unreachable", `${new URL(url, location.href).origin} did not answer: ${why}`);
  } finally {
    clearTimeout(timer);
  }
}

async function errorFrom(response) {
  let code = null;
  let message = `HTTP ${response.status}`;
  try {
    const body = await response.json();
    code = body.error ?? null;
    if (body.message) message = `${body.message} (HTTP ${response.status})`;
  } catch {
    // Not JSON: keep the status line.
  }
  return new CloudError("http", message, { status: response.status, code });
}

/** The server's model catalogue: {models, tasks, classes}. */
export async function fetchCatalog(base, timeoutMs = 5000) {
  const response = await request(`${base}/v1/models`, { cache: "no-store" }, timeoutMs);
  if (!response.ok) throw await errorFrom(response);
  try {
    return await response.json();
  } catch (err) {
    throw new CloudError("protocol", `GET /v1/models: ${err.message}`);
  }
}

/** A planes answer's bytes as {response, images} (paint.js), or a "protocol" CloudError. */
async function painted(bytes, what) {
  try {
    return await paint(bytes);
  } catch (err) {
    throw new CloudError("protocol", `${what}: ${err.message}`, { code: err.code ?? null });
  }
}

/**
 * Sends one bitstream; returns {response, images, roundTripMs, networkMs} where
 * `response` is the answer's metadata (POST /v1/infer's JSON), `images` {seg, disp,
 * recon} its outputs as ImageData, and networkMs the round trip less the server's own
 * time. `format`: "planes" (asked with the Accept header; a server that answers JSON
 * anyway still works) or "json" (the PNGs stay in `response`, `images` is null).
 */
export async function infer(base, modelId, bitstream, { tasks = ["seg", "disp", "recon"], maxDisparity = null, timeoutMs = 20000, format = "planes" } = {}) {
  const query = new URLSearchParams({ model: modelId, tasks: tasks.join(",") });
  if (maxDisparity != null) query.set("max_disparity", String(maxDisparity));
  const accept = format === "planes" ? PLANES_MEDIA_TYPE : "application/json";
  const t0 = performance.now();
  const response = await request(
    `${base}/v1/infer?${query}`,
    { method: "POST", headers: { "content-type": "application/octet-stream", accept }, body: bitstream },
    timeoutMs,
  );
  if (!response.ok) throw await errorFrom(response);
  const planes = (response.headers.get("content-type") ?? "").startsWith(PLANES_MEDIA_TYPE);
  let body;
  try {
    body = planes ? new Uint8Array(await response.arrayBuffer()) : await response.json();
  } catch (err) {
    throw new CloudError("protocol", `POST /v1/infer: ${err.message}`);
  }
  const roundTripMs = performance.now() - t0;
  const answer = planes ? await painted(body, "POST /v1/infer") : { response: body, images: null };
  const serverMs = answer.response.timings_ms?.total ?? 0;
  return { ...answer, roundTripMs, networkMs: Math.max(0, roundTripMs - serverMs) };
}

/** A splitfeat-cloud server: this origin (`base` "") or another one. */
export class HttpCloud {
  constructor(base) {
    this.base = base;
    this.kind = base ? "url" : "same-origin";
    this.host = base ? new URL(base, location.href).host : location.host;
    this.label = this.host;
    this.networkLabel = "Network · upload + response";
  }

  infer(modelId, bitstream, options) {
    return infer(this.base, modelId, bitstream, options);
  }

  prepare() {}
}

/** Where a model's heads are, next to its edge weights (manifest paths are relative to assets/). */
export function headsUrl(entry, assetsBase = "assets/") {
  return new URL(`${assetsBase}${entry.heads.path.replace(/^\.?\//, "")}`, location.href).href;
}

/**
 * The cloud half in a module worker of this page (cloud-worker.js). `models` are the
 * manifest entries; each model's heads are fetched and verified on its first frame
 * (or on `prepare`). `device`: "cpu", "webgpu" or "auto", for the worker's heads.
 */
export class WorkerCloud {
  constructor(models, { device = "cpu" } = {}) {
    this.kind = "worker";
    this.device = device;
    this.backend = null;
    this.models = models.map((entry) => ({ entry, headsUrl: headsUrl(entry) }));
    this.networkLabel = "Worker · messages to and from the cloud worker";
    this.rpc = null;
  }

  get label() {
    const on = this.backend ?? this.device;
    return `in this browser (worker, ${on === "webgpu" ? "WebGPU" : on === "cpu" ? "CPU" : on})`;
  }

  start() {
    const worker = new Worker(new URL("./cloud-worker.js", import.meta.url), { type: "module" });
    this.rpc = new RpcClient(worker, {
      crashError: (message) => ({ message: `cloud worker failed: ${message}`, code: "crashed" }),
    });
    this.ready = this.rpc.call("init", { models: this.models, device: this.device });
    // Keep the rejection for the first real call; do not report it twice.
    this.ready.catch(() => {});
  }

  /** Rejects every call in flight and drops the worker: the next call starts a new one. */
  fail(error) {
    this.rpc?.terminate(error);
    this.rpc = null;
  }

  async request(type, payload, transfer) {
    // No worker yet, or it failed (a script error): a new one.
    if (!this.rpc || this.rpc.failed) this.start();
    try {
      await this.ready;
      return await this.rpc.call(type, payload, transfer);
    } catch (error) {
      if (error.code === "crashed") this.fail(error);
      throw new CloudError("worker", error.message, { code: error.code ?? null });
    }
  }

  /** Loads a model's heads ahead of its first frame; failures surface on that frame. */
  prepare(modelId) {
    this.request("prepare", { model: modelId }).then((r) => {
      if (r) this.backend = r.backend;
    }, () => {});
  }

  /**
   * Same contract as the HTTP `infer`: {response, images, roundTripMs, networkMs}, or
   * a CloudError. The worker answers in the planes format only (its buffer moved, not
   * copied).
   */
  async infer(modelId, bitstream, { tasks = ["seg", "disp", "recon"], maxDisparity = null } = {}) {
    const t0 = performance.now();
    const copy = bitstream.slice().buffer;
    const answer = await this.request("infer", { model: modelId, bitstream: copy, tasks: tasks.join(","), maxDisparity }, [copy]);
    this.backend = answer.backend ?? this.backend;
    const { status, body } = answer;
    if (status !== 200) {
      const message = body?.message ? `${body.message} (HTTP ${status})` : `HTTP ${status}`;
      throw new CloudError("http", message, { status, code: body?.error ?? null });
    }
    const roundTripMs = performance.now() - t0;
    const answerPainted = await painted(body, "the cloud worker's answer");
    const serverMs = answerPainted.response.timings_ms?.total ?? 0;
    return { ...answerPainted, roundTripMs, networkMs: Math.max(0, roundTripMs - serverMs) };
  }
}

/**
 * Whether this page is the static site `cargo xtask dist` writes: dist gives every
 * script a content-hashed name (this module becomes `js/cloud.<10 hex digits>.js`),
 * while splitfeat-cloud serves `www/` as written. A static host has no API, so the
 * page then goes straight to the worker instead of probing GET /v1/models (a 404 in
 * every host's log and the browser's console).
 */
export function isStaticBuild(url = import.meta.url) {
  return /\.[0-9a-f]{10}\.m?js$/.test(new URL(url).pathname);
}

/**
 * The cloud to use: `?cloud=URL` if given; else the worker on the static site
 * (`staticSite`); else this origin if its GET /v1/models answered (`catalogError`
 * null: the page came from splitfeat-cloud); else a worker.
 */
export function chooseCloud({ base, catalogError, models, device, staticSite = false }) {
  if (base) return new HttpCloud(base);
  if (!staticSite && !catalogError) return new HttpCloud("");
  const cloud = new WorkerCloud(models, { device });
  cloud.start();
  return cloud;
}
