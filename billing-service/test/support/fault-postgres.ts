/**
 * An embedded PostgreSQL that can be stopped and started again on the same port and data (the
 * database "going away" under a running service), unlike the throw-away one of the other tests.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { kitPool, startBillingCluster } from "../../testkit/postgres";
import { migrate } from "../../src/db/migrate";

export interface RestartablePostgres {
  readonly url: string;
  /** The cluster's data directory (holds postmaster.pid while it runs). */
  readonly dataDir: string;
  /** A pool for the test's own checks (survives restarts: idle clients are dropped and reconnected). */
  readonly pool: pg.Pool;
  start(): Promise<void>;
  stop(): Promise<void>;
  destroy(): Promise<void>;
}

export const restartablePostgres = async (): Promise<RestartablePostgres> => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "maas-faults-pg-"));
  // Persistent: a stop() must keep the data for the next start(); destroy() removes the directory.
  const { url, dataDir, server } = await startBillingCluster(dir, { persistent: true });
  // The tests stop the server under this pool on purpose: its lost connections are not news.
  const { pool, quiet } = kitPool(url, 2);
  quiet();
  await migrate(pool);
  let running = true;
  return {
    url,
    dataDir,
    pool,
    async start() {
      if (!running) await server.start();
      running = true;
    },
    async stop() {
      if (running) await server.stop();
      running = false;
    },
    async destroy() {
      await pool.end().catch(() => {});
      if (running) await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
};
