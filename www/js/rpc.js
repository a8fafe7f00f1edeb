// Request and reply between the page and its module workers (the edge worker and
// the cloud worker), written once for both sides.
//
// Protocol: a request is {id, type, ...payload}; the reply is {id, ok: true, result}
// or {id, ok: false, error: {message, code}}. The worker answers requests one at a
// time, in order (`serve`); the page matches replies to calls by id (`RpcClient`).
// Buffers named as transferables move instead of being copied, in either direction.

/**
 * The page's end: `call` posts a request and resolves to the reply's result, or
 * rejects with `replyError(error)` for an error reply. If the worker fails (a script
 * error, or it could not start), every call in flight and every later call rejects
 * with `crashError(message)`.
 */
export class RpcClient {
  constructor(worker, { replyError = (error) => error, crashError = (message) => new Error(message) } = {}) {
    this.worker = worker;
    this.pending = new Map();
    this.nextId = 1;
    this.failed = null;
    worker.onmessage = (event) => {
      const { id, ok, result, error } = event.data;
      const call = this.pending.get(id);
      if (!call) return;
      this.pending.delete(id);
      if (ok) call.resolve(result);
      else call.reject(replyError(error));
    };
    worker.onerror = (event) => this.terminate(crashError(event.message ?? "could not start"));
  }

  /** Posts request `type` with `payload`, moving the buffers in `transfer`. */
  call(type, payload = {}, transfer = []) {
    if (this.failed) return Promise.reject(this.failed);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, type, ...payload }, transfer);
    });
  }

  /** Stops the worker: the calls in flight and every later one reject with `error`. */
  terminate(error) {
    this.failed ??= error;
    for (const call of this.pending.values()) call.reject(error);
    this.pending.clear();
    this.worker.terminate();
  }
}

/**
 * The worker's end: answers each request with `handlers[type](request)`, one request
 * at a time, in order. `transfer(result)` names the buffers of a result to move;
 * `errorCode(err)` may give a failure's code (else the error's own `code`, else
 * "internal").
 */
export function serve(handlers, { transfer = () => [], errorCode = () => null } = {}) {
  let queue = Promise.resolve();
  self.onmessage = (event) => {
    const request = event.data;
    queue = queue.then(async () => {
      try {
        const handler = handlers[request.type];
        if (!handler) throw new Error(`unknown request ${request.type}`);
        const result = await handler(request);
        self.postMessage({ id: request.id, ok: true, result }, transfer(result));
      } catch (err) {
        const error = { message: String(err?.message ?? err), code: errorCode(err) ?? err?.code ?? "internal" };
        self.postMessage({ id: request.id, ok: false, error });
      }
    });
  };
}
