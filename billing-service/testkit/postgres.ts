/**
 * Test kit: embedded PostgreSQL clusters (the service's src/db/embedded.ts) in their own directory
 * and on a free port, for the tests, the demo and the benches: a throw-away one (startPostgres),
 * a migrated one (startMigratedPostgres), or a persistent one the fault tests stop and start again
 * (startBillingCluster). Pools log lost idle connections, except while the server is being stopped
 * (stopping terminates them: 57P01, not a failure).
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { embeddedCluster, embeddedUrl, prepareClusterDir, type EmbeddedPostgresServer } from "../src/db/embedded";
import { migrate } from "../src/db/migrate";
import { logPoolErrors, stderrPoolLog } from "../src/db/pool-errors";

export interface RunningPostgres {
  readonly url: string;
  readonly pool: pg.Pool;
  stop(): Promise<void>;
}

export interface BillingCluster {
  readonly url: string;
  /** The cluster's data directory (holds postmaster.pid while it runs). */
  readonly dataDir: string;
  /** Started; the caller stops it (and may start it again when persistent). */
  readonly server: EmbeddedPostgresServer;
}

/**
 * A new embedded cluster in `<dir>/data` with an empty database "billing", started on a free port
 * with a random password. If it fails to come up it is stopped and `dir` removed.
 */
export const startBillingCluster = async (dir: string, options: { readonly persistent: boolean }): Promise<BillingCluster> => {
  await prepareClusterDir(dir);
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  const dataDir = path.join(dir, "data");
  const { port, server } = await embeddedCluster({ databaseDir: dataDir, password, persistent: options.persistent });
  try {
    await server.initialise();
    await server.start();
    await server.createDatabase("billing");
  } catch (e) {
    await server.stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  return { url: embeddedUrl(password, port, "billing"), dataDir, server };
};

/** A pool whose lost idle connections are logged until `quiet()` (call it before stopping the server). */
export const kitPool = (url: string, max: number): { pool: pg.Pool; quiet(): void } => {
  let quiet = false;
  const pool = logPoolErrors(new pg.Pool({ connectionString: url, max }), { warn: (obj, msg) => (quiet ? undefined : stderrPoolLog.warn(obj, msg)) });
  return { pool, quiet: () => (quiet = true) };
};

/** A throw-away cluster in `dir` (a new temp directory when omitted); stop() removes it. */
export const startPostgres = async (dir?: string, options: { readonly poolSize?: number } = {}): Promise<RunningPostgres> => {
  const where = dir ?? (await mkdtemp(path.join(os.tmpdir(), "maas-kit-pg-")));
  const { url, server } = await startBillingCluster(where, { persistent: false });
  const { pool, quiet } = kitPool(url, options.poolSize ?? 4);
  return {
    url,
    pool,
    stop: async () => {
      quiet();
      await pool.end();
      await server.stop();
      await rm(where, { recursive: true, force: true });
    },
  };
};

/** A throw-away cluster migrated with the service's runner (all tables, the collector's included). */
export const startMigratedPostgres = async (options: { readonly poolSize?: number } = {}): Promise<RunningPostgres> => {
  const db = await startPostgres(undefined, options);
  try {
    await migrate(db.pool);
  } catch (e) {
    await db.stop();
    throw e;
  }
  return db;
};
