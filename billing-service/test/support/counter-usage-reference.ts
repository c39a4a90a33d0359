/**
 * The counter maths as they were before samples became columns (session 5's counter-usage.ts, one
 * `{t, v}` object per sample), kept verbatim as the reference of the equality property in
 * collector-counter.test.ts. Deliberately not shared with src: a mistake in the columnar code must
 * not be made on both sides.
 */
import { stepIncrease, type Anchor, type Sample, type Window, type WindowUsage } from "../../src/collector/counter-usage";

export const windowUsage = (
  samples: readonly Sample[],
  anchor: Anchor,
  window: Window,
  gapThresholdMs: number,
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
      if (anchor.kind === "new-series") increase += s.v;
    } else {
      if (s.v < prev.v) resets += 1;
      increase += stepIncrease(prev.v, s.v);
      if (s.t - prev.t > gapThresholdMs) gaps += 1;
    }
    prev = s;
  }
  if (count === 0) return undefined;
  if (prev !== undefined && window.endMs - prev.t > gapThresholdMs) gaps += 1;
  return { increase, resets, gaps, samples: count };
};

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
