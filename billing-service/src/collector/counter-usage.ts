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
 * the window, or outside [from, to) when given, are ignored) and the anchor before the window. Returns undefined when the series has
 * no sample in the window: no data is not the same as zero usage.
 */
export const windowUsage = (
  samples: readonly Sample[],
  anchor: Anchor,
  window: Window,
  gapThresholdMs: number,
  /** Only samples[from, to) are looked at (the caller's index range of the window; no copy). */
  from = 0,
  to = samples.length,
): WindowUsage | undefined => {
  let prev: Sample | undefined = anchor.kind === "sample" ? anchor.sample : undefined;
  let increase = 0;
  let resets = 0;
  let gaps = anchor.kind === "unknown" ? 1 : 0;
  let count = 0;
  for (let i = from; i < to; i++) {
    const s = samples[i];
    if (s.t <= window.startMs || s.t > window.endMs) continue;
    count += 1;
    if (prev === undefined) {
      // First sample without an earlier one: a new series counts from zero, an unknown anchor
      // only starts the chain.
      if (anchor.kind === "new-series") increase += s.v;
    } else {
      if (s.v < prev.v) resets += 1;
      increase += stepIncrease(prev.v, s.v);
      if (s.t - prev.t > gapThresholdMs) gaps += 1;
    }
    prev = s;
  }
  if (count === 0) return undefined;
  // Samples missing at the end of the window are a gap too (the next window will book the
  // increase, but this one is incomplete).
  if (prev !== undefined && window.endMs - prev.t > gapThresholdMs) gaps += 1;
  return { increase, resets, gaps, samples: count };
};

/** The last sample at or before `t`, or undefined. Samples must be sorted by time. */
export const lastSampleAtOrBefore = (samples: readonly Sample[], t: number): Sample | undefined => {
  let lo = 0;
  let hi = samples.length - 1;
  let found: Sample | undefined;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (samples[mid].t <= t) {
      found = samples[mid];
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
};

/** Index of the first sample after `t` (samples sorted by time). */
export const firstIndexAfter = (samples: readonly Sample[], t: number): number => {
  let lo = 0;
  let hi = samples.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (samples[mid].t <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
};
