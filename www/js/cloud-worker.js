// Module worker that runs the cloud half in the browser: crate/web's CloudSession, the
// task heads answering bitstreams with the same core code as splitfeat-cloud. The
// page uses it when no cloud server answers (the demo served as static files).
//
// Requests (the protocol of rpc.js), and their results:
//   init    {models: [{entry, headsUrl, priorUrl}], device} -> {version}
//   prepare {model}                                  -> {backend, warmupMs} (loads the heads)
//   infer   {model, bitstream, tasks, maxDisparity}  -> {status, body, backend}: what
//           POST /v1/infer?model=..&tasks=..&max_disparity=..&format=planes answers
//           (status 200 and the planes format as a Uint8Array, its buffer moved to the
//           page; or the server's error status and {error, message} body)
// A failure of the worker itself (heads that cannot be fetched or verified, a crash:
// code "crashed") is an error reply. Requests run one at a time, in order, like the
// server's heads on one device.

import init, { CloudSession, answerWithoutModel, version } from "../pkg/splitfeat_web.js";
import { fetchBytes } from "./fetch-bytes.js";
import { serve } from "./rpc.js";

let loaded = null;
let device = "cpu";
const models = new Map(); // model id -> {entry, headsUrl, priorUrl}
const sessions = new Map(); // model id -> Promise<CloudSession>

/** The session of a model, created on first use; null for a model not in the list. */
function sessionFor(id) {
  const known = models.get(id);
  if (!known) return null;
  let session = sessions.get(id);
  if (!session) {
    session = (async () => {
      const [bytes, prior] = await Promise.all([fetchBytes(known.headsUrl), known.priorUrl ? fetchBytes(known.priorUrl) : undefined]);
      try {
        // JSON text: parsed in Rust at once, where reading the object field by field
        // from JavaScript took about 0.5 s (the entry holds its evaluation tables).
        return await CloudSession.create(JSON.stringify(known.entry), bytes, device, prior);
      } catch (err) {
        throw Object.assign(new Error(`the heads of model ${known.entry.name} (${id}) did not load: ${err.message}`), { code: err.code ?? "heads" });
      }
    })();
    // A failed load is retried by the next request rather than remembered.
    session.catch(() => sessions.delete(id));
    sessions.set(id, session);
  }
  return session;
}

const handlers = {
  async init({ models: list, device: wanted }) {
    loaded ??= init({ module_or_path: new URL("../pkg/splitfeat_web_bg.wasm", import.meta.url) });
    await loaded;
    device = wanted ?? "cpu";
    models.clear();
    for (const m of list) models.set(m.entry.id, m);
    return { version: version() };
  },

  async prepare({ model }) {
    const session = await sessionFor(model);
    return session ? { backend: session.backend(), warmupMs: session.warmupMs() } : null;
  },

  async infer({ model, bitstream, tasks, maxDisparity }) {
    const pending = sessionFor(model);
    if (!pending) return answerWithoutModel(model, tasks ?? undefined, maxDisparity ?? undefined);
    const session = await pending;
    const answer = await session.infer(new Uint8Array(bitstream), tasks ?? undefined, maxDisparity ?? undefined);
    return { ...answer, backend: session.backend() };
  },
};

serve(handlers, {
  // The planes move to the page instead of being copied.
  transfer: (result) => (result?.body instanceof Uint8Array ? [result.body.buffer] : []),
  // A WebAssembly trap (a panic) leaves the module unusable: the page replaces the
  // worker when the code says so.
  errorCode: (err) => (err instanceof WebAssembly.RuntimeError ? "crashed" : null),
});
