// Shared test environment: repository paths, the cloud server, Cargo helpers.

import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const ARTIFACTS = join(ROOT, "tests", "artifacts");
mkdirSync(ARTIFACTS, { recursive: true });

const TARGET_DIR = process.env.CARGO_TARGET_DIR ? resolve(ROOT, process.env.CARGO_TARGET_DIR) : join(ROOT, "target");
const CARGO = process.env.CARGO ?? "cargo";

export function tempDir(prefix) {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Runs cargo in the repository root; throws with its output on failure. */
export function cargo(args, { quiet = true } = {}) {
  const r = spawnSync(CARGO, args, { cwd: ROOT, encoding: "utf8", stdio: quiet ? "pipe" : "inherit", maxBuffer: 64 << 20 });
  if (r.status !== 0) {
    throw new Error(`cargo ${args.join(" ")} failed (${r.status}):\n${(r.stderr ?? "").slice(-4000)}`);
  }
  return r.stdout ?? "";
}

/**
 * Runs an example of splitfeat-web; returns its stdout. With $SPLITFEAT_EXAMPLES_DIR
 * (set by `cargo xtask test`: the examples its `cargo test --workspace` built) the
 * binary runs directly; `cargo run -p` would build them again with another feature set.
 */
export function webExample(name, args) {
  const dir = process.env.SPLITFEAT_EXAMPLES_DIR;
  if (!dir) return cargo(["run", "--quiet", "-p", "splitfeat-web", "--example", name, "--", ...args]);
  const r = spawnSync(join(dir, name), args, { cwd: ROOT, encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${name} ${args.join(" ")} failed (${r.status}):\n${(r.stderr ?? "").slice(-4000)}`);
  return r.stdout ?? "";
}

/** The wasm package the page imports must have been built (cargo xtask builds it). */
export function requireWasm() {
  const pkg = join(ROOT, "www", "pkg", "splitfeat_web_bg.wasm");
  if (!existsSync(pkg)) {
    throw new Error(`${pkg} is missing: build the browser edge first (xtask build_wasm)`);
  }
}

/** Path of the splitfeat-cloud binary: $SPLITFEAT_CLOUD_BIN, else built with cargo. */
export function cloudBinary() {
  if (process.env.SPLITFEAT_CLOUD_BIN) return process.env.SPLITFEAT_CLOUD_BIN;
  cargo(["build", "--quiet", "-p", "splitfeat-cloud"]);
  return join(TARGET_DIR, "debug", "splitfeat-cloud");
}

/**
 * Starts splitfeat-cloud on a free port serving `www` and `assets`; resolves to
 * {url, stop, logs} once it prints `listening on URL`.
 */
export async function startCloud({ assets = join(ROOT, "assets"), www = join(ROOT, "www"), args = [], timeoutMs = 180_000 } = {}) {
  const bin = cloudBinary();
  const child = spawn(bin, ["--port", "0", "--www", www, "--assets", assets, ...args], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "warn" },
  });
  let logs = "";
  child.stderr.on("data", (d) => {
    logs = (logs + d).slice(-20000);
  });
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`splitfeat-cloud did not start within ${timeoutMs} ms:\n${logs}`)), timeoutMs);
    createInterface({ input: child.stdout }).on("line", (line) => {
      const m = /listening on (http:\/\/\S+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`splitfeat-cloud exited (${code ?? signal}) before listening:\n${logs}`));
    });
  });
  let stopped = null;
  const stop = () => {
    stopped ??= (async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    })();
    return stopped;
  };
  return { url, stop, logs: () => logs };
}

/**
 * Fixture assets: untrained models of `preset` (the shipped `tiny`, or the small
 * `test`) with made-up lambdas (distinct weights, so distinct ids); for tests of
 * mechanics, not of rates. `prior`: every model but the first ships prior tables.
 */
export function fixtureAssets(count = 2, preset = "tiny", { prior = false } = {}) {
  const dir = tempDir("splitfeat-assets-");
  webExample("fixture_assets", ["--out", dir, "--count", String(count), "--preset", preset, ...(prior ? ["--prior"] : [])]);
  return dir;
}
