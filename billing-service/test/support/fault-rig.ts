/**
 * The setup the POST /v1/events fault tests share: one restartable PostgreSQL for the test file,
 * and `serve` processes on fresh data directories. Registers the file's beforeAll/afterAll, which
 * SIGKILL every service, destroy the database and remove the directories.
 */
import type { StaticTokenEntry } from "../../src/auth/static";
import { afterAll, beforeAll } from "vitest";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { restartablePostgres, type RestartablePostgres } from "./fault-postgres";
import { startService, type ServiceProcess } from "../../testkit/service";

export interface FaultRig {
  /** The file's database (available once beforeAll ran). */
  readonly pg: RestartablePostgres;
  /** A fresh temporary data directory, removed after the file's tests. */
  newDataDir(): Promise<string>;
  /** Starts `serve` on the file's database with its data in `dataDir`, killed after the file's tests. */
  serve(dataDir: string, env?: Record<string, string>, tokens?: readonly StaticTokenEntry[]): Promise<ServiceProcess>;
}

/** Call at the top level of a test file; `dirPrefix` names its temporary directories. */
export const useFaultRig = (dirPrefix: string): FaultRig => {
  let pg: RestartablePostgres | undefined;
  const dirs: string[] = [];
  const services: ServiceProcess[] = [];

  beforeAll(async () => {
    pg = await restartablePostgres();
  });

  afterAll(async () => {
    for (const s of services) await s.kill("SIGKILL");
    await pg?.destroy();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  const database = (): RestartablePostgres => {
    if (!pg) throw new Error("the fault rig's database is not started yet (use it inside a test)");
    return pg;
  };

  return {
    get pg() {
      return database();
    },
    async newDataDir() {
      const d = await mkdtemp(path.join(os.tmpdir(), dirPrefix));
      dirs.push(d);
      return d;
    },
    async serve(dataDir, env, tokens) {
      const s = await startService({ databaseUrl: database().url, dataDir, env, tokens });
      services.push(s);
      return s;
    },
  };
};
