/**
 * What a pool does with an error on an idle connection (the server restarted, a failover, an
 * administrator's pg_terminate_backend): log it and go on. pg emits these on the pool; without a
 * listener the process would crash, and a listener that ignores them hides a flapping database.
 * The next query opens a new connection.
 */
import type { Pool } from "pg";

export interface PoolErrorLog {
  warn(obj: object, msg: string): void;
}

/** One JSON line on stderr, for commands and tools without a logger. */
export const stderrPoolLog: PoolErrorLog = {
  warn: (obj, msg) => process.stderr.write(`${JSON.stringify({ level: "warn", msg, ...obj })}\n`),
};

export const logPoolErrors = (pool: Pool, log: PoolErrorLog = stderrPoolLog): Pool => {
  pool.on("error", (err: Error & { code?: string }) => log.warn({ err: err.message, code: err.code }, "database: idle connection lost"));
  return pool;
};
