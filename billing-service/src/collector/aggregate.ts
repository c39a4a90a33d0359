/**
 * From raw series to per-window usage rows: one pass over the series of one query chunk.
 *
 * Each series is cut into the chunk's windows (counter-usage.ts); its usage is added to the row of
 * its ledger dimensions (source, tenant, user, tier, model, window). Series that map to no tenant
 * are summed per source and reason as unattributed, never dropped.
 */
import { firstIndexAfter, lastSampleAtOrBefore, windowUsage, type Anchor, type SeriesSamples, type Window } from "./counter-usage";
import { attributeSeries, hasNul, type Dimensions, type MeterDefinition, type Quantity, type Source } from "./meters";
import type { TenantResolver } from "./tenant-map";

export interface UsageRow extends Dimensions {
  readonly source: Source;
  readonly windowStartMs: number;
  readonly windowEndMs: number;
  /** Usage per quantity (tokens, requests, ...), integers. */
  readonly quantities: Partial<Record<Quantity, number>>;
  resets: number;
  gaps: number;
  samples: number;
  /** Series that contributed (several Limitador or vLLM replicas add up). */
  series: number;
}

export interface UnattributedUsage {
  readonly source: Source;
  readonly metric: string;
  readonly reason: string;
  readonly windowStartMs: number;
  amount: number;
  series: number;
}

export interface AggregationSettings {
  readonly windows: readonly Window[];
  /** A stretch without samples longer than this is a gap. */
  readonly gapThresholdMs: number;
  /** Gateway labels carried into the rows (collector setting `attributeLabels`). */
  readonly attributeLabels?: readonly string[];
}

const rowKey = (source: Source, d: Dimensions, windowStartMs: number): string =>
  JSON.stringify([source, d.tenant, d.user, d.tier, d.model, d.attributes, windowStartMs]);

export class UsageAggregator {
  readonly rows = new Map<string, UsageRow>();
  readonly unattributed = new Map<string, UnattributedUsage>();
  /** Series with samples in the range but none in the anchor lookback, to be resolved by the caller. */
  readonly withoutAnchor: Array<{ meter: MeterDefinition; labels: Readonly<Record<string, string>>; samples: SeriesSamples }> = [];
  /** Series whose label values held NUL (billed with U+FFFD in its place; the caller warns). */
  readonly nulSeries: Array<{ metric: string; tenant: string | null; labels: readonly string[] }> = [];

  constructor(
    private readonly settings: AggregationSettings,
    private readonly tenants: TenantResolver,
  ) {}

  /**
   * Adds one series of `meter`; its samples cover (firstWindow.start - lookback, lastWindow.end].
   * A series with no sample in the lookback is set aside in `withoutAnchor` (it is either new or
   * back from a long gap; only a deeper look can tell) unless `anchorOverride` is given.
   */
  addSeries(meter: MeterDefinition, labels: Readonly<Record<string, string>>, samples: SeriesSamples, anchorOverride?: Anchor): void {
    const { windows, gapThresholdMs } = this.settings;
    if (windows.length === 0 || samples.t.length === 0) return;
    const first = windows[0];
    const before = lastSampleAtOrBefore(samples, first.startMs);
    if (!before && !anchorOverride) {
      this.withoutAnchor.push({ meter, labels, samples });
      return;
    }
    let anchor: Anchor = before ? { kind: "sample", sample: before } : anchorOverride!;
    const who = attributeSeries(meter.source, labels, this.tenants, this.settings.attributeLabels);
    if (hasNul(labels)) {
      this.nulSeries.push({
        metric: meter.metric,
        tenant: who.kind === "tenant" ? who.tenant : null,
        labels: Object.keys(labels).filter((k) => labels[k].includes("\u0000")),
      });
    }
    let from = firstIndexAfter(samples, first.startMs);
    for (const w of windows) {
      // Only this window's index range is looked at (no copy), so a series costs O(samples) per chunk.
      const to = firstIndexAfter(samples, w.endMs);
      const usage = windowUsage(samples, anchor, w, gapThresholdMs, from, to);
      if (to > from) anchor = { kind: "sample", sample: { t: samples.t[to - 1], v: samples.v[to - 1] } };
      from = to;
      if (usage === undefined) continue;
      if (who.kind === "unattributed") {
        const key = JSON.stringify([meter.source, meter.metric, who.reason, w.startMs]);
        const u = this.unattributed.get(key) ?? {
          source: meter.source,
          metric: meter.metric,
          reason: who.reason,
          windowStartMs: w.startMs,
          amount: 0,
          series: 0,
        };
        u.amount += usage.increase;
        u.series += 1;
        this.unattributed.set(key, u);
        continue;
      }
      const key = rowKey(meter.source, who, w.startMs);
      let row = this.rows.get(key);
      if (!row) {
        row = {
          source: meter.source,
          tenant: who.tenant,
          user: who.user,
          tier: who.tier,
          model: who.model,
          attributes: who.attributes,
          windowStartMs: w.startMs,
          windowEndMs: w.endMs,
          quantities: {},
          resets: 0,
          gaps: 0,
          samples: 0,
          series: 0,
        };
        this.rows.set(key, row);
      }
      row.quantities[meter.quantity] = (row.quantities[meter.quantity] ?? 0) + usage.increase;
      row.resets += usage.resets;
      row.gaps += usage.gaps;
      row.samples += usage.samples;
      row.series += 1;
    }
  }
}
