/*
 * Diagnosis (not part of `npm run bench`; its row "refresh", bench/refresh-price-change.ts, times the
 * refresh with price changes inside a day of many events): the cost of the quota view's per-second usage read
 * (quota/usage.ts readUsageSnapshot) on the quota bench's ledger (quota.ts seedQuotaBench: a month
 * of 3 users, 1,000 API-key users today), in this process, for one or more checkouts in the SAME
 * run on the same data, calls interleaved (a shared machine's load hits each alike):
 *   - bytes allocated per call: new-space growth across one call after a full GC (one call's
 *     garbage fits the default 16 MB semi-space, so no scavenge happens inside it);
 *   - CPU per call over back-to-back calls with no forced GC (scavenges included, as in serve);
 *   - the PostgreSQL backend's CPU per call (/proc of the connection's backend process);
 *   - wall per call (includes PostgreSQL's share).
 *   NODE_OPTIONS=--expose-gc npx tsx billing-service/bench/refresh-cost.ts
 *   REFRESH_COST_COMPARE="main=/tmp/main-copy,this=."   checkouts (a directory with billing-service/)
 *   REFRESH_COST_ROUNDS (50), REFRESH_COST_HEAP=<file> (a sampled allocation profile of this checkout's calls)
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { Session } from "node:inspector/promises";
import os from "node:os";
import path from "node:path";
import v8 from "node:v8";
import { EXAMPLE_PRICE_BOOK } from "../src/config";
import { loadPriceBook } from "../src/pricebook/pricebook";
import type { readUsageSnapshot as ReadUsageSnapshot } from "../src/quota/usage";
import { startMigratedPostgres } from "../testkit/postgres";
import { startService } from "../testkit/service";
import { seedQuotaBench } from "./quota";

/** CPU time (ms) of a process so far, from /proc (Linux; clock ticks of 10 ms). */
const processCpuMs = async (pid: number): Promise<number> => {
  const fields = (await readFile(`/proc/${pid}/stat`, "utf8")).replace(/^.*\) /, "").split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
};
const newSpaceUsed = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === "new_space")!.space_used_size;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const main = async () => {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error("run with NODE_OPTIONS=--expose-gc");
  const rounds = Number(process.env.REFRESH_COST_ROUNDS ?? 50);
  const variants = (process.env.REFRESH_COST_COMPARE ?? `this=${path.join(__dirname, "..", "..")}`).split(",").map((v) => {
    const [name, dir] = v.split("=");
    if (!name || !dir) throw new Error(`REFRESH_COST_COMPARE: expected name=checkout[,name=checkout], got "${v}"`);
    const read = (require(path.join(path.resolve(dir), "billing-service", "src", "quota", "usage")) as { readUsageSnapshot: typeof ReadUsageSnapshot }).readUsageSnapshot;
    return { name, read, bytes: [] as number[], wall: [] as number[], cpuMs: 0, dbCpuMs: 0, calls: 0, users: 0 };
  });
  const db = await startMigratedPostgres();
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "maas-refresh-cost-"));
  const service = await startService({ databaseUrl: db.url, dataDir });
  try {
    await seedQuotaBench(async (method, p, body) => (await fetch(new URL(p, service.url), { method, headers: { authorization: `Bearer ${service.token}`, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) })).status);
    await service.kill("SIGTERM");
    // As in a running serve: the rollup queue folded into usage_hourly (its drain loop), statistics current (autovacuum).
    await db.pool.query("select ledger_rollup_drain(true)");
    await db.pool.query("analyze");
    const book = loadPriceBook(EXAMPLE_PRICE_BOOK);
    const client = await db.pool.connect();
    const backend = Number((await client.query("select pg_backend_pid() as pid")).rows[0].pid);
    const heapFile = process.env.REFRESH_COST_HEAP;
    const inspector = heapFile ? new Session() : undefined;
    try {
      for (let i = 0; i < 5; i++) for (const v of variants) await v.read(client, book, { now: new Date() }); // warm-up
      // Bytes: one call after a full GC.
      for (let i = 0; i < rounds; i++) {
        for (const v of variants) {
          gc();
          const b0 = newSpaceUsed();
          const t0 = performance.now();
          const s = await v.read(client, book, { now: new Date() });
          v.wall.push(performance.now() - t0);
          v.bytes.push(newSpaceUsed() - b0);
          v.users = [...s.tenants.values()].reduce((n, t) => n + t.users.size, 0);
        }
      }
      if (inspector) {
        inspector.connect();
        await inspector.post("HeapProfiler.enable");
        await inspector.post("HeapProfiler.startSampling", { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
      }
      // CPU: blocks of 10 back-to-back calls per variant, no forced GC.
      gc();
      for (let i = 0; i < rounds; i += 10) {
        for (const v of variants) {
          const c0 = process.cpuUsage();
          const d0 = await processCpuMs(backend);
          for (let k = 0; k < 10; k++) await v.read(client, book, { now: new Date() });
          const c1 = process.cpuUsage(c0);
          v.dbCpuMs += (await processCpuMs(backend)) - d0;
          v.cpuMs += (c1.user + c1.system) / 1000;
          v.calls += 10;
        }
      }
      if (inspector && heapFile) {
        const { profile } = await inspector.post("HeapProfiler.stopSampling");
        await writeFile(heapFile, JSON.stringify(profile));
        inspector.disconnect();
      }
    } finally {
      client.release();
    }
    console.log(`readUsageSnapshot on the quota bench's ledger, ${rounds} calls per variant, interleaved (load ${os.loadavg().map((x) => x.toFixed(1)).join(" ")}):`);
    for (const v of variants) {
      console.log(
        `  ${v.name}: ${v.users} users; allocated ${(median(v.bytes) / 1048576).toFixed(2)} MB per call (median), CPU ${(v.cpuMs / v.calls).toFixed(1)} ms per call (mean of ${v.calls}, GC included), PostgreSQL backend CPU ${(v.dbCpuMs / v.calls).toFixed(1)} ms per call, wall ${median(v.wall).toFixed(1)} ms (median)`,
      );
    }
  } finally {
    await service.kill("SIGTERM");
    await rm(dataDir, { recursive: true, force: true });
    await db.stop();
  }
};

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
