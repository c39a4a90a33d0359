/*
 * What the service benchmarks share: a migrated embedded PostgreSQL and a real `maas-billing serve`
 * child process on loopback (the same helpers the fault tests use).
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { drainEveryPartition } from "../src/db/rollup-drain";
import { startMigratedPostgres, type RunningPostgres } from "../testkit/postgres";
import { startService, type ServiceOptions, type ServiceProcess } from "../testkit/service";

export interface BenchStack {
  readonly db: RunningPostgres;
  readonly service: ServiceProcess;
  stop(): Promise<void>;
}

/** `poolSize`: the bench's own pool (default 4). */
export const startBenchDatabase = (options: { readonly poolSize?: number } = {}): Promise<RunningPostgres> => startMigratedPostgres(options);

/** `extra`: more tokens and environment for serve (default: LOG_LEVEL warn). */
export const startBenchStack = async (extra: Pick<ServiceOptions, "tokens" | "env"> = {}): Promise<BenchStack> => {
  const db = await startBenchDatabase();
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "maas-bench-svc-"));
  try {
    const service = await startService({ databaseUrl: db.url, dataDir, tokens: extra.tokens, env: { LOG_LEVEL: "warn", ...extra.env } });
    return {
      db,
      service,
      async stop() {
        await service.kill("SIGTERM");
        await db.stop();
        await rm(dataDir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await db.stop();
    throw e;
  }
};

/** Peak resident set size of a process (VmHWM), in bytes. */
export const peakRssBytes = async (pid: number): Promise<number> => {
  const { readFile } = await import("node:fs/promises");
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const m = /VmHWM:\s+(\d+) kB/.exec(status);
  if (!m) throw new Error(`no VmHWM for pid ${pid}`);
  return Number(m[1]) * 1024;
};

export const seconds = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1e9;

/** Sends every body with `concurrency` requests in flight, in order; the seconds it took. A failed send ends the run with the service's log. */
export const sendAll = async <B>(bodies: readonly B[], concurrency: number, send: (body: B) => Promise<unknown>, serviceLog: () => string): Promise<number> => {
  let next = 0;
  const start = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < bodies.length) {
        await send(bodies[next++]).catch((e: Error) => {
          throw new Error(`${e.message}\nservice log:\n${serviceLog().slice(-2000)}`);
        });
      }
    }),
  );
  return seconds(start);
};

/**
 * Empties a ledger table and everything its inserts fill (the rollups and the queue they are folded
 * from), so the measured run and each baseline create their rollup rows alike, none folding into
 * rows an earlier run left (session 7 review, R7).
 */
export const emptyLedger = async (pool: pg.Pool, ledger: "usage_events" | "access_log_usage"): Promise<void> => {
  await pool.query(`truncate ${ledger}, usage_hourly, usage_user_daily, usage_rollup, access_log_key_hourly, ledger_rollup_queue`);
};

/**
 * Folds what the ledger inserts left in the rollup queue (migration 062) and returns the seconds it
 * took: every ingest figure includes it, so deferred rollup work is never left out of a rate. Every
 * partition at once, each on a connection of its own (session 8; until then the whole queue on one
 * connection, ledger_rollup_drain(true)), waiting for a fold serve's loop is running: the pool needs
 * a connection per partition (2, migration 065).
 */
export const drainRollupQueue = async (pool: pg.Pool): Promise<number> => {
  const start = process.hrtime.bigint();
  await drainEveryPartition(pool);
  return seconds(start);
};

/**
 * CPU seconds (user + system) a process has used, with those of its children: the live ones read
 * from /proc and the ended ones the kernel added to the parent (cutime/cstime). On a machine
 * shared with other work, the CPU an ingest costs per row is what compares between runs; the
 * wall-clock rate depends on what else runs.
 */
export const treeCpuSeconds = async (rootPid: number): Promise<number> => {
  const { readFile, readdir } = await import("node:fs/promises");
  const tick = 100; // USER_HZ on Linux
  const stat = async (pid: number | string): Promise<string[] | undefined> => {
    const text = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => undefined);
    // Fields after the command name (which may hold spaces): state is field 3, ppid 4, utime 14 .. cstime 17.
    return text?.slice(text.lastIndexOf(")") + 2).split(" ");
  };
  const own = (f: string[]) => (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / tick;
  const root = await stat(rootPid);
  if (!root) throw new Error(`no process ${rootPid}`);
  let total = own(root);
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const f = await stat(entry);
    if (f && Number(f[1]) === rootPid) total += own(f);
  }
  return total;
};

/** The postmaster's pid of a pool's server (the parent of a backend). */
export const postmasterPid = async (pool: pg.Pool): Promise<number> => {
  const { readFile } = await import("node:fs/promises");
  const backend = (await pool.query<{ pid: number }>("select pg_backend_pid() as pid")).rows[0].pid;
  const text = await readFile(`/proc/${backend}/stat`, "utf8");
  return Number(text.slice(text.lastIndexOf(")") + 2).split(" ")[1]);
};

/** CPU seconds used by a set of process trees (each pid with its children) while `work` ran. */
export const cpuDuring = async <T>(pids: readonly number[], work: () => Promise<T>): Promise<{ result: T; cpuSeconds: number[] }> => {
  const before = await Promise.all(pids.map(treeCpuSeconds));
  const result = await work();
  const after = await Promise.all(pids.map(treeCpuSeconds));
  return { result, cpuSeconds: after.map((a, i) => a - before[i]) };
};

export type Pool = pg.Pool;
