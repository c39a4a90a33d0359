/**
 * Opens the database a command works on: `DATABASE_URL` when set, otherwise the embedded
 * PostgreSQL in the data directory. Returns the pool, migrate() and a close() that also stops an
 * embedded server this process started.
 *
 * Roles (db/roles.ts): the embedded default migrates as its superuser and hands the service a pool
 * of the app role, so a newcomer's `serve` runs with the same least privilege as the cluster. With
 * DATABASE_URL, migrate() runs as whoever that URL names; given MAAS_BILLING_APP_DB_ROLE/PASSWORD it
 * also creates or updates that app role (the platform's init container runs `migrate` as the
 * owner this way, and the service container gets only the app role's URL).
 */
import pg from "pg";
import type { ServiceConfig } from "../config";
import { COMMAND_POOL_MAX } from "../contract/deployment";
import { startEmbeddedPostgres } from "./embedded";
import { migrate, type MigrationResult } from "./migrate";
import { logPoolErrors, stderrPoolLog, type PoolErrorLog } from "./pool-errors";
import { EMBEDDED_APP_ROLE, ensureAppRole, type AppRole } from "./roles";

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
  /** The pool the service works with (the app role for the embedded default). */
  readonly pool: pg.Pool;
  readonly embedded: boolean;
  /** Applies pending migrations as the schema owner and (re)grants the app role, if any. */
  migrate(): Promise<MigrationResult>;
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
  const max = options.max ?? COMMAND_POOL_MAX;
  const newPool = (connectionString: string, size: number): pg.Pool => {
    const pool = new pg.Pool({ connectionString, max: size });
    // An idle client losing its connection must not crash the process (the next query reconnects),
    // nor go unnoticed.
    logPoolErrors(pool, options.log ?? stderrPoolLog);
    return pool;
  };
  /** Runs `work` on a short-lived one-connection pool of the owner role. */
  const asOwner = async <T>(url: string, work: (owner: pg.Pool) => Promise<T>): Promise<T> => {
    const owner = newPool(url, 1);
    try {
      return await work(owner);
    } finally {
      await owner.end();
    }
  };

  if (config.database.url) {
    const pool = newPool(config.database.url, max);
    const role: AppRole | undefined = config.database.appRole;
    return {
      pool,
      embedded: false,
      migrate: async () => {
        const result = await migrate(pool);
        if (role) await ensureAppRole(pool, role);
        return result;
      },
      close: () => pool.end(),
    };
  }
  const embedded = await startEmbeddedPostgres(config.dataDir, { ownSignals: options.ownSignals });
  const role: AppRole = { name: EMBEDDED_APP_ROLE, password: embedded.appPassword };
  try {
    // The app role must exist before its pool connects; migrate() grants it the tables.
    await asOwner(embedded.url, async (owner) => {
      await waitForConnection(owner);
      await ensureAppRole(owner, role);
    });
  } catch (e) {
    await embedded.stop();
    throw e;
  }
  const pool = newPool(embedded.appUrl, max);
  await waitForConnection(pool);
  return {
    pool,
    embedded: true,
    migrate: () =>
      asOwner(embedded.url, async (owner) => {
        const result = await migrate(owner);
        await ensureAppRole(owner, role);
        return result;
      }),
    close: async () => {
      await pool.end();
      await embedded.stop();
    },
  };
};
