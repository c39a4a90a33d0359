/**
 * One chunk of a pass: read every counter over the chunk's windows, resolve anchors the lookback
 * did not hold, compute exact usage, reconcile, and write it all in one transaction.
 */
import type { PoolClient } from "pg";
import { UsageAggregator } from "./aggregate";
import { lastSample, type Anchor, type Sample } from "./counter-usage";
import { gatewayMeters, modelServerMeters, type MeterDefinition } from "./meters";
import { exactSelector } from "./promql";
import { reconcile } from "./reconcile";
import type { CollectorSettings } from "../contract";
import { writeChunk, type ChunkWriteResult } from "./store";
import { createTenantResolver } from "./tenant-map";
import { WATERMARK_SOURCES, type CollectorDeps } from "./collector-types";
import { windowsBetween } from "./windows";

/** Identity of a series across chunks (Prometheus returns labels in a stable, sorted order). */
const seriesKey = (metric: string, labels: Readonly<Record<string, string>>): string => `${metric}${JSON.stringify(labels)}`;

/**
 * Queries Prometheus works on at once for a chunk: two keep both of its cores busy on a two-core
 * node, and the bench's baseline replays the requests two at a time too.
 */
const PROMETHEUS_SLOTS = 2;

/** A counting semaphore: `take` waits for a free slot, `give` frees one (first come, first served). */
class Slots {
  private readonly waiting: Array<() => void> = [];
  constructor(private free: number) {}

  take(): Promise<void> {
    if (this.free > 0) {
      this.free -= 1;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  give(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free += 1;
  }
}

const meters = (settings: CollectorSettings): MeterDefinition[] => [
  ...gatewayMeters(settings.gatewayCounterSuffix),
  ...modelServerMeters(settings.vllmFamily),
];

/**
 * Collects (fromMs, toMs]. `anchors` holds each series' last sample as of fromMs from earlier
 * chunks of the same pass (and receives this chunk's); only the first chunk of a pass reads the
 * anchor lookback from Prometheus.
 */
export const collectChunk = async (
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
  const aggregator = new UsageAggregator({ windows, gapThresholdMs: settings.gapThreshold, attributeLabels: settings.attributeLabels }, tenants);
  let series = 0;
  let samples = 0;
  // One query per counter covers every series and every window of the chunk, plus the lookback
  // that holds each series' anchor sample. Prometheus works on two at a time (PROMETHEUS_SLOTS); a
  // query gives its slot up as soon as Prometheus has answered it, so Prometheus prepares the next
  // answers while this process parses that one (it would otherwise wait for every parse). Series
  // are added as they arrive; nothing below depends on their order (sums, and a reconciliation
  // that sorts before it apportions).
  const lookback = firstChunk ? settings.anchorLookback : 0;
  const slots = new Slots(PROMETHEUS_SLOTS);
  const reads: Promise<void>[] = [];
  let failure: { error: unknown } | undefined;
  for (const m of meters(settings)) {
    await slots.take();
    if (failure) {
      slots.give();
      break; // no further query; the chunk is not written
    }
    const matchers = m.source === "gateway" ? settings.gatewayMatchers : settings.modelServerMatchers;
    let answered = false;
    const free = () => {
      if (!answered) slots.give();
      answered = true;
    };
    const read = deps.prometheus.rawSamples(`${m.metric}${matchers ?? ""}`, fromMs - lookback, toMs, (s) => {
      series += 1;
      samples += s.samples.t.length;
      if (s.samples.t.length === 0) return;
      const key = seriesKey(m.metric, s.labels);
      const cached = anchors.get(key);
      aggregator.addSeries(m, s.labels, s.samples, cached ? { kind: "sample", sample: cached } : undefined);
      anchors.set(key, lastSample(s.samples));
    }, { onAnswered: free });
    // Handled at once (a rejection must not wait for the loop), thrown below once every read has ended.
    reads.push(
      read.then(free, (error: unknown) => {
        failure ??= { error };
        free();
      }),
    );
  }
  // Every read started has ended (none still adds series) before the first error is thrown.
  await Promise.all(reads);
  if (failure) throw failure.error;
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
    anchors.set(key, lastSample(s.samples));
  }
  const reconciled = reconcile(aggregator.rows.values(), settings.reconcileTolerance, settings.shortfallBilling);
  const reconciliations = reconciled.reconciliations;
  // Access logs billed instead (settings.billableSource): gateway rows stay for reconciliation only.
  const ledger = settings.billableSource === "access-log" ? reconciled.ledger.map((b) => ({ ...b, billable: false })) : reconciled.ledger;
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
      if (u.metric.startsWith("authorized_hits") || u.metric.endsWith("_tokens_total")) m.unattributedTokens.inc({ source: u.source }, u.amount);
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
  for (const n of aggregator.nulSeries) {
    deps.log?.warn(
      { tenant: n.tenant, metric: n.metric, labels: n.labels },
      "collector: a label value holds NUL (U+0000), which PostgreSQL cannot store; billed with U+FFFD in its place",
    );
  }
  for (const u of unattributed) {
    deps.log?.warn({ source: u.source, metric: u.metric, reason: u.reason, amount: u.amount, window: new Date(u.windowStartMs).toISOString() }, "collector: unattributed usage");
  }
  return { write, series, samples };
};

