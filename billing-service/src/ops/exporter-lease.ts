/**
 * Which replica exports the database-derived series (usage, cost, prices, quota ratios).
 *
 * Every replica reads the same database, so if each exported those series Prometheus would hold one
 * copy per replica: sums double and `* on (...) group_left` joins fail with "many-to-many matching".
 * One replica holds a session-level PostgreSQL advisory lock on a dedicated connection and exports
 * them; the others export none. When the holder dies its session ends, the lock is free, and the
 * next replica scraped takes it over. Checked at scrape time (no timer): a scrape is when it matters.
 */
import type { Pool, PoolClient } from "pg";

/** Advisory lock key (a constant, distinct from the collector's and the invoice builder's). */
export const EXPORTER_LOCK_KEY = 0x6d62_6578_706f_7274n; // "mbexport"

export interface ExporterLease {
  /** True when this process holds (or just took) the exporter lock. */
  held(): Promise<boolean>;
  /** Releases the lock and its connection (shutdown). */
  release(): Promise<void>;
}

export const createExporterLease = (pool: Pool): ExporterLease => {
  let client: PoolClient | undefined;
  let pending: Promise<boolean> | undefined;
  const drop = (c: PoolClient, broken: boolean): void => {
    if (client === c) client = undefined;
    c.release(broken);
  };
  const check = async (): Promise<boolean> => {
    if (client) {
      const c = client;
      try {
        await c.query("select 1");
        return true;
      } catch {
        drop(c, true); // the session (and with it the lock) is gone; try to take it again below
      }
    }
    let c: PoolClient;
    try {
      c = await pool.connect();
    } catch {
      return false;
    }
    try {
      const r = await c.query<{ locked: boolean }>("select pg_try_advisory_lock($1::bigint) as locked", [EXPORTER_LOCK_KEY.toString()]);
      if (r.rows[0].locked) {
        client = c;
        // A broken connection while idle must not crash the process; the next check notices it.
        c.on("error", () => {});
        return true;
      }
      c.release();
      return false;
    } catch {
      c.release(true);
      return false;
    }
  };
  return {
    held() {
      // Concurrent scrapes share one check (no second connection, no second lock attempt).
      pending ??= check().finally(() => (pending = undefined));
      return pending;
    },
    async release() {
      await pending?.catch(() => false);
      const c = client;
      if (!c) return;
      client = undefined;
      try {
        await c.query("select pg_advisory_unlock($1::bigint)", [EXPORTER_LOCK_KEY.toString()]);
        c.release();
      } catch {
        c.release(true);
      }
    },
  };
};
