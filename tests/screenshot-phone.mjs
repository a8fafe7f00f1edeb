// The page on a phone-sized viewport (390x844), as docs/screenshots/phone.png: the
// first screen after the first result, with the shipped models.
// Run: `cd tests && node screenshot-phone.mjs` (SPLITFEAT_CLOUD_BIN as for the tests).

import { mkdirSync } from "node:fs";
import { join } from "node:path";

import { launch, waitReady } from "./support/browser.js";
import { ROOT, requireWasm, startCloud } from "./support/env.js";

requireWasm();
const out = join(ROOT, "docs", "screenshots");
mkdirSync(out, { recursive: true });
const cloud = await startCloud();
const { page, close } = await launch({ viewport: { width: 390, height: 844 } });
try {
  await page.goto(`${cloud.url}/?backend=cpu`);
  const state = await waitReady(page);
  if (state !== "ready") throw new Error(`the page did not get ready (${state})`);
  // Below the top bar: the input frame and the outputs under it.
  await page.evaluate(() => document.querySelector("#edge-title").scrollIntoView());
  const path = join(out, "phone.png");
  await page.screenshot({ path });
  console.log(path);
} finally {
  await close();
  await cloud.stop();
}
