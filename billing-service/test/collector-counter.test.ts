import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  firstIndexAfter,
  lastSampleAtOrBefore,
  normalizeSamples,
  sampleColumns,
  windowUsage as windowUsageOfColumns,
  type Anchor,
  type Sample,
  type Window,
} from "../src/collector/counter-usage";
import * as reference from "./support/counter-usage-reference";
import { distribute } from "../src/pricebook/money";
import { closedUntil, windowsBetween, chunkRange } from "../src/collector/windows";
import { resolveRange } from "../src/collector/collect";
import { parseCollectorSettings } from "../src/contract";

// Series written as in promqltest: values at 15 s spacing starting at t=15s (window (0, 300s]).
const at15 = (...values: number[]): Sample[] => values.map((v, i) => ({ t: (i + 1) * 15_000, v }));
const W = { startMs: 0, endMs: 300_000 };
const GAP = 45_000;
const anchored = (v: number, t = 0): Anchor => ({ kind: "sample", sample: { t, v } });
// The cases below are written as sample objects; the collector keeps samples as columns.
const windowUsage = (samples: readonly Sample[], anchor: Anchor, window: Window, gapThresholdMs: number) => windowUsageOfColumns(sampleColumns(samples), anchor, window, gapThresholdMs);

describe("windowUsage", () => {
  it.each<[string, Sample[], Anchor, { increase: number; resets: number; gaps: number } | undefined]>([
    ["steady", at15(10, 20, 30), anchored(0), { increase: 30, resets: 0, gaps: 1 /* tail: 45s..300s empty */ }],
    ["anchor counts the first step", at15(15), anchored(10), { increase: 5, resets: 0, gaps: 1 }],
    // 0 1 2 3 | restart | 2 3 4: the drop to 2 counts as 2 from zero, so 3 + 2 + 1 + 1 = 7 (promqltest's resets case).
    ["reset mid-window", at15(1, 2, 3, 2, 3, 4), anchored(0), { increase: 7, resets: 1, gaps: 1 }],
    ["reset to zero", at15(100, 0, 5), anchored(90), { increase: 15, resets: 1, gaps: 1 }],
    ["new series counts its first value", at15(7, 9), { kind: "new-series" }, { increase: 9, resets: 0, gaps: 1 }],
    ["unknown anchor: first sample only anchors, gap flagged", at15(7, 9), { kind: "unknown" }, { increase: 2, resets: 0, gaps: 2 }],
    ["no sample in window: no data, not zero", [{ t: 400_000, v: 5 }], anchored(0), undefined],
    ["samples outside the window are ignored", [{ t: -5_000, v: 1 }, { t: 15_000, v: 4 }, { t: 301_000, v: 99 }], anchored(2), { increase: 2, resets: 0, gaps: 1 }],
  ])("%s", (_name, samples, anchor, want) => {
    const got = windowUsage(samples, anchor, W, GAP);
    expect(got === undefined ? undefined : { increase: got.increase, resets: got.resets, gaps: got.gaps }).toEqual(want);
  });

  it("flags a gap between samples and at the edges only beyond the threshold", () => {
    const full = Array.from({ length: 20 }, (_, i) => ({ t: (i + 1) * 15_000, v: i }));
    expect(windowUsage(full, anchored(0), W, GAP)?.gaps).toBe(0);
    const holed = full.filter((s) => s.t < 100_000 || s.t > 200_000);
    expect(windowUsage(holed, anchored(0), W, GAP)).toMatchObject({ gaps: 1, increase: 19 });
  });
});

