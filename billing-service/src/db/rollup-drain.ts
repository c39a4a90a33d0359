/**
 * The background half of the ledger's rollups (migration 062): ledger inserts append their rollup
 * columns to ledger_rollup_queue, and this loop folds the queue into usage_hourly,
 * access_log_key_hourly and usage_rollup every `intervalMs`, many insert batches per fold. Readers
 * never wait for it: they read the *_current views (rollup + queue), so how often it runs changes
 * only how long the queue gets, never what a quota, metric or draft sees. Every replica runs it;
 * the drain function lets one fold at a time (the others skip their turn).
 */
import type { Pool } from "pg";

export interface RollupDrain {
  /** Folds what is queued now (the loop's step; also for tests and benchmarks). The rows folded. */
  drainNow(): Promise<number>;
  stop(): Promise<void>;
}

/** How often serve folds the queue. */
export const ROLLUP_DRAIN_INTERVAL_MS = 1000;

export const startRollupDrain = (pool: Pool, options: { intervalMs?: number; onError?: (e: unknown) => void } = {}): RollupDrain => {
  const intervalMs = options.intervalMs ?? ROLLUP_DRAIN_INTERVAL_MS;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  let stopped = false;
  const drainNow = async (): Promise<number> => Number((await pool.query<{ n: string }>("select ledger_rollup_drain(false) as n")).rows[0].n);
  const tick = (): void => {
    running = drainNow()
      .catch((e) => options.onError?.(e))
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, intervalMs).unref();
      });
  };
  timer = setTimeout(tick, intervalMs).unref();
  return {
    drainNow,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
};
