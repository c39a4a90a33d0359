/*
 * Diagnosis of the memory row (serve's peak RSS during the events row; not part of `npm run
 * bench`): preloaded into a bench serve (NODE_OPTIONS="--require tsx/cjs --require <this file>",
 * MAAS_MEMORY_FILE=<file>), it samples process.memoryUsage() and V8's heap spaces every 20 ms and
 * on exit writes the sample with the highest RSS and the highest of each figure (JSON): what
 * holds the memory at the peak (V8's young and old generation, large objects, buffers outside
 * the heap, file-backed pages, or the rest: native allocations, freed pages not yet returned).
 */
import { readFileSync, writeFileSync } from "node:fs";
import v8 from "node:v8";

const file = process.env.MAAS_MEMORY_FILE;

export interface MemorySample {
  rssMB: number;
  heapTotalMB: number;
  heapUsedMB: number;
  externalMB: number;
  arrayBuffersMB: number;
  /** RSS by kind (/proc/self/status): anonymous memory (heap, malloc), file-backed pages (the node binary, shared libraries, native addons). */
  rssAnonMB: number;
  rssFileMB: number;
  /** Per V8 space: committed size (what counts in RSS once touched) and used size, MB. */
  spaces: Record<string, { committedMB: number; usedMB: number }>;
}

const mb = (b: number) => Math.round((b / 1048576) * 10) / 10;

const statusKb = (status: string, key: string): number => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN);

const sample = (): MemorySample => {
  const m = process.memoryUsage();
  const status = readFileSync("/proc/self/status", "utf8");
  return {
    rssAnonMB: mb(statusKb(status, "RssAnon") * 1024),
    rssFileMB: mb(statusKb(status, "RssFile") * 1024),
    rssMB: mb(m.rss),
    heapTotalMB: mb(m.heapTotal),
    heapUsedMB: mb(m.heapUsed),
    externalMB: mb(m.external),
    arrayBuffersMB: mb(m.arrayBuffers),
    spaces: Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, { committedMB: mb(s.physical_space_size), usedMB: mb(s.space_used_size) }])),
  };
};

if (file) {
  let peak = sample();
  const max: Record<string, number> = {};
  setInterval(() => {
    const s = sample();
    if (s.rssMB > peak.rssMB) peak = s;
    for (const [k, v] of Object.entries(s)) if (typeof v === "number") max[k] = Math.max(max[k] ?? 0, v);
    for (const [k, v] of Object.entries(s.spaces)) max[`${k}.committedMB`] = Math.max(max[`${k}.committedMB`] ?? 0, v.committedMB);
  }, 20).unref();
  process.on("exit", () => writeFileSync(file, JSON.stringify({ atPeakRss: peak, maxima: max })));
}
