/**
 * The background half of the ledger's rollups (migration 062): ledger inserts append their rollup
 * columns to ledger_rollup_queue, and this loop folds the queue into usage_hourly,
 * usage_user_daily (per user and UTC day, migration 072; per price piece of a day, 073), access_log_key_hourly and usage_rollup,
 * many insert batches per fold. Readers never wait for it:
 * they read the *_current views (rollup + queue), so how often it runs changes only how long the
 * queue gets, never what a quota, metric or draft sees.
 *
 * Two modes (migration 065). A fold costs about one rollup upsert per bucket it touches:
 *   - While queued rows share buckets (usage arriving in real time: the access-log bench's 40,000
 *     records a second go into about 3,000 usage_hourly rows), one fold of the whole queue every
 *     `intervalMs` is cheapest: waiting merges rows into fewer upserts (the loop as before 065).
 *   - When nearly every row makes a rollup row of its own (rows created in usage_hourly and
 *     usage_user_daily >= half the rows folded, at least `busyRows` of them: backfills), waiting saves
 *     nothing and only piles the queue up for one backend. Then `workers` workers fold the queue's
 *     tenant partitions at the same time, each its own partitions on its own connection, every
 *     `busyIntervalMs`, until a fold aggregates again or nothing arrives for `intervalMs`. One fold per partition at a time across
 *     every replica (a partition whose fold runs elsewhere is skipped).
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
/** A fold of this many rows or more that creates as many rollup rows as half of them switches to partition folds. */
export const ROLLUP_DRAIN_BUSY_ROWS = 2000;
/** The pause between passes of a busy worker. */
export const ROLLUP_DRAIN_BUSY_INTERVAL_MS = 50;

export interface RollupDrainOptions {
  readonly intervalMs?: number;
  readonly workers?: number;
  readonly busyRows?: number;
  readonly busyIntervalMs?: number;
  /** Told of every fold that folded rows (how, and what it folded). */
  readonly onFold?: (how: "whole" | "partition", folded: Folded) => void;
  readonly onError?: (e: unknown) => void;
}

export interface Folded {
  /** Queued rows folded. */
  readonly rows: number;
  /**
   * Rollup rows they created (migration 072: in usage_hourly and usage_user_daily; rows added to
   * an existing bucket do not count). Before 072, the usage_hourly rows they went into.
   */
  readonly hourlyRows: number;
}

/** Runs one of the counting fold functions (migration 065) and reads what it folded. */
const fold = async (pool: Pool, call: string, params: unknown[] = []): Promise<Folded> => {
  const row = (await pool.query<{ folded: string; hourly_rows: string }>(`select folded, hourly_rows from ${call}`, params)).rows[0];
  return { rows: Number(row.folded), hourlyRows: Number(row.hourly_rows) };
};

/** Folds the whole queue unless another fold runs (then nothing). */
export const drainWhole = (pool: Pool): Promise<Folded> => fold(pool, "ledger_rollup_drain_counted()");

/** Folds partition `part` unless another fold holds it (then nothing). */
export const drainPartition = (pool: Pool, part: number): Promise<Folded> => fold(pool, "ledger_rollup_drain_part($1)", [part]);

/** The number of queue partitions (fixed by the schema: migration 065). */
export const rollupPartitions = async (pool: Pool): Promise<number> => (await pool.query<{ n: number }>("select ledger_rollup_parts() as n")).rows[0].n;

/**
 * Folds everything queued now, every partition at once, each on a connection of its own (the
 * benchmarks' fold after the last answer, on their clock; tests). Unlike the loop's folds it waits:
 * for a partition whose fold another replica (or this one's loop) is running, and for the full
 * drain or a synchronous rollup writer (the drain lock, exclusively), then folds what is left of
 * the partition. So when it returns, every row queued (committed) before it was called is folded,
 * each once: by this fold or by the one it waited for (a fold deletes the queued rows it folds, in
 * its transaction). The locks are migration 065's, taken waiting and in its order (the drain lock
 * shared, then the partition's); ledger_rollup_drain_part then takes them again, which a session
 * holding them always gets. The rows this call folded.
 */
export const drainEveryPartition = async (pool: Pool): Promise<number> => {
  const parts = await rollupPartitions(pool);
  const folded = await Promise.all(
    Array.from({ length: parts }, async (_, part) => {
      const client = await pool.connect();
      try {
        // One round trip; each statement sees what the folds it waited for committed.
        const results = (await client.query(`begin;
select pg_advisory_xact_lock_shared(hashtext('maas-billing-ledger-rollup-drain'));
select pg_advisory_xact_lock(hashtext('maas-billing-ledger-rollup-drain-part'), ${part});
select folded from ledger_rollup_drain_part(${part});
commit`)) as unknown as { rows: { folded: string }[] }[];
        const n = Number(results[3].rows[0].folded);
        client.release();
        return n;
      } catch (e) {
        // Not back into the pool in an aborted transaction: rolled back, or closed.
        const back = await client.query("rollback").then(
          () => true,
          () => false,
        );
        client.release(!back);
        throw e;
      }
    }),
  );
  return folded.reduce((a, b) => a + b, 0);
};

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
  /** One fold of each partition `owns` picks: what they folded. */
  const pass = async (owns: (part: number) => boolean): Promise<Folded> => {
    const n = await partitions();
    let rows = 0;
    let hourlyRows = 0;
    for (let part = 0; part < n; part++) {
      if (!owns(part)) continue;
      const f = await drainPartition(pool, part);
      if (f.rows > 0) options.onFold?.("partition", f);
      rows += f.rows;
      hourlyRows += f.hourlyRows;
    }
    return { rows, hourlyRows };
  };
  const unmerged = (f: Folded): boolean => f.rows >= busyRows && 2 * f.hourlyRows >= f.rows;
  /** Partition folds (several workers) since a whole fold did not aggregate; until one aggregates or the queue idles for `intervalMs`. */
  let partitioned = false;
  let lastRowsAt = 0;
  /** Worker 0 decides the mode from its own folds; the others fold their partitions in that mode only. */
  const step = async (worker: number): Promise<number> => {
    if (worker === 0) {
      if (!partitioned) {
        const f = await drainWhole(pool);
        if (f.rows > 0) options.onFold?.("whole", f);
        partitioned = unmerged(f);
        lastRowsAt = Date.now();
      } else {
        const f = await pass((part) => part % workers === 0);
        if (f.rows > 0) lastRowsAt = Date.now();
        const aggregates = f.rows > 0 && 2 * f.hourlyRows < f.rows;
        if (aggregates || Date.now() - lastRowsAt >= intervalMs) partitioned = false;
      }
      return partitioned ? busyIntervalMs : intervalMs;
    }
    if (!partitioned) return busyIntervalMs;
    await pass((part) => part % workers === worker);
    return busyIntervalMs;
  };
  const timers = new Set<NodeJS.Timeout>();
  const running = new Set<Promise<unknown>>();
  let stopped = false;
  const schedule = (worker: number, delayMs: number): void => {
    if (stopped) return;
    const timer = setTimeout(() => {
      timers.delete(timer);
      let delay = intervalMs;
      const run: Promise<unknown> = step(worker)
        .then((next) => {
          delay = next;
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
