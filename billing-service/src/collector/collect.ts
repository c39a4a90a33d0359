/**
 * One collection pass: take the lock, work out the range, read each chunk from Prometheus,
 * compute exact usage, reconcile, write. Used by `collect --once` and by the loop in `serve`.
 */
import type { Pool, PoolClient } from "pg";
import { UsageAggregator } from "./aggregate";
import type { Anchor, Sample } from "./counter-usage";
import { exactSelector } from "./promql";
import { gatewayMeters, modelServerMeters, type MeterDefinition } from "./meters";
import type { CollectorMetrics } from "./metrics";
import type { RawSeries } from "./prometheus-client";
import { reconcile } from "./reconcile";
import type { CollectorSettings } from "./settings";
import { readWatermark, releaseCollectorLock, tryCollectorLock, writeChunk, type ChunkWriteResult } from "./store";
import { createTenantResolver } from "./tenant-map";
import { chunkRange, closedUntil, windowsBetween } from "./windows";

/** Where raw samples come from (the Prometheus client, or a wrapper of it in tests). */
export interface SampleSource {
  rawSamples(selector: string, fromMs: number, toMs: number, onSeries: (s: RawSeries) => void): Promise<void>;
  lastValueAtOrBefore(selector: string, timeMs: number, lookbackMs: number): Promise<number | undefined>;
  /** Last value of every series matching `selector` (optional: without it, series are asked one by one). */
  lastValuesAtOrBefore?(selector: string, timeMs: number, lookbackMs: number): Promise<Array<{ labels: Record<string, string>; value: number }>>;
}

export interface CollectorLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface CollectorDeps {
  readonly pool: Pool;
  readonly prometheus: SampleSource;
  readonly settings: CollectorSettings;
  readonly metrics?: CollectorMetrics;
  readonly log?: CollectorLog;
  /** Clock, for tests. */
  readonly now?: () => number;
}

export const WATERMARK_SOURCES = ["gateway", "model-server"] as const;

export interface CollectRequest {
  /** Start of the range (window-aligned); defaults to the watermark minus `recollectWindows`. */
  readonly fromMs?: number;
  /** End of the range (window-aligned); defaults to the end of the newest closed window. */
  readonly toMs?: number;
}

export interface CollectReport {
  readonly status: "collected" | "nothing-to-do" | "locked";
  readonly fromMs?: number;
  readonly toMs?: number;
  readonly chunks: number;
  readonly usageRowsChanged: number;
  readonly usageRowsZeroed: number;
  readonly reconciliationsChanged: number;
  readonly unattributedChanged: number;
  readonly series: number;
  readonly samples: number;
}

/** Identity of a series across chunks (Prometheus returns labels in a stable, sorted order). */
const seriesKey = (metric: string, labels: Readonly<Record<string, string>>): string => `${metric}${JSON.stringify(labels)}`;

const meters = (settings: CollectorSettings): MeterDefinition[] => [
  ...gatewayMeters(),
  ...modelServerMeters(settings.vllmFamily),
];

