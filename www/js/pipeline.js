// The frame pipeline's bookkeeping: one record per frame taken from the input, with
// the time of each step, and what the page shows of them: frames/s, end-to-end
// latency (frame taken to outputs drawn) p50/p95, each stage's time per frame, the
// bottleneck, the upload rate and the frames dropped. The frame loop, frame-loop.js,
// writes the records; the views and the test hook read `summary()`.
//
// Stages: `source` (a live input's frame period), `edge` (grab the frame, encode in
// the edge worker), `link` (with a bandwidth budget, the link time the frame's bytes
// take: budget.js), `cloud` (the stream's round trip to the cloud once it leaves) and
// `draw` (the answer's outputs drawn). Link and cloud share the one cloud slot. Dropped frames are counted where they drop: `skipped`
// (a live input's frames the edge never took), `replacedBeforeCloud` (encoded, then
// replaced by a newer frame before the cloud was free) and `replacedBeforeDraw`
// (answered, then replaced by a newer answer before it was drawn).

/** Frames/s and the upload rate are taken over this much recent time. */
const WINDOW_MS = 3000;
/** Completed frames kept for the latency percentiles and the stage times. */
const KEEP = 120;
/** Recent frames whose stage times estimate the next (the frame loop's pacing). */
const ESTIMATE_FRAMES = 15;
/** Uploads kept for the test hook's check of the budget. */
const KEEP_UPLOADS = 500;

/** The `p` quantile (0..1) of `values` by nearest rank; NaN when empty. */
export function quantile(values, p) {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (!v.length) return NaN;
  return v[Math.min(v.length - 1, Math.max(0, Math.ceil(p * v.length) - 1))];
}

const STAGES = {
  edge: (r) => r.encodedAt - r.edgeStart,
  link: (r) => r.linkMs,
  cloud: (r) => r.answeredAt - r.uploadedAt,
  draw: (r) => r.shownAt - r.drawStart,
  /** The cloud slot: from taking it (the link's hold included) to the answer. */
  slot: (r) => r.answeredAt - r.sentAt,
};

export class PipelineStats {
  constructor() {
    this.reset(null);
  }

  /** Starts again for the input `source` (null: none). */
  reset(source) {
    this.source = source;
    this.sourceFps = source?.clock?.fps ?? null;
    this.seq = 0;
    this.lastTick = null;
    this.counts = {
      captured: 0,
      encoded: 0,
      sent: 0,
      answered: 0,
      failed: 0,
      shown: 0,
      skipped: 0,
      replacedBeforeCloud: 0,
      replacedBeforeDraw: 0,
    };
    /** The most frames ever at each place at once: the pipeline's bounds, observed. */
    this.max = { inFlight: 0, waiting: 0, drawing: 0, drawWaiting: 0 };
    this.done = [];
    this.uploads = [];
    this.uploadLog = [];
  }

  /** A record for the frame about to be taken. */
  begin() {
    return { seq: this.seq++, edgeStart: performance.now() };
  }

  /** The frame was taken from the input; counts the live frames skipped before it. */
  captured(record, frame) {
    record.tick = frame.tick ?? null;
    record.index = frame.index ?? null;
    record.capturedAt = frame.capturedAt ?? performance.now();
    this.counts.captured += 1;
    if (Number.isInteger(frame.tick)) {
      if (this.lastTick != null) this.counts.skipped += Math.max(0, frame.tick - this.lastTick - 1);
      this.lastTick = frame.tick;
    }
  }

  encoded(record, bytes) {
    record.encodedAt = performance.now();
    record.bytes = bytes;
    this.counts.encoded += 1;
  }

  /**
   * The frame took the cloud slot at `now`; it leaves the link at `leavesAt`, having
   * taken `linkMs` of it (budget.js reserveLink, at the same `now`).
   */
  sent(record, { leavesAt, linkMs = 0 } = {}, now = performance.now()) {
    record.sentAt = now;
    record.uploadedAt = leavesAt ?? now;
    record.linkMs = linkMs;
    this.counts.sent += 1;
    this.uploads.push({ at: record.uploadedAt, bytes: record.bytes });
    this.uploadLog.push({ seq: record.seq, bytes: record.bytes, leftAt: record.uploadedAt, linkMs });
    if (this.uploadLog.length > KEEP_UPLOADS) this.uploadLog.shift();
    const cut = record.sentAt - WINDOW_MS;
    while (this.uploads.length > 2 && this.uploads[0].at < cut) this.uploads.shift();
  }

