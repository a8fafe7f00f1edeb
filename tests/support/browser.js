// Debian's Chromium (/usr/bin/chromium) driven by playwright-core. No browser is
// downloaded; each launch gets a fresh profile directory.

import { chromium } from "playwright-core";
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";

import { ARTIFACTS, tempDir } from "./env.js";

export const CHROMIUM = process.env.SPLITFEAT_CHROMIUM ?? "/usr/bin/chromium";

const BASE_ARGS = [
  "--no-sandbox",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--headless",
];
/** WebGPU on SwiftShader, a CPU implementation of Vulkan: works without a GPU. */
export const WEBGPU_ARGS = ["--enable-unsafe-webgpu", "--use-webgpu-adapter=swiftshader"];
/** A fake camera (moving test pattern) and auto-accepted permission prompts. */
export const FAKE_CAMERA_ARGS = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"];

export function chromiumAvailable() {
  return existsSync(CHROMIUM);
}

/**
 * Launches Chromium; returns {context, page, messages, close}. `messages` collects
 * console output and page errors (printed when a test fails).
 */
export async function launch({ webgpu = false, camera = false, args = [], viewport = { width: 1440, height: 1000 } } = {}) {
  const profile = tempDir("splitfeat-chromium-");
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [...BASE_ARGS, ...(webgpu ? WEBGPU_ARGS : []), ...(camera ? FAKE_CAMERA_ARGS : []), ...args],
    viewport,
    deviceScaleFactor: 1,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const messages = [];
  page.on("console", (m) => messages.push(`[${m.type()}] ${m.text()}`));
  page.on("pageerror", (e) => messages.push(`[pageerror] ${e.message}`));
  page.on("worker", (w) => w.on("console", (m) => messages.push(`[worker ${m.type()}] ${m.text()}`)));
  const close = async () => {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  };
  return { context, page, messages, close };
}

/** Waits until the page is ready (first result shown, device chosen) or has failed. */
export async function waitReady(page, timeout = 180_000) {
  await page.waitForFunction(() => ["ready", "failed"].includes(document.body.dataset.state), null, { timeout, polling: 100 });
  return page.evaluate(() => document.body.dataset.state);
}

/** Waits until `count` more frames have gone through edge and cloud. */
export async function waitFrames(page, count = 1, timeout = 60_000) {
  const start = await page.evaluate(() => Number(document.body.dataset.frames || 0));
  await page.waitForFunction((n) => Number(document.body.dataset.frames || 0) >= n, start + count, { timeout, polling: 50 });
  await page.evaluate(() => window.splitfeat.idle());
}

/** Text of every banner on the page, by id. */
export async function banners(page) {
  return page.$$eval(".banner", (nodes) => Object.fromEntries(nodes.map((n) => [n.id.replace(/^banner-/, ""), `${n.dataset.level}: ${n.querySelector(".banner-text")?.textContent}`])));
}

export async function screenshot(page, name) {
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
