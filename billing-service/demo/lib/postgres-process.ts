/**
 * A throw-away embedded PostgreSQL (the service's src/db/embedded.ts, not persistent) in its own
 * directory and on a free port, for the tests and the benches.
 */
import { rm } from "node:fs/promises";
import path from "node:path";
import pg from "pg";
import { embeddedCluster, embeddedUrl, prepareClusterDir } from "../../src/db/embedded";

export interface RunningPostgres {
  readonly url: string;
  readonly pool: pg.Pool;
  stop(): Promise<void>;
}

export const startPostgres = async (dir: string): Promise<RunningPostgres> => {
  await prepareClusterDir(dir);
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  const { port, server } = await embeddedCluster({ databaseDir: path.join(dir, "data"), password, persistent: false });
  try {
    await server.initialise();
    await server.start();
    await server.createDatabase("billing");
  } catch (e) {
    await server.stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  const url = embeddedUrl(password, port, "billing");
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