  answered(record, ok) {
    record.answeredAt = performance.now();
    record.ok = ok;
    this.counts.answered += 1;
    if (!ok) {
      this.counts.failed += 1;
      this.complete(record);
    }
  }

  shown(record) {
    record.shownAt = performance.now();
    this.counts.shown += 1;
    this.complete(record);
  }

  /** Records how many frames are at each place now (for `max`). */
  occupancy(places) {
    for (const [k, n] of Object.entries(places)) this.max[k] = Math.max(this.max[k], n);
  }

  complete(record) {
    this.done.push(record);
    if (this.done.length > KEEP) this.done.shift();
  }

  /** The `p` quantile of `stage`'s time per frame over the last frames; NaN before any. */
  estimate(stage, p = 0.5) {
    const times = this.done.slice(-ESTIMATE_FRAMES).map(STAGES[stage]);
    return quantile(times, p);
  }

  /**
   * Bytes per second sent over the last WINDOW_MS, or between the last two uploads
   * when fewer fell in it (a slow pipeline); null before two uploads.
   */
  uploadRate(now = performance.now()) {
    let recent = this.uploads.filter((u) => u.at >= now - WINDOW_MS);
    if (recent.length < 2) recent = this.uploads.slice(-2);
    if (recent.length < 2) return null;
    const span = recent.at(-1).at - recent[0].at;
    // Each upload's bytes over the time since the one before it.
    return span > 0 ? (recent.slice(1).reduce((a, u) => a + u.bytes, 0) * 1000) / span : null;
  }

  /** What the page shows and the test hook returns (see tests/README.md). */
  summary(now = performance.now()) {
    const shown = this.done.filter((r) => r.shownAt != null);
    // Over the last WINDOW_MS, or the last three frames when fewer fell in it.
    let recent = shown.filter((r) => r.shownAt >= now - WINDOW_MS);
    if (recent.length < 3) recent = shown.slice(-3);
    const span = recent.length >= 2 ? recent.at(-1).shownAt - recent[0].shownAt : 0;
    const fps = span > 0 ? ((recent.length - 1) * 1000) / span : null;
    const latencies = shown.map((r) => r.shownAt - r.capturedAt);
    const intervals = shown.slice(1).map((r, i) => r.shownAt - shown[i].shownAt);
    const stages = {};
    if (this.sourceFps) stages.source = 1000 / this.sourceFps;
    for (const [name, time] of Object.entries(STAGES)) {
      if (name === "slot") continue;
      const t = quantile(shown.map(time), 0.5);
      // No link stage without a budget.
      if (Number.isFinite(t) && (name !== "link" || t > 0)) stages[name] = t;
    }
    const slowest = Object.entries(stages).sort((a, b) => b[1] - a[1])[0];
    const c = this.counts;
    return {
      live: Boolean(this.source?.live),
      sourceFps: this.sourceFps,
      fps,
      periodMs: intervals.length ? quantile(intervals, 0.5) : null,
      latencyMs: latencies.length ? { p50: quantile(latencies, 0.5), p95: quantile(latencies, 0.95), max: Math.max(...latencies) } : null,
      stagesMs: stages,
      bottleneck: slowest ? { stage: slowest[0], ms: slowest[1] } : null,
      uploadBytesPerSecond: this.uploadRate(now),
      counts: { ...c, dropped: c.skipped + c.replacedBeforeCloud + c.replacedBeforeDraw },
      max: { ...this.max },
    };
  }

  /** The last frames sent, oldest first: {seq, bytes, leftAt (performance.now() ms), linkMs}. */
  uploadsSent() {
    return this.uploadLog.map((u) => ({ ...u }));
  }

  /**
   * The last completed frames, oldest first: {seq, tick, index, bytes, ok, waitedBehind,
   * capturedAt, edgeStart, encodedAt, sentAt, uploadedAt, linkMs, answeredAt, drawStart,
   * shownAt} (times: performance.now() in ms; `waitedBehind`: the frame at the cloud
   * when this one was encoded, null when the cloud was free; `uploadedAt`: when it
   * left the link).
   */
  frames() {
    return this.done.map((r) => ({ ...r }));
  }
}
