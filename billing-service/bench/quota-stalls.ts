/*
 * Summarizes quota-stall-probe.ts's reports (diagnosis, not part of `npm run bench`): for each
 * serve, the stretches without an event-loop turn inside its /healthz and authorize windows
 * (quota-compare.ts's open-loop runs: each serve gets a SIGUSR2 before and after each of its two
 * windows a round), by what filled them:
 *   gc        GC pauses cover at least half of the stretch
 *   refresh   the quota refresh's usage read completed in it (its rows are folded in that turn)
 *   busy      none of those, and serve's main thread was on a CPU for at least half of it
 *   off-cpu   the main thread ran for less than half of it (the machine's other processes)
 *   npx tsx billing-service/bench/quota-stalls.ts name=/tmp/a.json [name=/tmp/b.json ...]
 */
import { readFileSync } from "node:fs";
import type { Stall, StallReport } from "./quota-stall-probe";

type Kind = "gc" | "refresh" | "busy" | "off-cpu";
const kindOf = (s: Stall): Kind => (s.gcMs >= s.wallMs / 2 ? "gc" : s.queries.includes("quota refresh: usage") ? "refresh" : s.cpuMs >= s.wallMs / 2 ? "busy" : "off-cpu");

for (const arg of process.argv.slice(2)) {
  const [name, file] = arg.split("=");
  const report = JSON.parse(readFileSync(file, "utf8")) as StallReport;
  const windows: Array<{ phase: string; from: number; to: number }> = [];
  for (let j = 0; 2 * j + 1 < report.marks.length; j++) windows.push({ phase: j % 2 === 0 ? "GET /healthz" : "authorize", from: report.marks[2 * j], to: report.marks[2 * j + 1] });
  for (const phase of ["GET /healthz", "authorize"]) {
    const mine = windows.filter((w) => w.phase === phase);
    const seconds = mine.reduce((a, w) => a + (w.to - w.from) / 1000, 0);
    const stalls = report.stalls.filter((s) => mine.some((w) => s.at >= w.from && s.at < w.to));
    const by = new Map<Kind, Stall[]>();
    for (const s of stalls) by.set(kindOf(s), [...(by.get(kindOf(s)) ?? []), s]);
    const fmt = (xs: Stall[]) => `${xs.length} (${Math.round(xs.reduce((a, s) => a + s.wallMs, 0))} ms, max ${Math.max(0, ...xs.map((s) => s.wallMs)).toFixed(1)} ms, own CPU ${Math.round(xs.reduce((a, s) => a + s.cpuMs, 0))} ms)`;
    console.log(`${name} ${phase}: ${mine.length} windows, ${seconds.toFixed(1)} s; stretches >= ${report.stallMs} ms without a loop turn: ${fmt(stalls)}`);
    for (const k of ["gc", "refresh", "busy", "off-cpu"] as const) if (by.has(k)) console.log(`    ${k.padEnd(8)} ${fmt(by.get(k)!)}`);
    const worst = [...stalls].sort((a, b) => b.wallMs - a.wallMs).slice(0, 3);
    const turns = report.refreshTurns.filter((s) => mine.some((w) => s.at >= w.from && s.at < w.to));
    const q = (xs: number[], p: number) => (xs.length === 0 ? NaN : [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]);
    console.log(`    quota refresh turns: ${turns.length}; wall p50 ${q(turns.map((t) => t.wallMs), 0.5)} ms, max ${q(turns.map((t) => t.wallMs), 1)} ms; own CPU p50 ${q(turns.map((t) => t.cpuMs), 0.5)} ms, max ${q(turns.map((t) => t.cpuMs), 1)} ms`);
    for (const s of worst) console.log(`    worst: ${s.wallMs} ms at ${(s.at / 1000).toFixed(2)} s, own CPU ${s.cpuMs} ms, GC ${s.gcMs} ms, queries ${JSON.stringify(s.queries)}`);
  }
}
