// The frame pipeline (www/js/frame-loop.js): with the cloud slower than the input,
// frames are dropped, never queued. Checked on the order of the page's own records
// and on the requests the cloud received, not on how fast anything ran.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { banners, chromiumAvailable, launch, waitReady } from "./support/browser.js";
import { requireWasm, startCloud } from "./support/env.js";

const skip = chromiumAvailable() ? false : "no /usr/bin/chromium (apt-get install chromium)";

/** Added to every POST /v1/infer: a cloud far slower than a 30 frames/s input. */
const CLOUD_DELAY_MS = 300;

describe("frame pipeline", { skip }, () => {
  let cloud;

  before(async () => {
    requireWasm();
    cloud = await startCloud();
  });

  after(async () => {
    await cloud?.stop();
  });

  test("drops frames rather than queueing them behind a slow cloud", async (t) => {
    const { page, messages, close } = await launch();
    t.after(close);
    // The cloud, as the network sees it: how many requests are open at once.
    let open = 0;
    let mostOpen = 0;
    let requests = 0;
    await page.route((url) => url.pathname === "/v1/infer", async (route) => {
      open += 1;
      requests += 1;
      mostOpen = Math.max(mostOpen, open);
      try {
        await new Promise((resolve) => setTimeout(resolve, CLOUD_DELAY_MS));
        await route.continue();
      } finally {
        open -= 1;
      }
    });
    try {
      await page.goto(`${cloud.url}/?backend=cpu&fps=30`);
      assert.equal(await waitReady(page), "ready", JSON.stringify(await banners(page)));
      // Count from the drive's start (the still sample at start-up went to the cloud).
      [requests, mostOpen] = [0, 0];
      await page.locator('[data-tab="drive"]').click();
      await page.locator("#drive-toggle").click();
      await page.waitForFunction(() => window.splitfeat.pipeline().counts.shown >= 8, null, { timeout: 120_000, polling: 100 });
      await page.locator("#drive-toggle").click();
      await page.evaluate(() => window.splitfeat.idle());
      const p = await page.evaluate(() => window.splitfeat.pipeline());
      const frames = await page.evaluate(() => window.splitfeat.pipelineFrames());
      console.log(`# slow cloud: ${JSON.stringify({ fps: p.fps, latencyMs: p.latencyMs, stagesMs: p.stagesMs, counts: p.counts })}`);

      // At most one stream at the cloud, one encoded frame waiting, one answer being
      // drawn and one waiting to be: the page's own count and the network's.
      assert.deepEqual(p.max, { inFlight: 1, waiting: 1, drawing: 1, drawWaiting: p.max.drawWaiting });
      assert.ok(p.max.drawWaiting <= 1);
      assert.equal(mostOpen, 1, `requests open at once: ${mostOpen}`);
      assert.equal(requests, p.counts.sent);

      // Nothing left behind once the input stopped: every encoded frame was sent or
      // replaced, every stream answered, every answer drawn or replaced.
      const c = p.counts;
      assert.equal(c.encoded, c.sent + c.replacedBeforeCloud);
      assert.equal(c.answered, c.sent);
      assert.equal(c.failed, 0);
      assert.equal(c.answered, c.shown + c.replacedBeforeDraw);
      // A 30 frames/s input against a cloud that takes over 0.3 s a frame: most input
      // frames were dropped (skipped or replaced), none queued.
      assert.ok(c.dropped > c.shown, JSON.stringify(c));

      // Frame by frame: each went out only once the one before it had come back, and
      // a frame encoded while the cloud was busy waited behind that one frame only and
      // went out as soon as it came back. The frames drawn are ever newer input frames.
      // ("At once": well under one cloud call, which a frame queued behind another
      // would have waited; the margin is for a loaded machine pausing the page.)
      const soon = CLOUD_DELAY_MS / 2;
      const bySeq = new Map(frames.map((f) => [f.seq, f]));
      for (let i = 1; i < frames.length; i++) {
        const [prev, f] = [frames[i - 1], frames[i]];
        assert.ok(f.seq > prev.seq && f.tick > prev.tick, `frame order: ${JSON.stringify([prev, f])}`);
        assert.ok(f.sentAt >= prev.answeredAt, `frame ${f.seq} sent before frame ${prev.seq} came back`);
        assert.ok(f.encodedAt >= f.capturedAt && f.sentAt >= f.encodedAt && f.shownAt >= f.answeredAt);
        const ahead = bySeq.get(f.waitedBehind);
        if (f.waitedBehind == null) {
          // The cloud was free: sent at once.
          assert.ok(f.sentAt - f.encodedAt < soon, `frame ${f.seq} waited ${f.sentAt - f.encodedAt} ms for a free cloud`);
        } else if (ahead) {
          assert.equal(ahead.seq, prev.seq, `frame ${f.seq} waited behind ${f.waitedBehind}, not the frame just before it`);
          assert.ok(f.sentAt - ahead.answeredAt < soon, `frame ${f.seq} went out ${f.sentAt - ahead.answeredAt} ms after the cloud was free`);
        }
      }
      assert.ok(frames.some((f) => f.waitedBehind != null), "the edge encoded while the cloud worked");
    } catch (err) {
      console.log(messages.join("\n"));
      throw err;
    }
  });
});
