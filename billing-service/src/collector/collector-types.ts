/**
 * The collector's moving parts as seen by a pass: where samples come from, what it needs, what it
 * reports.
 */
import type { Pool } from "pg";
import type { CollectorMetrics } from "./metrics";
import type { RawSeries } from "./prometheus-client";
import type { CollectorSettings } from "../contract";

/** Options of one raw-sample read. */
export interface RawSamplesOptions {
  /**
   * Called once the source has answered (the answer's headers are in; Prometheus has built the
   * whole answer by then), before the answer is read and parsed: the caller may send its next
   * request while this one is parsed. A source that does not call it is taken to have answered
   * when the read resolves.
   */
  readonly onAnswered?: () => void;
}

/** Where raw samples come from (the Prometheus client, or a wrapper of it in tests). */
export interface SampleSource {
  rawSamples(selector: string, fromMs: number, toMs: number, onSeries: (s: RawSeries) => void, options?: RawSamplesOptions): Promise<void>;
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
