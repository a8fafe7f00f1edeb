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

/** Where a model's prior tables are; null when it ships none. */
export function priorUrl(entry, assetsBase = "assets/") {
  return entry.prior ? new URL(`${assetsBase}${entry.prior.path.replace(/^\.?\//, "")}`, location.href).href : null;
}

/**
 * How many cloud workers share the heads: on the CPU one per task (up to the cores
 * the browser reports), since each worker is one thread and a head is the largest
 * piece of a frame's work; one on WebGPU, where the device already runs in parallel.
 */
export function cloudWorkerCount(device, cores = navigator.hardwareConcurrency || 1) {
  return device === "cpu" ? Math.max(1, Math.min(3, cores)) : 1;
}

/** One module worker running cloud-worker.js, and the page's RPC client of it. */
class CloudWorker {
  constructor(init) {
    this.init = init;
    this.rpc = null;
  }

  start() {
    const worker = new Worker(new URL("./cloud-worker.js", import.meta.url), { type: "module" });
    this.rpc = new RpcClient(worker, {
      crashError: (message) => ({ message: `cloud worker failed: ${message}`, code: "crashed" }),
    });
    this.ready = this.rpc.call("init", this.init);
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
}

/**
 * Answers of several workers for the tasks of one frame as one answer: every task's
 * output and head time, the slowest worker's total, the rest from the first.
 */
export function mergeAnswers(answers, order = ["seg", "disp", "recon"]) {
  if (answers.length === 1) return answers[0];
  const [first] = answers;
  const response = {
    ...first.response,
    tasks: order.filter((task) => answers.some((a) => a.response.tasks.includes(task))),
    outputs: Object.assign({}, ...answers.map((a) => a.response.outputs)),
    timings_ms: {
      ...first.response.timings_ms,
      heads: Object.assign({}, ...answers.map((a) => a.response.timings_ms.heads)),
      postprocess: answers.reduce((sum, a) => sum + (a.response.timings_ms.postprocess ?? 0), 0),
      total: Math.max(...answers.map((a) => a.response.timings_ms.total ?? 0)),
    },
  };
  return { response, images: Object.assign({}, ...answers.map((a) => a.images)) };
}

/**
 * The cloud half in module workers of this page (cloud-worker.js). `models` are the
 * manifest entries; each model's heads are fetched and verified on its first frame
 * (or on `prepare`). `device`: "cpu", "webgpu" or "auto", for the workers' heads. A
 * frame's tasks are spread over `workers` workers (`cloudWorkerCount`), which run
 * their heads at once, and their answers merged.
 */
export class WorkerCloud {
  constructor(models, { device = "cpu", workers = cloudWorkerCount(device) } = {}) {
    this.kind = "worker";
    this.device = device;
    this.backend = null;
    this.models = models.map((entry) => ({ entry, headsUrl: headsUrl(entry), priorUrl: priorUrl(entry) }));
    this.networkLabel = workers > 1 ? `Workers · messages to and from ${workers} cloud workers` : "Worker · messages to and from the cloud worker";
    this.workers = Array.from({ length: workers }, () => new CloudWorker({ models: this.models, device }));
  }

  get label() {
    const on = this.backend ?? this.device;
    const count = this.workers.length > 1 ? `${this.workers.length} workers` : "worker";
    return `in this browser (${count}, ${on === "webgpu" ? "WebGPU" : on === "cpu" ? "CPU" : on})`;
  }

  start() {
    for (const w of this.workers) w.start();
  }

  /** Loads a model's heads ahead of its first frame; failures surface on that frame. */
  prepare(modelId) {
    for (const w of this.workers) {
      w.request("prepare", { model: modelId }).then((r) => {
        if (r) this.backend = r.backend;
      }, () => {});
    }
  }

  /**
   * Same contract as the HTTP `infer`: {response, images, roundTripMs, networkMs}, or
   * a CloudError. The workers answer in the planes format only (their buffers moved,
   * not copied).
   */
  async infer(modelId, bitstream, { tasks = ["seg", "disp", "recon"], maxDisparity = null } = {}) {
    const t0 = performance.now();
    // Task j to worker min(j, n - 1): with one worker per task every head runs at
    // once; with two, segmentation (the costliest head: 19 output planes) has one.
    const last = this.workers.length - 1;
    const shares = this.workers
      .map((worker, i) => ({ worker, tasks: tasks.filter((_, j) => Math.min(j, last) === i) }))
      .filter((share) => share.tasks.length > 0);
    const answers = await Promise.all(
      shares.map(async ({ worker, tasks: share }) => {
        const copy = bitstream.slice().buffer;
        const answer = await worker.request("infer", { model: modelId, bitstream: copy, tasks: share.join(","), maxDisparity }, [copy]);
        this.backend = answer.backend ?? this.backend;
        const { status, body } = answer;
        if (status !== 200) {
          const message = body?.message ? `${body.message} (HTTP ${status})` : `HTTP ${status}`;
          throw new CloudError("http", message, { status, code: body?.error ?? null });
        }
        return painted(body, "the cloud worker's answer");
      }),
    );
    const roundTripMs = performance.now() - t0;
    const answer = mergeAnswers(answers, tasks);
    const serverMs = answer.response.timings_ms?.total ?? 0;
    return { ...answer, roundTripMs, networkMs: Math.max(0, roundTripMs - serverMs) };
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
export function chooseCloud({ base, catalogError, models, device, workers, staticSite = false }) {
  if (base) return new HttpCloud(base);
  if (!staticSite && !catalogError) return new HttpCloud("");
  // `workers` undefined: WorkerCloud's own default (cloudWorkerCount).
  const cloud = new WorkerCloud(models, { device, workers });
  cloud.start();
  return cloud;
}
