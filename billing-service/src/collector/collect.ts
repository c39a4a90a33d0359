/**
 * One collection pass: take the lock, work out the range, collect it chunk by chunk. Used by
 * `collect --once` and by the loop in `serve`.
 */
import type { Sample } from "./counter-usage";
import { collectChunk } from "./collect-chunk";
import { WATERMARK_SOURCES, type CollectorDeps, type CollectReport, type CollectRequest } from "./collector-types";
import type { CollectorSettings } from "../contract";
import { readWatermark, releaseCollectorLock, tryCollectorLock } from "./store";
import { chunkRange, closedUntil, windowsBetween } from "./windows";

export * from "./collector-types";

/** Works out the range of a pass; undefined when there is nothing closed to collect. */
export const resolveRange = (
  request: CollectRequest,
  watermarkMs: number | undefined,
  settings: CollectorSettings,
  nowMs: number,
): { fromMs: number; toMs: number } | undefined => {
  const toMs = request.toMs ?? closedUntil(nowMs, settings.offset, settings.window);
  // Resuming with no newly closed window: nothing to do. Windows already collected are collected
  // again (for samples later than the offset) only together with a new one, not on every tick.
  if (request.fromMs === undefined && watermarkMs !== undefined && toMs <= watermarkMs) return undefined;
  const firstStart = settings.start !== undefined ? Date.parse(settings.start) : toMs - settings.window;
  const fromMs =
    request.fromMs ??
    (watermarkMs !== undefined ? watermarkMs - settings.recollectWindows * settings.window : firstStart);
  return fromMs < toMs ? { fromMs, toMs } : undefined;
};

export const collectOnce = async (deps: CollectorDeps, request: CollectRequest = {}): Promise<CollectReport> => {
  const { pool, settings } = deps;
  const now = deps.now ?? Date.now;
  const empty = { chunks: 0, usageRowsChanged: 0, usageRowsZeroed: 0, reconciliationsChanged: 0, unattributedChanged: 0, series: 0, samples: 0 };
  // The lock lives on one session for the whole pass; a second replica skips instead of waiting.
  const lockClient = await pool.connect();
  try {
    if (!(await tryCollectorLock(lockClient))) {
      deps.log?.info({}, "collector: another replica holds the lock; skipping this pass");
      return { status: "locked", ...empty };
    }
    try {
      const watermark = await readWatermark(lockClient, WATERMARK_SOURCES);
      // Set before the work, so the lag keeps growing while passes fail (Prometheus down) and
      // the alert on it fires.
      if (watermark !== undefined) {
        for (const source of WATERMARK_SOURCES) deps.metrics?.lagSeconds.set({ source }, (now() - watermark) / 1000);
      }
      const range = resolveRange(request, watermark, settings, now());
      if (!range) return { status: "nothing-to-do", ...empty };
      windowsBetween(range.fromMs, range.toMs, settings.window); // validates alignment
      const totals = { ...empty };
      // Last sample per series as of the end of the previous chunk: later chunks take their
      // anchors from here and query no lookback, so the lookback is read once per pass.
      const anchors = new Map<string, Sample>();
      for (const chunk of chunkRange(range.fromMs, range.toMs, settings.window, settings.windowsPerQuery)) {
        const r = await collectChunk(deps, lockClient, chunk.startMs, chunk.endMs, anchors, totals.chunks === 0);
        totals.chunks += 1;
        totals.usageRowsChanged += r.write.usageRowsChanged;
        totals.usageRowsZeroed += r.write.usageRowsZeroed;
        totals.reconciliationsChanged += r.write.reconciliationsChanged;
        totals.unattributedChanged += r.write.unattributedChanged;
        totals.series += r.series;
        totals.samples += r.samples;
      }
      const lagFrom = (await readWatermark(lockClient, WATERMARK_SOURCES)) ?? range.toMs;
      for (const source of WATERMARK_SOURCES) deps.metrics?.lagSeconds.set({ source }, (now() - lagFrom) / 1000);
      deps.log?.info({ from: new Date(range.fromMs).toISOString(), to: new Date(range.toMs).toISOString(), ...totals }, "collector: pass done");
      return { status: "collected", ...range, ...totals };
    } finally {
      await releaseCollectorLock(lockClient);
    }
  } finally {
    lockClient.release();
  }
};

/** The loop inside `serve`: one pass every `settings.interval`, until the signal aborts. */
export const runCollectorLoop = async (deps: CollectorDeps, signal: AbortSignal): Promise<void> => {
  while (!signal.aborted) {
    try {
      await collectOnce(deps);
    } catch (e) {
      // Prometheus or the database down: the watermark did not move, the next pass catches up.
      deps.log?.warn({ err: (e as Error).message }, "collector: pass failed; will retry");
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, deps.settings.interval);
      signal.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
    });
  }
};
