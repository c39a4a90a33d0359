/**
 * What a pool does with an error on one of its connections (the server restarted, a failover, an
 * administrator's pg_terminate_backend): log it and go on. pg emits these on the pool while a
 * connection is idle, and on the client itself while it is checked out (a collector pass, a quota
 * refresh, a transaction); an 'error' event without a listener crashes the process, and a listener
 * that ignores them hides a flapping database. The query in flight on a lost connection still
 * rejects, so its caller sees the failure; the next query opens a new connection.
 */
import type { Pool, PoolClient } from "pg";

export interface PoolErrorLog {
  warn(obj: object, msg: string): void;
}

/** One JSON line on stderr, for commands and tools without a logger. */
export const stderrPoolLog: PoolErrorLog = {
  warn: (obj, msg) => process.stderr.write(`${JSON.stringify({ level: "warn", msg, ...obj })}\n`),
};

type PgError = Error & { code?: string };

export const logPoolErrors = (pool: Pool, log: PoolErrorLog = stderrPoolLog): Pool => {
  pool.on("error", (err: PgError) => log.warn({ err: err.message, code: err.code }, "database: idle connection lost"));
  // Every connection gets a listener of its own for as long as it lives; it logs only while the
  // connection is checked out (an idle one's loss reaches the pool's 'error' above).
  const inUse = new WeakSet<PoolClient>();
  pool.on("acquire", (client: PoolClient) => inUse.add(client));
  pool.on("release", (_err: Error | undefined, client: PoolClient) => inUse.delete(client));
  pool.on("connect", (client: PoolClient) => {
    client.on("error", (err: PgError) => {
      if (inUse.has(client)) log.warn({ err: err.message, code: err.code }, "database: connection lost while in use");
    });
  });
  return pool;
};
