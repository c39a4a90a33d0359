/**
 * Window arithmetic: which windows are closed and may be collected.
 *
 * A window is closed once its end lies at least `offsetMs` in the past, so that scrapes that land
 * late (scrape duration, remote-write delay, a federation hop) are in Prometheus before we read.
 */
import type { Window } from "./counter-usage";

/** Start of the window that contains instant `t` (windows are aligned to the epoch). */
export const windowStartOf = (t: number, windowMs: number): number => Math.floor(t / windowMs) * windowMs;

/** End of the newest closed window at `nowMs`: windows ending at or before this may be collected. */
export const closedUntil = (nowMs: number, offsetMs: number, windowMs: number): number =>
  windowStartOf(nowMs - offsetMs, windowMs);

/**
 * The aligned windows covering (fromMs, toMs]. Both bounds must be window-aligned, so a window is
 * either collected whole or not at all.
 */
export const windowsBetween = (fromMs: number, toMs: number, windowMs: number): Window[] => {
  if (fromMs % windowMs !== 0 || toMs % windowMs !== 0) {
    throw new Error(
      `range ${new Date(fromMs).toISOString()}..${new Date(toMs).toISOString()} is not aligned to the ${windowMs / 1000}s window`,
    );
  }
  const out: Window[] = [];
  for (let s = fromMs; s < toMs; s += windowMs) out.push({ startMs: s, endMs: s + windowMs });
  return out;
};

/**
 * Splits (fromMs, toMs] into chunks of at most `maxWindowsPerChunk` windows, so one Prometheus query
 * covers many windows (the anchor lookback is then paid once per chunk) without unbounded responses.
 */
export const chunkRange = (
  fromMs: number,
  toMs: number,
  windowMs: number,
  maxWindowsPerChunk: number,
): Window[] => {
  const out: Window[] = [];
  const step = windowMs * Math.max(1, maxWindowsPerChunk);
  for (let s = fromMs; s < toMs; s += step) out.push({ startMs: s, endMs: Math.min(toMs, s + step) });
  return out;
};
