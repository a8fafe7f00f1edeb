// Client of the cloud API (docs/api.md): GET /v1/models, POST /v1/infer.
// The base URL is the page's own origin, or `?cloud=URL`.

export class CloudError extends Error {
  /** kind: "unreachable" (no answer) | "http" (an error status) | "protocol" (bad body). */
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

/**
 * Sends one bitstream; returns {response, roundTripMs, networkMs} where networkMs is
 * the round trip less the server's own time.
 */
export async function infer(base, modelId, bitstream, { tasks = ["seg", "disp", "recon"], maxDisparity = null, timeoutMs = 20000 } = {}) {
  const query = new URLSearchParams({ model: modelId, tasks: tasks.join(",") });
  if (maxDisparity != null) query.set("max_disparity", String(maxDisparity));
  const t0 = performance.now();
  const response = await request(
    `${base}/v1/infer?${query}`,
    { method: "POST", headers: { "content-type": "application/octet-stream" }, body: bitstream },
    timeoutMs,
  );
  if (!response.ok) throw await errorFrom(response);
  let body;
  try {
    body = await response.json();
  } catch (err) {
    throw new CloudError("protocol", `POST /v1/infer: ${err.message}`);
  }
  const roundTripMs = performance.now() - t0;
  const serverMs = body.timings_ms?.total ?? 0;
  return { response: body, roundTripMs, networkMs: Math.max(0, roundTripMs - serverMs) };
}