/** Works out the range of a pass; undefined when there is nothing closed to collect. */
export const resolveRange = (
  request: CollectRequest,
  watermarkMs: number | undefined,
  settings: CollectorSettings,
  nowMs: number,
): { fromMs: number; toMs: number } | undefined => {
  const toMs = request.toMs ?? closedUntil(nowMs, settings.offset, settings.window);
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

const collectChunk = async (
  deps: CollectorDeps,
  client: PoolClient,
  fromMs: number,
  toMs: number,
  anchors: Map<string, Sample>,
  firstChunk: boolean,
): Promise<{ write: ChunkWriteResult; series: number; samples: number }> => {
  const { settings } = deps;
  const windows = windowsBetween(fromMs, toMs, settings.window);
  const tenants = createTenantResolver({ tenants: settings.tenants, strict: settings.strictTenants });
  const aggregator = new UsageAggregator({ windows, gapThresholdMs: settings.gapThreshold }, tenants);
  let series = 0;
  let samples = 0;
  // One query per counter covers every series and every window of the chunk, plus the lookback
  // that holds each series' anchor sample. Two run at a time: Prometheus prepares one answer while
  // this process parses the other. Series are added as they arrive; nothing below depends on
  // their order (sums, and a reconciliation that sorts before it apportions).
  const lookback = firstChunk ? settings.anchorLookback : 0;
  const queue = [...meters(settings)];
  let failed = false;
  const worker = async () => {
    for (let meter = queue.shift(); meter && !failed; meter = queue.shift()) {
      const m = meter;
      const matchers = m.source === "gateway" ? settings.gatewayMatchers : settings.modelServerMatchers;
      await deps.prometheus.rawSamples(`${m.metric}${matchers ?? ""}`, fromMs - lookback, toMs, (s) => {
        series += 1;
        samples += s.samples.length;
        if (s.samples.length === 0) return;
        const key = seriesKey(m.metric, s.labels);
        const cached = anchors.get(key);
        aggregator.addSeries(m, s.labels, s.samples, cached ? { kind: "sample", sample: cached } : undefined);
        anchors.set(key, s.samples[s.samples.length - 1]);
      });
    }
  };
  await Promise.all(
    [worker(), worker()].map((w) =>
      w.catch((e: unknown) => {
        failed = true; // the other worker takes no further query; the chunk is not written
        throw e;
      }),
    ),
  );
  // A series without a sample in the lookback is either new (Limitador creates a series on its
  // first hit, vLLM starts at zero: its first value is usage) or back from a gap longer than the
  // lookback (its earlier value must be subtracted). A query over the deep lookback tells them
  // apart. Usually only a few series need it (new users), one exact-series query each; after an
  // outage of every target many do, and one query per counter over `anchorBatchLookback` answers
  // most of them at once first.
  const deferred = aggregator.withoutAnchor;
  const known = new Map<string, number>();
  if (deferred.length > settings.anchorBatchAbove && deps.prometheus.lastValuesAtOrBefore) {
    for (const metric of new Set(deferred.map((d) => d.meter.metric))) {
      const meter = deferred.find((d) => d.meter.metric === metric)!.meter;
      const matchers = meter.source === "gateway" ? settings.gatewayMatchers : settings.modelServerMatchers;
      const values = await deps.prometheus.lastValuesAtOrBefore(`${metric}${matchers ?? ""}`, fromMs, settings.anchorBatchLookback);
      for (const v of values) known.set(seriesKey(metric, v.labels), v.value);
    }
  }
  for (const s of deferred) {
    const key = seriesKey(s.meter.metric, s.labels);
    const previous = known.has(key)
      ? known.get(key)
      : await deps.prometheus.lastValueAtOrBefore(exactSelector(s.meter.metric, s.labels), fromMs, settings.anchorDeepLookback);
    const anchor: Anchor =
      previous === undefined
        ? { kind: "new-series" }
        : // Its time is unknown but older than the lookback: far enough back to flag the gap.
          { kind: "sample", sample: { t: fromMs - settings.anchorLookback, v: previous } };
    aggregator.addSeries(s.meter, s.labels, s.samples, anchor);
    anchors.set(key, s.samples[s.samples.length - 1]);
  }
  const { ledger, reconciliations } = reconcile(aggregator.rows.values(), settings.reconcileTolerance);
  const unattributed = [...aggregator.unattributed.values()];
  const write = await writeChunk(client, { fromMs, toMs, ledger, reconciliations, unattributed, sources: WATERMARK_SOURCES });

  const m = deps.metrics;
  if (m) {
    for (const f of write.newFlags) {
      if (f.resets > 0) m.counterResets.inc({ tenant: f.tenant, source: f.source }, f.resets);
      if (f.gaps > 0) m.gaps.inc({ tenant: f.tenant, source: f.source }, f.gaps);
    }
    const newest = Math.max(...reconciliations.map((r) => r.windowStartMs), -Infinity);
    for (const r of reconciliations) {
      if (r.windowStartMs === newest && r.model !== null) m.reconciliationDiffRatio.set({ tenant: r.tenant, model: r.model }, r.diffRatio);
    }
    for (const u of write.newUnattributed) {
      if (u.metric === "authorized_hits" || u.metric.endsWith("_tokens_total")) m.unattributedTokens.inc({ source: u.source }, u.amount);
    }
  }
  for (const r of reconciliations) {
    if (r.flagged) {
      deps.log?.warn(
        { tenant: r.tenant, model: r.model, window: new Date(r.windowStartMs).toISOString(), gatewayTokens: r.gatewayTokens, modelTokens: r.modelInputTokens + r.modelOutputTokens, diffRatio: r.diffRatio },
        "collector: gateway and model-server tokens differ beyond the tolerance",
      );
    }
  }
  for (const u of unattributed) {
    deps.log?.warn({ source: u.source, metric: u.metric, reason: u.reason, amount: u.amount, window: new Date(u.windowStartMs).toISOString() }, "collector: unattributed usage");
  }
  return { write, series, samples };
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
