/*
 * Diagnosis of the quota row's tail (not part of `npm run bench`): preloaded into a bench `serve`
 * (quota-compare.ts: BENCH_COMPARE_FLAGS_<name>="--require <this file>"), it finds every stretch
 * in which serve's event loop did not turn for STALL_MS or more and says what filled it:
 *   - the main thread's own CPU in the stretch (process.threadCpuUsage): close to the stretch's
 *     length means serve itself was busy (sync work or GC); far below means the thread was not
 *     running (the machine's other processes had the cores);
 *   - GC pauses overlapping it (perf_hooks gc entries);
 *   - the queries that completed in it (pg Client#query, tagged by their text): the quota refresh's
 *     usage read is folded into the snapshot right after its rows arrive, in the same turn.
 * A 1 ms timer chain measures the turns (like monitorEventLoopDelay, but with each stretch's time,
 * so it can be matched with GC and queries). On exit it writes the stretches and a summary to
 * MAAS_STALL_FILE (JSON). Nothing of it is in the service.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { performance, PerformanceObserver } from "node:perf_hooks";

const file = process.env.MAAS_STALL_FILE;
const STALL_MS = Number(process.env.MAAS_STALL_MS ?? 5);

export interface Stall {
  /** ms since the probe started. */
  at: number;
  wallMs: number;
  /** Main-thread CPU in the stretch. */
  cpuMs: number;
  gcMs: number;
  queries: string[];
}

export interface StallReport {
  stallMs: number;
  seconds: number;
  stalls: Stall[];
  /** Every turn (of any length) in which the quota refresh's usage read completed: its fold's own share of the loop. */
  refreshTurns: Stall[];
  /** ms since the probe started of each SIGUSR2: loadgen.ts and vegeta.ts send one before and one after each probed window. */
  marks: number[];
}

/** What a query is, from its text: the quota refresh's reads, the rollup fold, or its first words. */
const tagOf = (text: string): string =>
  /width_bucket/.test(text) ? "quota refresh: usage" : /from quotas/.test(text) ? "quota refresh: rules" : /fold_|rollup/.test(text) ? "rollup fold" : text.replace(/\s+/g, " ").slice(0, 40);

if (file) {
  const t0 = performance.now();
  const stalls: Stall[] = [];
  const refreshTurns: Stall[] = [];
  const gcs: Array<{ start: number; end: number }> = [];
  const done: Array<{ at: number; tag: string }> = [];
  const marks: number[] = [];
  process.on("SIGUSR2", () => void marks.push(Math.round(performance.now() - t0)));
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcs.push({ start: e.startTime, end: e.startTime + e.duration });
    if (gcs.length > 20_000) gcs.splice(0, 10_000);
  }).observe({ entryTypes: ["gc"] });

  // serve's own pg (the same module instance: resolved from billing-service like serve's imports).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const pg = require(require.resolve("pg", { paths: [path.join(__dirname, "..")] })) as { Client: { prototype: { query: (...args: unknown[]) => unknown } } };
  const query = pg.Client.prototype.query;
  pg.Client.prototype.query = function (this: unknown, ...args: unknown[]) {
    const result = query.apply(this, args);
    const config = args[0] as string | { text?: string } | undefined;
    const text = typeof config === "string" ? config : (config?.text ?? "");
    if (result instanceof Promise) {
      // Registered before the caller's await: runs just before the caller's continuation (the fold of the rows).
      result.then(
        () => void done.push({ at: performance.now(), tag: tagOf(text) }),
        () => undefined,
      );
      if (done.length > 20_000) done.splice(0, 10_000);
    }
    return result;
  };

  let last = performance.now();
  let lastCpu = process.threadCpuUsage();
  const tick = (): void => {
    const now = performance.now();
    const cpu = process.threadCpuUsage();
    const gap = now - last;
    const queries = done.length > 0 && done[done.length - 1].at >= last ? done.filter((d) => d.at >= last && d.at <= now).map((d) => d.tag) : [];
    const refreshed = queries.includes("quota refresh: usage");
    if (gap >= STALL_MS || refreshed) {
      const gcMs = gcs.reduce((sum, g) => sum + Math.max(0, Math.min(g.end, now) - Math.max(g.start, last)), 0);
      const stretch: Stall = {
        at: Math.round(last - t0),
        wallMs: Math.round(gap * 10) / 10,
        cpuMs: Math.round((cpu.user + cpu.system - lastCpu.user - lastCpu.system) / 100) / 10,
        gcMs: Math.round(gcMs * 10) / 10,
        queries,
      };
      if (gap >= STALL_MS) stalls.push(stretch);
      if (refreshed) refreshTurns.push(stretch);
    }
    last = now;
    lastCpu = cpu;
    setTimeout(tick, 1).unref();
  };
  setTimeout(tick, 1).unref();
  process.on("exit", () => {
    const report: StallReport = { stallMs: STALL_MS, seconds: (performance.now() - t0) / 1000, stalls, refreshTurns, marks };
    writeFileSync(file, JSON.stringify(report));
  });
}
