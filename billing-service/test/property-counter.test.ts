/**
 * Property: whatever happens to the counters (restarts, missed scrapes, repeated scrapes, several
 * replicas per tenant) and however a range is cut into passes and query chunks, the billable ledger
 * in PostgreSQL holds exactly the true usage per tenant and window, re-collecting a range changes
 * nothing, and a gap is flagged exactly when a series missed scrapes beyond the threshold.
 *
 * The unit properties of the counter math live in collector-counter.test.ts; this one drives the
 * whole pass (`collectOnce`: chunking, anchors carried across chunks, the deep anchor lookup,
 * reconciliation, the idempotent store) against a real embedded PostgreSQL. Prometheus is replaced
 * by an in-memory source with the same range semantics ((from, to], raw samples); the real
 * Prometheus is exercised by collector-prometheus.test.ts and faults-prometheus.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { collectOnce, type SampleSource } from "../src/collector/collect";
import { sampleColumns, type Sample } from "../src/collector/counter-usage";
import { exactSelector } from "../src/collector/promql";
import { parseCollectorSettings } from "../src/contract";
import { migrate } from "../src/db/migrate";
import { COLLECTOR_ONLY } from "../src/db/migrations";
import { startPostgres as startTestPostgres, type RunningPostgres as TestPostgres } from "../testkit/postgres";

const STEP = 15_000;
const WINDOW = 5 * 60_000;
const WINDOWS = 6;
const GAP_THRESHOLD = 3 * STEP;
const FROM = Date.parse("2026-03-01T00:00:00Z");
const TO = FROM + WINDOWS * WINDOW;
const TICKS = (TO - FROM) / STEP;

interface Tick {
  inc: number;
  scraped: boolean;
  /** Counter restarts right after this tick's scrape (only when the tick was scraped: otherwise the increments since the last scrape are lost to any collector). */
  restart: boolean;
  duplicate: boolean;
}

interface SeriesSpec {
  tenant: "acme" | "globex";
  replica: number;
  ticks: Tick[];
}

const tickArb = fc.record({
  inc: fc.oneof(fc.constant(0), fc.nat(2_000)),
  scraped: fc.nat(9).map((n) => n !== 0), // one scrape in ten missed, so runs of misses make gaps
  restart: fc.nat(29).map((n) => n === 0),
  duplicate: fc.nat(19).map((n) => n === 0),
});

const seriesArb = fc.record({
  tenant: fc.constantFrom("acme" as const, "globex" as const),
  replica: fc.nat(2),
  ticks: fc.array(tickArb, { minLength: TICKS, maxLength: TICKS }),
  // Some series miss a whole stretch (a scrape outage), sometimes longer than the anchor lookback.
  outage: fc.option(fc.record({ at: fc.nat(TICKS - 2), length: fc.integer({ min: 1, max: 80 }) }), { nil: undefined }),
}).map(({ tenant, replica, ticks, outage }): SeriesSpec => {
  const t = ticks.map((x) => ({ ...x }));
  if (outage) for (let i = outage.at; i < Math.min(TICKS - 1, outage.at + outage.length); i++) t[i].scraped = false;
  t[TICKS - 1].scraped = true; // the range ends with a scrape, so all usage is observable
  return { tenant, replica, ticks: t };
});

interface Built {
  labels: Record<string, string>;
  tenant: string;
  samples: Sample[];
  /** Per window start: the increments first observed by a scrape in that window. */
  truth: Map<number, number>;
  longestStretch: number;
  detectable: boolean;
}

const windowOf = (t: number) => FROM + Math.floor((t - FROM - 1) / WINDOW) * WINDOW;

const build = (spec: SeriesSpec, index: number): Built => {
  // Off the window grid, as real scrapes are; each series in its own slot.
  const offset = 1_000 + ((index * 3_301) % 13_000);
  const labels = { limitador_namespace: `${spec.tenant}/chat`, user: `u${index}`, tier: "premium", model: "m", instance: `limitador-${spec.replica}` };
  let value = 0;
  let pending = 0;
  let last: Sample | undefined;
  let detectable = true;
  let restartedSinceLast = false;
  let longestStretch = 0;
  const samples: Sample[] = [];
  const truth = new Map<number, number>();
  spec.ticks.forEach((tick, i) => {
    value += tick.inc;
    pending += tick.inc;
    if (!tick.scraped) return;
    const t = FROM + (i + 1) * STEP - offset;
    // A restart is only visible as a drop; where it is not, no collector can know the usage.
    if (restartedSinceLast && last !== undefined && value >= last.v) detectable = false;
    restartedSinceLast = false;
    if (last !== undefined) longestStretch = Math.max(longestStretch, t - last.t);
    samples.push({ t, v: value });
    if (tick.duplicate) samples.push({ t, v: value });
    if (pending > 0) truth.set(windowOf(t), (truth.get(windowOf(t)) ?? 0) + pending);
    pending = 0;
    last = { t, v: value };
    if (tick.restart) {
      value = 0;
      restartedSinceLast = true;
    }
  });
  return { labels, tenant: spec.tenant, samples, truth, longestStretch, detectable };
};

