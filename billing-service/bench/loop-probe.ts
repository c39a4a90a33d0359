/*
 * Preloaded into the bench's `serve` process (NODE_OPTIONS=--require): measures the SERVER's
 * event-loop delay (perf_hooks.monitorEventLoopDelay, 1 ms resolution) and its GC pauses, so a
 * latency tail can be put down to the server's loop being blocked (sync work, GC) or not.
 * On SIGUSR2 it writes what it saw since the previous SIGUSR2 to MAAS_BENCH_PROBE_FILE and starts
 * over. Nothing of it is in the service itself.
 */
import { writeFileSync } from "node:fs";
import { constants, monitorEventLoopDelay, PerformanceObserver } from "node:perf_hooks";

export interface ProbeWindow {
  loopDelayP50Ms: number;
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  gcCount: number;
  gcTotalMs: number;
  gcMaxMs: number;
  /** Major (mark-sweep-compact) collections among gcCount. */
  gcMajor: number;
  cpuUserMs: number;
  cpuSystemMs: number;
}

const file = process.env.MAAS_BENCH_PROBE_FILE;
if (file) {
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  let gc = { count: 0, total: 0, max: 0, major: 0 };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gc.count += 1;
      gc.total += e.duration;
      gc.max = Math.max(gc.max, e.duration);
      if (((e as unknown as { detail?: { kind?: number } }).detail)?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) gc.major += 1;
    }
  }).observe({ entryTypes: ["gc"] });
  let cpu = process.cpuUsage();
  process.on("SIGUSR2", () => {
    const used = process.cpuUsage(cpu);
    const w: ProbeWindow = {
      loopDelayP50Ms: loop.percentile(50) / 1e6,
      loopDelayP99Ms: loop.percentile(99) / 1e6,
      loopDelayMaxMs: loop.max / 1e6,
      gcCount: gc.count,
      gcTotalMs: gc.total,
      gcMaxMs: gc.max,
      gcMajor: gc.major,
      cpuUserMs: used.user / 1000,
      cpuSystemMs: used.system / 1000,
    };
    writeFileSync(file, JSON.stringify(w));
    loop.reset();
    gc = { count: 0, total: 0, max: 0, major: 0 };
    cpu = process.cpuUsage();
  });
}