describe("samples as columns", () => {
  // Sorted samples with one per timestamp on a 15 s grid (so gaps, window edges and thresholds
  // meet exactly), values that rise, stay, drop (resets) or carry fractions; windows, index
  // ranges, anchors and gap thresholds of every kind around them.
  const STEP = 15_000;
  const series = fc
    .array(fc.record({ steps: fc.integer({ min: 1, max: 6 }), v: fc.oneof(fc.integer({ min: 0, max: 8 }), fc.double({ min: 0, max: 1e6, noNaN: true })) }), { maxLength: 40 })
    .map((xs) => {
      let t = 0;
      return xs.map(({ steps, v }) => ({ t: (t += steps * STEP), v }));
    });
  const anchor: fc.Arbitrary<Anchor> = fc.oneof(
    fc.record({ t: fc.integer({ min: -4, max: 4 }).map((k) => k * STEP), v: fc.integer({ min: 0, max: 8 }) }).map((sample): Anchor => ({ kind: "sample", sample })),
    fc.constant<Anchor>({ kind: "new-series" }),
    fc.constant<Anchor>({ kind: "unknown" }),
  );
  const onGrid = (min: number, max: number) => fc.integer({ min, max }).map((k) => k * STEP);

  it("give what the counter maths on sample objects give, for any window, index range and anchor", () => {
    fc.assert(
      fc.property(series, anchor, onGrid(-4, 100), onGrid(0, 120), onGrid(1, 8), fc.nat(), fc.nat(), (samples, a, startMs, size, gap, i, j) => {
        const columns = sampleColumns(samples);
        const window = { startMs, endMs: startMs + size };
        const from = samples.length === 0 ? 0 : i % (samples.length + 1);
        const to = from + (samples.length === 0 ? 0 : j % (samples.length - from + 1));
        expect(windowUsageOfColumns(columns, a, window, gap)).toEqual(reference.windowUsage(samples, a, window, gap));
        expect(windowUsageOfColumns(columns, a, window, gap, from, to)).toEqual(reference.windowUsage(samples, a, window, gap, from, to));
        for (const t of [startMs, window.endMs, samples[from]?.t ?? 0]) {
          expect(firstIndexAfter(columns, t)).toBe(reference.firstIndexAfter(samples, t));
          expect(lastSampleAtOrBefore(columns, t)).toEqual(reference.lastSampleAtOrBefore(samples, t));
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe("normalizeSamples", () => {
  it("keeps one sample per timestamp, sorted", () => {
    expect(normalizeSamples([{ t: 30, v: 3 }, { t: 15, v: 1 }, { t: 30, v: 3 }])).toEqual([
      { t: 15, v: 1 },
      { t: 30, v: 3 },
    ]);
  });
});

// A counter history: increments per scrape, and restarts where the counter starts again from 0.
const history = fc.array(fc.record({ inc: fc.nat(1000), restart: fc.boolean() }), { minLength: 1, maxLength: 60 });
const toSamples = (h: { inc: number; restart: boolean }[]): Sample[] => {
  let v = 0;
  return h.map(({ inc, restart }, i) => {
    v = restart ? inc : v + inc;
    return { t: (i + 1) * 10_000, v };
  });
};

describe("windowUsage properties", () => {
  it("usage is never negative and windows add up to the whole range", () => {
    fc.assert(
      fc.property(history, fc.integer({ min: 1, max: 9 }), (h, cuts) => {
        const samples = toSamples(h);
        const end = (h.length + 1) * 10_000;
        const whole = windowUsage(samples, { kind: "new-series" }, { startMs: 0, endMs: end }, 1e9)!;
        // Split into windows with the anchor carried from one to the next, as the aggregator does.
        const size = Math.ceil(end / cuts);
        let sum = 0;
        let anchor: Anchor = { kind: "new-series" };
        for (let s = 0; s < end; s += size) {
          const u = windowUsage(samples, anchor, { startMs: s, endMs: Math.min(end, s + size) }, 1e9);
          if (u) {
            expect(u.increase).toBeGreaterThanOrEqual(0);
            sum += u.increase;
            const last = [...samples].reverse().find((x) => x.t <= Math.min(end, s + size))!;
            anchor = { kind: "sample", sample: last };
          }
        }
        expect(sum).toBe(whole.increase);
      }),
    );
  });

  it("equals the true increments when every restart is visible as a drop", () => {
    fc.assert(
      fc.property(history, (h) => {
        const samples = toSamples(h);
        // A restart is only detectable when the new value is below the old one (the limit of any
        // counter math, Prometheus' included); keep histories where that holds.
        fc.pre(samples.every((s, i) => !h[i].restart || i === 0 || s.v < samples[i - 1].v));
        const truth = h.reduce((a, x) => a + x.inc, 0);
        expect(windowUsage(samples, { kind: "new-series" }, { startMs: 0, endMs: 1e12 }, 1e12)?.increase).toBe(truth);
      }),
    );
  });
});

describe("distribute (the collector's apportioning)", () => {
  it.each<[string, bigint, bigint[], bigint[]]>([
    ["dinero's example", 1003n, [50n, 50n], [502n, 501n]],
    ["input/output 3:1", 1000n, [300n, 100n], [750n, 250n]],
    ["largest remainder wins", 10n, [1n, 1n, 1n], [4n, 3n, 3n]],
    ["no basis: all to the first part", 7n, [0n, 0n], [7n, 0n]],
    ["zero total", 0n, [5n, 3n], [0n, 0n]],
  ])("%s", (_n, total, weights, want) => expect(distribute(total, weights)).toEqual(want));

  it("parts add up to the total and stay within one unit of the exact share", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 12n }), fc.array(fc.bigInt({ min: 0n, max: 10n ** 6n }), { minLength: 1, maxLength: 8 }), (total, weights) => {
        const parts = distribute(total, weights);
        expect(parts.reduce((a, p) => a + p, 0n)).toBe(total);
        const sum = weights.reduce((a, w) => a + w, 0n);
        if (sum > 0n) parts.forEach((p, i) => expect(p * sum - total * weights[i] < sum && total * weights[i] - p * sum < sum).toBe(true));
      }),
    );
  });
});

describe("windows", () => {
  it.each([
    ["offset keeps the newest window open", Date.parse("2026-01-01T10:04:00Z"), 300_000, 3_600_000, "2026-01-01T09:00:00.000Z"],
    ["a window closes once the offset has passed", Date.parse("2026-01-01T10:05:00Z"), 300_000, 3_600_000, "2026-01-01T10:00:00.000Z"],
  ])("%s", (_n, now, offset, size, want) => expect(new Date(closedUntil(now, offset, size)).toISOString()).toBe(want));

  it("refuses unaligned ranges and chunks aligned ones", () => {
    expect(() => windowsBetween(1, 3_600_000, 3_600_000)).toThrow(/not aligned to the 3600s window/);
    expect(windowsBetween(0, 7_200_000, 3_600_000)).toHaveLength(2);
    expect(chunkRange(0, 5 * 3_600_000, 3_600_000, 2).map((c) => c.endMs)).toEqual([7_200_000, 14_400_000, 18_000_000]);
  });
});

describe("resolveRange", () => {
  const settings = parseCollectorSettings({ window: "1h", offset: "5m" });
  const H = 3_600_000;
  const now = Date.parse("2026-01-01T10:07:00Z");
  it.each<[string, { fromMs?: number; toMs?: number }, number | undefined, { fromMs: number; toMs: number } | undefined]>([
    ["first run: the newest closed window only", {}, undefined, { fromMs: Date.parse("2026-01-01T09:00:00Z"), toMs: Date.parse("2026-01-01T10:00:00Z") }],
    ["resume: one window again, then the new ones", {}, Date.parse("2026-01-01T08:00:00Z"), { fromMs: Date.parse("2026-01-01T07:00:00Z"), toMs: Date.parse("2026-01-01T10:00:00Z") }],
    ["nothing newly closed: nothing to do", {}, Date.parse("2026-01-01T10:00:00Z"), undefined],
    ["an explicit range is always collected", { fromMs: 0, toMs: H }, Date.parse("2026-01-01T10:00:00Z"), { fromMs: 0, toMs: H }],
  ])("%s", (_n, request, watermark, want) => expect(resolveRange(request, watermark, settings, now)).toEqual(want));
});
