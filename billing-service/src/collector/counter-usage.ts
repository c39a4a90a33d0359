/**
 * Exact usage from raw counter samples.
 *
 * Prometheus' `increase()` extrapolates to the edges of its range and drops whatever a counter
 * gained before its first sample, so it is neither exact nor repeatable. Here usage is the sum of
 * sample-to-sample increases, where a drop means the counter restarted and the new value counts
 * from zero. A window (start, end] books every increase whose *later* sample falls inside it, so
 * consecutive windows add up to the usage of their union and nothing is counted twice.
 */

/** One raw sample: timestamp in milliseconds since the epoch, counter value. */
export interface Sample {
  readonly t: number;
  readonly v: number;
}

/**
 * The samples of one series as two parallel columns: `t[i]` (milliseconds) and `v[i]`, sorted by
 * time, one per timestamp. Both read paths fill these without an object per sample (a pass reads
 * millions of samples, and one object each was a fifth of the collector's CPU in garbage
 * collection alone: docs/reliability.md).
 */
export interface SeriesSamples {
  readonly t: Float64Array;
  readonly v: Float64Array;
}

/** The samples of `s` as objects (for reading them in tests and logs). */
export const sampleList = (s: SeriesSamples): Sample[] => Array.from(s.t, (t, i) => ({ t, v: s.v[i] }));

/** Columns of `samples` (for sources that hold samples as objects: tests, in-memory sources). */
export const sampleColumns = (samples: readonly Sample[]): SeriesSamples => ({
  t: Float64Array.from(samples, (s) => s.t),
  v: Float64Array.from(samples, (s) => s.v),
});

/**
 * Where the first in-window increase is measured from.
 * - `sample`: the last sample before the window (the normal case).
 * - `new-series`: the series did not exist before; its first value counts from zero
 *   (Limitador creates a series on its first hit, so that value is real usage).
 * - `unknown`: the series existed but its earlier value is not available; the first sample only
 *   anchors the rest and the window gets a gap flag instead of a guess.
 */
export type Anchor =
  | { readonly kind: "sample"; readonly sample: Sample }
  | { readonly kind: "new-series" }
  | { readonly kind: "unknown" };

/** A half-open time window (startMs, endMs]. */
export interface Window {
  readonly startMs: number;
  readonly endMs: number;
}

/** Usage of one series in one window, with the data-quality facts behind it. */
export interface WindowUsage {
  /** Sum of sample-to-sample increases booked in the window. */
  readonly increase: number;
  /** Number of drops (counter restarts) seen in the window. */
  readonly resets: number;
  /** Number of stretches without samples longer than the gap threshold. */
  readonly gaps: number;
  /** Raw samples inside the window. */
  readonly samples: number;
}

/** Increase from `prev` to `next`: the difference, or the whole new value after a reset. */
export const stepIncrease = (prev: number, next: number): number => (next >= prev ? next - prev : next);

/**
 * Sorts by time and keeps one sample per timestamp (the last one given): a repeated scrape of the
 * same instant is one observation, not two.
 */
export const normalizeSamples = (samples: readonly Sample[]): Sample[] => {
  const sorted = [...samples].sort((a, b) => a.t - b.t);
  const out: Sample[] = [];
  for (const s of sorted) {
    if (out.length > 0 && out[out.length - 1].t === s.t) out[out.length - 1] = s;
    else out.push(s);
  }
  return out;
};

/**
 * Usage of one series in `window`, from its samples (sorted, one per timestamp; samples outside
 * the window, or outside [from, to) when given, are ignored) and the anchor before the window.
 * Returns undefined when the series has no sample in the window: no data is not the same as zero
 * usage.
 */
export const windowUsage = (
  samples: SeriesSamples,
  anchor: Anchor,
  window: Window,
  gapThresholdMs: number,
  /** Only samples[from, to) are looked at (the caller's index range of the window; no copy). */
  from = 0,
  to = samples.t.length,
): WindowUsage | undefined => {
  const { t, v } = samples;
  // The previous sample, as its time and value (none before the first sample of a series
  // without an anchor sample).
  let hasPrev = anchor.kind === "sample";
  let prevT = anchor.kind === "sample" ? anchor.sample.t : 0;
  let prevV = anchor.kind === "sample" ? anchor.sample.v : 0;
  let increase = 0;
  let resets = 0;
  let gaps = anchor.kind === "unknown" ? 1 : 0;
  let count = 0;
  for (let i = from; i < to; i++) {
    const st = t[i];
    const sv = v[i];
    if (st <= window.startMs || st > window.endMs) continue;
    count += 1;
    if (!hasPrev) {
      // First sample without an earlier one: a new series counts from zero, an unknown anchor
      // only starts the chain.
      if (anchor.kind === "new-series") increase += sv;
      hasPrev = true;
    } else {
      if (sv < prevV) resets += 1;
      increase += stepIncrease(prevV, sv);
      if (st - prevT > gapThresholdMs) gaps += 1;
    }
    prevT = st;
    prevV = sv;
  }
  if (count === 0) return undefined;
  // Samples missing at the end of the window are a gap too (the next window will book the
  // increase, but this one is incomplete).
  if (window.endMs - prevT > gapThresholdMs) gaps += 1;
  return { increase, resets, gaps, samples: count };
};

/** Index of the first sample after `time` (samples sorted by time). */
export const firstIndexAfter = (samples: SeriesSamples, time: number): number => {
  const { t } = samples;
  let lo = 0;
  let hi = t.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (t[mid] <= time) lo = mid + 1;
    else hi = mid;
  }
  return lo;
};

/** The last sample at or before `time`, or undefined. Samples must be sorted by time. */
export const lastSampleAtOrBefore = (samples: SeriesSamples, time: number): Sample | undefined => {
  const i = firstIndexAfter(samples, time) - 1;
  return i < 0 ? undefined : { t: samples.t[i], v: samples.v[i] };
};

/** The last sample of a series with at least one. */
export const lastSample = (samples: SeriesSamples): Sample => {
  const i = samples.t.length - 1;
  return { t: samples.t[i], v: samples.v[i] };
};
