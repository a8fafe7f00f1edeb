// The page's handle on the edge worker: promise-returning calls, and the edge weights,
// fetched once per model and kept (in memory, and in the Cache Storage API where the
// page is a secure context). Weights are verified (size, sha256, model id) in Rust when
// a session loads them; only verified bytes are cached.

import { RpcClient } from "./rpc.js";

export class EdgeError extends Error {
  constructor(message, code) {
    super(message);
    this.name = "EdgeError";
    this.code = code;
  }
}

export class Edge {
  constructor() {
    const worker = new Worker(new URL("./edge-worker.js", import.meta.url), { type: "module" });
    this.rpc = new RpcClient(worker, {
      replyError: (error) => new EdgeError(error.message, error.code),
      crashError: (message) => new EdgeError(`edge worker failed: ${message}`, "worker"),
    });
  }

  call(type, payload = {}, transfer = []) {
    return this.rpc.call(type, payload, transfer);
  }

  /** Loads the WebAssembly module; returns {version, classes}. */
  init() {
    return this.call("init");
  }

  /**
   * Opens the session of model `entry` (a manifest entry) on `backend` ("cpu" |
   * "webgpu"), or finds it open; `weights` may be null when it is open already.
   * `priorUrl`: the model's prior tables, fetched by the worker for a new session.
   */
  open(backend, entry, weights, priorUrl = null) {
    // A copy: the same bytes may open the other backend's session later.
    const buffer = weights ? weights.slice().buffer : null;
    return this.call("open", { backend, model: entry.id, entry: JSON.stringify(entry), weights: buffer, priorUrl }, buffer ? [buffer] : []);
  }

  /** Encodes one RGBA frame {data, width, height} with `model`; the pixels are copied, not moved. */
  encode(backend, model, frame, codec, bits) {
    const pixels = frame.data.slice().buffer;
    return this.call("encode", { backend, model, pixels, width: frame.width, height: frame.height, codec, bits }, [pixels]);
  }

  close(backend) {
    return this.call("close", { backend });
  }
}

const CACHE_NAME = "splitfeat-weights-v1";
const memory = new Map();

function cacheKey(url, entry) {
  return new URL(`${url}?sha256=${entry.edge.sha256}`, location.href).href;
}

async function openCache() {
  try {
    return "caches" in self ? await caches.open(CACHE_NAME) : null;
  } catch {
    return null; // storage disabled (private mode, opaque origin)
  }
}

/**
 * The edge weights of `entry` from `url`: from memory, the cache or the network.
 * Returns {bytes, source}.
 */
export async function getWeights(entry, url) {
  const hit = memory.get(entry.edge.sha256);
  if (hit) return { bytes: hit, source: "memory" };
  const cache = await openCache();
  const cached = cache && (await cache.match(cacheKey(url, entry)));
  if (cached) {
    return { bytes: new Uint8Array(await cached.arrayBuffer()), source: "cache" };
  }
  let response;
  try {
    response = await fetch(url);
  } catch (err) {
    throw new EdgeError(`could not fetch ${url}: ${err.message}`, "fetch");
  }
  if (!response.ok) throw new EdgeError(`${url}: HTTP ${response.status}`, "fetch");
  return { bytes: new Uint8Array(await response.arrayBuffer()), source: "network" };
}

/**
 * Keeps bytes that a session accepted (so they passed the hash check): in memory,
 * and unless `memoryOnly` (they came from the cache) in the Cache Storage API.
 */
export async function keepWeights(entry, url, bytes, { memoryOnly = false } = {}) {
  memory.set(entry.edge.sha256, bytes);
  const cache = memoryOnly ? null : await openCache();
  if (!cache) return;
  try {
    await cache.put(cacheKey(url, entry), new Response(bytes, { headers: { "content-type": "application/octet-stream" } }));
  } catch {
    // Quota or storage errors only cost a refetch next time.
  }
}

/** Drops bytes that a session refused (a stale or corrupt cache entry). */
export async function dropWeights(entry, url) {
  memory.delete(entry.edge.sha256);
  const cache = await openCache();
  await cache?.delete(cacheKey(url, entry));
}
