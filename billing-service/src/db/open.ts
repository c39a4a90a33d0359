/**
 * Opens the database a command works on: `DATABASE_URL` when set, otherwise the embedded
 * PostgreSQL in the data directory. Returns the pool and a close() that also stops an embedded
 * server this process started.
 */
import pg from "pg";
import type { ServiceConfig } from "../config";
import { startEmbeddedPostgres } from "./embedded";
import { logPoolErrors, stderrPoolLog, type PoolErrorLog } from "./pool-errors";

// BIGINT (int8) and NUMERIC come back as strings by default; the service converts with BigInt
// where it does arithmetic, so they are left as strings here (never parsed into floats).

/** A freshly started embedded server can drop the very first connection; retry briefly. */
const waitForConnection = async (pool: pg.Pool): Promise<void> => {
  for (let attempt = 1; ; attempt++) {
    try {
      await pool.query("select 1");
      return;
    } catch (e) {
      if (attempt >= 20) throw e;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
};

export interface OpenedDatabase {
  readonly pool: pg.Pool;
  readonly embedded: boolean;
  close(): Promise<void>;
}

export const openDatabase = async (
  config: Pick<ServiceConfig, "database" | "dataDir">,
  options: {
    readonly max?: number;
    /** The caller handles SIGINT/SIGTERM and closes the database itself (serve). */
    readonly ownSignals?: boolean;
    /** Where errors of idle connections are logged (default: a JSON line on stderr). */
    readonly log?: PoolErrorLog;
  } = {},
): Promise<OpenedDatabase> => {
  const embedded = config.database.url ? undefined : await startEmbeddedPostgres(config.dataDir, { ownSignals: options.ownSignals });
  const pool = new pg.Pool({ connectionString: config.database.url ?? embedded!.url, max: options.max ?? 10 });
  // An idle client losing its connection must not crash the process (the next query reconnects),
  // nor go unnoticed.
  logPoolErrors(pool, options.log ?? stderrPoolLog);
  if (embedded) await waitForConnection(pool);
  return {
    pool,
    embedded: embedded !== undefined,
    close: async () => {
      await pool.end();
      await embedded?.stop();
    },
  };
};
