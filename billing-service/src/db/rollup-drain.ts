/**
 * The background half of the ledger's rollups (migration 062): ledger inserts append their rollup
 * columns to ledger_rollup_queue, and this loop folds the queue into usage_hourly,
 * access_log_key_hourly and usage_rollup, many insert batches per fold. Readers never wait for it:
 * they read the *_current views (rollup + queue), so how often it runs changes only how long the
 * queue gets, never what a quota, metric or draft sees.
 *
 * The queue folds in tenant partitions (migration 065), `workers` folds at a time on their own
 * connections, each worker folding its own partitions: one fold per partition at a time across
 * every replica (a partition whose fold runs elsewhere is skipped), so the fold is no longer one
 * backend's work.
 *
 * When to fold again: a fold costs about one rollup upsert per bucket it touches, so waiting
 * `intervalMs` pays off when many queued rows share a bucket (usage arriving in real time: the
 * access-log bench's 40,000 records a second go into about 3,000 usage_hourly rows). When nearly
 * every row is its own bucket (usage_hourly rows >= half the rows folded: backfills, the events
 * bench's events one second apart), waiting saves nothing and only lets the queue pile up; then a
 * worker whose pass folded at least `busyRows` rows goes again after `busyIntervalMs`.
 */
import type { Pool } from "pg";

export interface RollupDrain {
  /** Folds what is queued now, every partition once (the loop's step; also for tests and benchmarks). The rows folded. */
  drainNow(): Promise<number>;
  stop(): Promise<void>;
}

/** How often an idle worker folds the queue. */
export const ROLLUP_DRAIN_INTERVAL_MS = 1000;
/** Folds at the same time (each on its own pool connection). */
export const ROLLUP_DRAIN_WORKERS = 2;
/** A pass that folded this many rows or more, into as many buckets as half of them, goes again soon. */
export const ROLLUP_DRAIN_BUSY_ROWS = 2000;
/** The pause between passes of a busy worker. */
export const ROLLUP_DRAIN_BUSY_INTERVAL_MS = 50;

export interface RollupDrainOptions {
  readonly intervalMs?: number;
  readonly workers?: number;
  readonly busyRows?: number;
  readonly busyIntervalMs?: number;
  readonly onError?: (e: unknown) => void;
}

export interface Folded {
  /** Queued rows folded. */
  readonly rows: number;
  /** usage_hourly rows they went into (inserted or added to). */
  readonly hourlyRows: number;
}

/** Folds partition `part` unless another fold holds it (then nothing). */
export const drainPartition = async (pool: Pool, part: number): Promise<Folded> => {
  const row = (await pool.query<{ folded: string; hourly_rows: string }>("select folded, hourly_rows from ledger_rollup_drain_part($1)", [part])).rows[0];
  return { rows: Number(row.folded), hourlyRows: Number(row.hourly_rows) };
};

/** The number of queue partitions (fixed by the schema: migration 065). */
export const rollupPartitions = async (pool: Pool): Promise<number> => (await pool.query<{ n: number }>("select ledger_rollup_parts() as n")).rows[0].n;

export const startRollupDrain = (pool: Pool, options: RollupDrainOptions = {}): RollupDrain => {
  const intervalMs = options.intervalMs ?? ROLLUP_DRAIN_INTERVAL_MS;
  const busyIntervalMs = options.busyIntervalMs ?? ROLLUP_DRAIN_BUSY_INTERVAL_MS;
  const busyRows = options.busyRows ?? ROLLUP_DRAIN_BUSY_ROWS;
  const workers = Math.max(1, options.workers ?? ROLLUP_DRAIN_WORKERS);
  let parts: Promise<number> | undefined;
  const partitions = (): Promise<number> => {
    parts ??= rollupPartitions(pool).catch((e: unknown) => {
      parts = undefined; // asked again on the next pass (the database may be down now)
      throw e;
    });
    return parts;
  };
  /**
   * One fold of each partition in `owns` (n: the partition count): what they folded. Each worker
   * owns every `workers`-th partition, so a partition is folded once per interval, as one queue was
   * before (folding it more often would only add rollup upserts when the queue aggregates).
   */
  const pass = async (owns: (part: number, n: number) => boolean): Promise<Folded> => {
    const n = await partitions();
    let rows = 0;
    let hourlyRows = 0;
    for (let part = 0; part < n; part++) {
      if (!owns(part, n)) continue;
      const f = await drainPartition(pool, part);
      rows += f.rows;
      hourlyRows += f.hourlyRows;
    }
    return { rows, hourlyRows };
  };
  const timers = new Set<NodeJS.Timeout>();
  const running = new Set<Promise<unknown>>();
  let stopped = false;
  const schedule = (worker: number, delayMs: number): void => {
    if (stopped) return;
    const timer = setTimeout(() => {
      timers.delete(timer);
      let delay = intervalMs;
      const run: Promise<unknown> = pass((part) => part % workers === worker)
        .then((folded) => {
          if (folded.rows >= busyRows && 2 * folded.hourlyRows >= folded.rows) delay = busyIntervalMs;
        })
        .catch((e) => options.onError?.(e))
        .finally(() => {
          running.delete(run);
          schedule(worker, delay);
        });
      running.add(run);
    }, delayMs).unref();
    timers.add(timer);
  };
  for (let w = 0; w < workers; w++) schedule(w, intervalMs);
  return {
    drainNow: async () => (await pass(() => true)).rows,
    async stop() {
      stopped = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      await Promise.all([...running]);
    },
  };
};
