// A plain static file server on loopback, standing in for any static host: files of
// one directory, `index.html` for directories, 404 for anything else (so no API, no
// /v1/models). Like most hosts it sends `Cache-Control: no-cache` with an `ETag` and
// answers a matching `If-None-Match` with 304. Every request is recorded for the tests.

import { createServer } from "node:http";
import { readFile, stat } from "node:fs/promises";
import { extname, join, normalize, resolve, sep } from "node:path";

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".wasm": "application/wasm",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".svg": "image/svg+xml",
  ".bpk": "application/octet-stream",
};

/**
 * Serves `root` on 127.0.0.1 (a free port); resolves to {url, requests, close}.
 * `requests` lists {method, path, status} in arrival order.
 */
export async function serveStatic(root) {
  const base = resolve(root);
  const requests = [];
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    const record = (status) => requests.push({ method: req.method, path, status });
    let file = normalize(join(base, path));
    if (file !== base && !file.startsWith(base + sep)) {
      record(403);
      res.writeHead(403).end();
      return;
    }
    try {
      let info = await stat(file);
      if (info.isDirectory()) {
        file = join(file, "index.html");
        info = await stat(file);
      }
      const etag = `"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`;
      const body = await readFile(file);
      if (req.method !== "GET" && req.method !== "HEAD") {
        record(405);
        res.writeHead(405, { allow: "GET, HEAD" }).end();
        return;
      }
      if (req.headers["if-none-match"] === etag) {
        record(304);
        res.writeHead(304, { etag, "cache-control": "no-cache" }).end();
        return;
      }
      record(200);
      res.writeHead(200, {
        "content-type": TYPES[extname(file)] ?? "application/octet-stream",
        "content-length": body.length,
        "cache-control": "no-cache",
        etag,
      });
      res.end(req.method === "HEAD" ? undefined : body);
    } catch {
      record(404);
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
    }
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  const url = `http://127.0.0.1:${server.address().port}`;
  const close = () =>
    new Promise((ok) => {
      server.closeAllConnections?.();
      server.close(() => ok());
    });
  return { url, requests, close };
}
