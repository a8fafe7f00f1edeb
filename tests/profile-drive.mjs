// CPU profile of the page's thread in drive mode (DevTools sampling profiler), self time per
// frame by function, for docs/results-web.md ("The page's own work per frame).
// cd tests && SPLITFEAT_CLOUD_BIN=$PWD/../target/release/splitfeat-cloud node profile-drive.mjs
import { launch, waitReady } from "./support/browser.js";
import { startCloud } from "./support/env.js";
const cloud = await startCloud();
const { page, close } = await launch({ webgpu: false });
try {
  await page.goto(`${cloud.url}/?backend=cpu&codec=ans&sample=0`);
  await page.waitForFunction(() => Number(document.body.dataset.frames || 0) >= 1, null, { timeout: 180_000 });
  await waitReady(page);
  await page.locator('[data-tab="drive"]').click();
  await page.locator("#drive-toggle").click();
  await page.waitForTimeout(3000);
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Profiler.enable");
  await cdp.send("Profiler.setSamplingInterval", { interval: 200 });
  await cdp.send("Profiler.start");
  const f0 = await page.evaluate(() => Number(document.body.dataset.frames));
  await page.waitForTimeout(8000);
  const f1 = await page.evaluate(() => Number(document.body.dataset.frames));
  const { profile } = await cdp.send("Profiler.stop");
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const dt = profile.timeDeltas; let total = 0;
  profile.samples.forEach((id, i) => { const n = byId.get(id); const key = `${n.callFrame.functionName || "(anon)"} ${n.callFrame.url.split("/").pop()}:${n.callFrame.lineNumber}`; self.set(key, (self.get(key) ?? 0) + (dt[i] ?? 0)); total += dt[i] ?? 0; });
  const frames = f1 - f0;
  console.log(`frames ${frames} in 8 s; profile ${Math.round(total / 1000)} ms`);
  for (const [k, v] of [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 30)) console.log(`${(v / 1000 / frames).toFixed(2)} ms/frame  ${k}`);
} finally {
  await close();
  cloud.stop?.(); cloud.kill?.();
}
process.exit(0);
