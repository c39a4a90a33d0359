/*
 * Before/after of the events row (bench/ingest.ts benchIngest: POST /v1/events, batches of 1,000,
 * against a real serve, and its COPY baseline) for several checkouts, in interleaved pairs
 * (A B, B A, A B ...), so load from other work on a shared machine hits each alike. For diagnosis,
 * not part of `npm run bench`:
 *   BENCH_INGEST_COMPARE="main=/tmp/main-copy,this=." BENCH_INGEST_PAIRS=3 npx tsx billing-service/bench/ingest-compare.ts
 * A checkout is a directory with billing-service/ (node_modules may be symlinks to this one's).
 * Each run prints events/s, serve's and PostgreSQL's CPU per event, serve's peak RSS and the load.
 * BENCH_INGEST_MEMORY=1: each serve has ingest-memory-probe.ts preloaded, and what held its memory
 * at its peak RSS is printed after the run.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { benchIngest as BenchIngest } from "./ingest";

const main = async () => {
  const variants = (process.env.BENCH_INGEST_COMPARE ?? `this=${path.join(__dirname, "..", "..")}`).split(",").map((v) => {
    const [name, dir] = v.split("=");
    if (!name || !dir) throw new Error(`BENCH_INGEST_COMPARE: expected name=checkout[,name=checkout], got "${v}"`);
    const { benchIngest } = require(path.join(path.resolve(dir), "billing-service", "bench", "ingest")) as { benchIngest: typeof BenchIngest };
    return { name, benchIngest };
  });
  const pairs = Number(process.env.BENCH_INGEST_PAIRS ?? 3);
  const events = Number(process.env.BENCH_INGEST_EVENTS ?? 200_000);
  const memoryDir = process.env.BENCH_INGEST_MEMORY ? await mkdtemp(path.join(os.tmpdir(), "maas-ingest-memory-")) : undefined;
  if (memoryDir) process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ""} --require ${require.resolve("tsx/cjs")} --require ${path.join(__dirname, "ingest-memory-probe.ts")}`.trim();
  for (let p = 0; p < pairs; p++) {
    const order = p % 2 === 0 ? variants : [...variants].reverse();
    for (const v of order) {
      const load = os.loadavg()[0];
      const memoryFile = memoryDir ? path.join(memoryDir, `${v.name}-${p}.json`) : undefined;
      // The serve benchIngest spawns inherits this environment (testkit/service.ts).
      if (memoryFile) process.env.MAAS_MEMORY_FILE = memoryFile;
      const f = await v.benchIngest(events);
      const us = (s: number) => ((s * 1e6) / f.events).toFixed(1);
      console.log(
        `pair ${p + 1} ${v.name}: ${Math.round(f.events / f.apiSeconds)} events/s (COPY ${Math.round(f.events / f.copySeconds)}/s); CPU per event serve ${us(f.apiCpu.serve)} us, PostgreSQL ${us(f.apiCpu.postgres)} us; serve peak RSS ${Math.round(f.peakRssBytes / 1048576)} MB (${Math.round(f.rssBeforeBytes / 1048576)} before); load ${load.toFixed(1)} -> ${os.loadavg()[0].toFixed(1)}`,
      );
      if (memoryFile) console.log(`  memory: ${await readFile(memoryFile, "utf8").catch(() => "(serve wrote no memory file)")}`);
    }
  }
  if (memoryDir) await rm(memoryDir, { recursive: true, force: true });
};

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
