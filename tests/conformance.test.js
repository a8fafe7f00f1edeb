// The bitstream conformance suite (tests/conformance/) through both clouds the page can
// use: the cloud worker of the static site, and a splitfeat-cloud server reached from
// the page with ?cloud= (across origins). Every stream, sent by the page itself, gets
// the answer the suite expects, as in the Rust tests (crate/core/tests/conformance.rs
// for the decoder, crate/cloud/tests/conformance.rs for the server, whose rules this
// follows):
// - the suite's streams carry their own model id, which every cloud refuses as
//   `model_mismatch` before looking further; so a stream whose CRC holds gets the
//   served model's id written in and its CRC recomputed;
// - the served model is an untrained one of the `test` preset (features 16x4x8):
//   valid streams of another shape are refused as `shape_mismatch`;
// - an empty body is `empty_body` (the request is checked before the stream);
// - the served model ships no prior tables, so `prior` streams are `no_tables`.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";

import { banners, chromiumAvailable, launch, waitReady } from "./support/browser.js";
import { ROOT, cargo, fixtureAssets, requireWasm, startCloud, tempDir } from "./support/env.js";
import { serveStatic } from "./support/static.js";

const skip = chromiumAvailable() ? false : "no /usr/bin/chromium (apt-get install chromium)";
const SUITE = join(ROOT, "tests", "conformance");
const SERVED_SHAPE = [16, 4, 8];
/** Where the model id sits in a stream (docs/bitstream.md, "Container"). */
const MODEL_ID_AT = 5;

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** CRC-32 (IEEE), the stream trailer's checksum. */
function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function crcHolds(bytes) {
  if (bytes.length < 4) return false;
  const body = bytes.subarray(0, bytes.length - 4);
  return Buffer.from(bytes.subarray(bytes.length - 4)).readUInt32LE() === crc32(body);
}

/** The stream as if made for model `idHex`, when its CRC holds (else unchanged). */
function forModel(stream, idHex) {
  const bytes = Uint8Array.from(stream);
  if (bytes.length >= MODEL_ID_AT + 8 + 4 && crcHolds(bytes)) {
    bytes.set(Buffer.from(idHex, "hex"), MODEL_ID_AT);
    Buffer.from(bytes.buffer).writeUInt32LE(crc32(bytes.subarray(0, bytes.length - 4)), bytes.length - 4);
  }
  return bytes;
}

/** [{file, bytes, want}] for every case; `want` is null for a stream to accept. */
function suiteFor(idHex) {
  const cases = JSON.parse(readFileSync(join(SUITE, "cases.json"), "utf8"));
  const out = [];
  for (const c of cases.valid) {
    const other = c.shape.some((v, i) => v !== SERVED_SHAPE[i]);
    // A prior stream needs the model's tables, which the served model does not ship.
    out.push({ file: c.file, want: other ? "shape_mismatch" : c.tables ? "no_tables" : null });
  }
  for (const c of cases.invalid) out.push({ file: c.file, want: c.tables ? "no_tables" : c.error });
  return out.map((c) => {
    const bytes = forModel(readFileSync(join(SUITE, c.file)), idHex);
    return { ...c, bytes: Array.from(bytes), want: bytes.length === 0 ? "empty_body" : c.want };
  });
}

/** Sends every case through the page's cloud; [{file, want, got}]. */
async function answers(page, idHex, cases) {
  return page.evaluate(
    async ({ idHex, cases }) => {
      const out = [];
      for (const c of cases) {
        let got;
        try {
          await window.splitfeat.infer(idHex, Uint8Array.from(c.bytes), { tasks: ["seg"] });
          got = null;
        } catch (err) {
          got = err.code ?? `${err.kind}: ${err.message}`;
        }
        out.push({ file: c.file, want: c.want, got });
      }
      return out;
    },
    { idHex, cases },
  );
}

describe("the conformance suite through the cloud worker and the server", { skip }, () => {
  let assets;
  let site;
  let cloud;
  let idHex;

  before(async () => {
    requireWasm();
    assets = fixtureAssets(1, "test");
    idHex = JSON.parse(readFileSync(join(assets, "manifest.json"), "utf8")).models[0].id;
    const dist = tempDir("splitfeat-dist-");
    cargo(["xtask", "dist", "--no-build", "--assets", assets, "--out", dist]);
    site = await serveStatic(dist);
    cloud = await startCloud({ assets, args: ["--allow-origin", site.url] });
  });

  after(async () => {
    await site?.close();
    await cloud?.stop();
  });

  for (const [host, query] of [
    ["worker", () => "?backend=cpu"],
    ["server", () => `?backend=cpu&cloud=${encodeURIComponent(cloud.url)}`],
  ]) {
    test(`every stream gets the suite's answer from the ${host}`, async (t) => {
      const { page, close } = await launch();
      t.after(close);
      await page.goto(`${site.url}/${query()}`);
      assert.equal(await waitReady(page), "ready", JSON.stringify(await banners(page)));
      assert.equal(await page.evaluate(() => window.splitfeat.cloud().kind), host === "worker" ? "worker" : "url");

      const cases = suiteFor(idHex);
      const results = await answers(page, idHex, cases);
      const wrong = results.filter((r) => r.got !== r.want);
      assert.deepEqual(wrong, [], `${wrong.length} of ${results.length} answered otherwise`);
      // The suite's 15 valid and 27 invalid streams, of which some are accepted.
      assert.equal(results.length, 42);
      assert.ok(results.filter((r) => r.want === null).length >= 5);
    });
  }
});