/** Prometheus' raw-sample semantics over in-memory series: (from, to], one sample per timestamp. */
const memorySource = (series: Built[]): SampleSource => {
  const dedupe = (s: Sample[]) => s.filter((x, i) => i === 0 || s[i - 1].t !== x.t);
  return {
    async rawSamples(selector, fromMs, toMs, onSeries) {
      if (selector !== "authorized_hits") return; // only gateway token series exist here
      for (const s of series) onSeries({ metric: selector, labels: s.labels, samples: sampleColumns(dedupe(s.samples.filter((x) => x.t > fromMs && x.t <= toMs))) });
    },
    async lastValueAtOrBefore(selector, timeMs, lookbackMs) {
      const s = series.find((x) => exactSelector("authorized_hits", x.labels) === selector);
      const before = s?.samples.filter((x) => x.t <= timeMs && x.t > timeMs - lookbackMs);
      return before && before.length > 0 ? before[before.length - 1].v : undefined;
    },
  };
};

let db: TestPostgres;

beforeAll(async () => {
  db = await startTestPostgres();
  await migrate(db.pool, COLLECTOR_ONLY);
});

afterAll(async () => {
  await db?.stop();
});

const storedByTenantWindow = async (): Promise<{ tokens: Map<string, number>; gaps: number }> => {
  const res = await db.pool.query(
    `select tenant, window_start, sum(total_tokens)::bigint as tokens, sum(gaps)::int as gaps
       from collector_usage where billable group by tenant, window_start`,
  );
  const tokens = new Map<string, number>();
  let gaps = 0;
  for (const r of res.rows) {
    if (Number(r.tokens) > 0) tokens.set(`${r.tenant} ${(r.window_start as Date).toISOString()}`, Number(r.tokens));
    gaps += r.gaps;
  }
  return { tokens, gaps };
};

describe("collector passes over random counter histories", () => {
  it("store exactly the true usage per tenant and window, once, however the range is cut", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(seriesArb, { minLength: 1, maxLength: 5 }),
        fc.uniqueArray(fc.integer({ min: 1, max: WINDOWS - 1 }), { maxLength: 3 }),
        fc.integer({ min: 1, max: 3 }),
        async (specs, cuts, windowsPerQuery) => {
          const series = specs.map(build);
          fc.pre(series.every((s) => s.detectable));
          await db.pool.query("truncate collector_usage, collector_reconciliation, collector_unattributed, collector_watermark");
          const deps = {
            pool: db.pool,
            prometheus: memorySource(series),
            settings: parseCollectorSettings({ window: "5m", scrapeInterval: "15s", windowsPerQuery }),
          };
          // Consecutive passes over the range, cut at random window boundaries.
          const bounds = [FROM, ...[...cuts].sort((a, b) => a - b).map((c) => FROM + c * WINDOW), TO];
          for (let i = 0; i + 1 < bounds.length; i++) await collectOnce(deps, { fromMs: bounds[i], toMs: bounds[i + 1] });

          const expected = new Map<string, number>();
          for (const s of series) {
            for (const [w, inc] of s.truth) {
              const key = `${s.tenant} ${new Date(w).toISOString()}`;
              expected.set(key, (expected.get(key) ?? 0) + inc);
            }
          }
          const first = await storedByTenantWindow();
          expect(Object.fromEntries(first.tokens)).toEqual(Object.fromEntries(expected));
          // Gaps are flagged exactly when some series missed scrapes beyond the threshold.
          expect(first.gaps > 0).toBe(series.some((s) => s.longestStretch > GAP_THRESHOLD));

          // Collecting the whole range again (one pass, other chunking) changes nothing.
          const again = await collectOnce(deps, { fromMs: FROM, toMs: TO });
          expect(again.usageRowsChanged).toBe(0);
          expect(Object.fromEntries((await storedByTenantWindow()).tokens)).toEqual(Object.fromEntries(expected));
        },
      ),
      { numRuns: 60 },
    );
  });
});
