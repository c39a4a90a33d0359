/**
 * Embedded PostgreSQL clusters (the service's src/db/embedded.ts) in their own directory and on a
 * free port, for the tests and the benches: a throw-away one (startPostgres), or a persistent one
 * the fault tests stop and start again (startBillingCluster).
 */
import { rm } from "node:fs/promises";
import path from "node:path";
import pg from "pg";
import { embeddedCluster, embeddedUrl, prepareClusterDir, type EmbeddedPostgresServer } from "../../src/db/embedded";

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

export const startPostgres = async (dir: string): Promise<RunningPostgres> => {
  const { url, server } = await startBillingCluster(dir, { persistent: false });
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  // An idle connection closed by the server (it stops at the end of a test) must not crash the process.
  pool.on("error", () => {});
  return {
    url,
    pool,
    stop: async () => {
      await pool.end();
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
};
