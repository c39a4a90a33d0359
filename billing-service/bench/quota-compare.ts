/*
 * Before/after of the gateway check in ONE run: several `serve` processes, each from its own
 * checkout (say a copy of main and this branch) and/or with its own node flags, on one database
 * with the quota bench's ledger (quota.ts seedQuotaBench), measured by the same open-loop
 * generator (loadgen.ts) in interleaved rounds with the bare node:http floor:
 *   bare, A /healthz, A authorize, B /healthz, B authorize, bare, A /healthz, ...
 * so load from other work on a shared machine hits every variant alike. For diagnosis, not part of
 * `npm run bench`:
 *   BENCH_COMPARE="before=/tmp/old-checkout,after=." npx tsx billing-service/bench/quota-compare.ts
 *   BENCH_COMPARE_FLAGS_after="--max-semi-space-size=16"   node flags of one variant
 *   BENCH_COMPARE_ENV_after="MAAS_BILLING_QUOTA_REFRESH_MS=60000"   environment of one variant (K=V ...)
 *   BENCH_COMPARE_SECONDS (10 per target), BENCH_COMPARE_ROUNDS (5), BENCH_COMPARE_CPU_PROF=<dir>
 *   BENCH_COMPARE_GENERATOR: node (loadgen.ts, default), vegeta (vegeta.ts), or both (one after the other)
 *   BENCH_COMPARE_CLOSED=3000: first, CPU per request one request at a time (closedLoop below);
 *     then no open-loop run unless BENCH_COMPARE_GENERATOR names one
 *   BENCH_COMPARE_IDLE_SECONDS=60: first, each serve with no requests for that long (what the
 *     once-a-second quota refresh alone costs: serve CPU, GC count and pauses from its probe)
 * A checkout is a directory with billing-service/ (node_modules may be symlinks to this one's).
 */
import { rm } from "node:fs/promises";
import http from "node:http";
import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { newToken } from "../src/auth/static";
import { startMigratedPostgres } from "../testkit/postgres";
import type { ServiceProcess, startService as StartService } from "../testkit/service";
import { runLoad, startBareServer } from "./http-load";
import { readProbe, type LoadResult, type PhaseSpec } from "./loadgen";
import { assertAnswered, checkOnce, registryEnv, seedQuotaBench, servePhases } from "./quota";
import { peakRssBytes } from "./setup";
import { runVegetaPhases } from "./vegeta";

const TSX = require.resolve("tsx/cjs");
const PROBE = path.join(__dirname, "loop-probe.ts");

const ms = (x: number) => `${x.toFixed(1)} ms`;
const line = (r: LoadResult) =>
  `${r.name}: ${Math.round(r.achievedRate)}/s, ${r.errors} errors, p50 ${ms(r.p50Ms)} p90 ${ms(r.p90Ms)} p99 ${ms(r.p99Ms)} p99.9 ${ms(r.p999Ms)} max ${ms(r.maxMs)}; generator lag p99 ${ms(r.sendLagP99Ms)}${Number.isNaN(r.loopDelayP99Ms) ? "" : ` loop p99 ${ms(r.loopDelayP99Ms)}`}` +
  (r.server
    ? `; serve loop p99 ${ms(r.server.loopDelayP99Ms)} max ${ms(r.server.loopDelayMaxMs)}, GC ${r.server.gcCount}x (${r.server.gcMajor} major) ${ms(r.server.gcTotalMs)}, max pause ${ms(r.server.gcMaxMs)}, CPU ${ms(r.server.cpuUserMs + r.server.cpuSystemMs)} (${Math.round(((r.server.cpuUserMs + r.server.cpuSystemMs) * 1000) / r.completed)} µs a request: user ${Math.round((r.server.cpuUserMs * 1000) / r.completed)}, system ${Math.round((r.server.cpuSystemMs * 1000) / r.completed)})`
    : "");

/**
 * BENCH_COMPARE_CLOSED=<n>: CPU per request without queueing. Each target gets n requests one
 * after the other on one keep-alive connection (closed loop, from this process), interleaved in
 * rounds like the open-loop runs; serve's CPU over each window (its probe) divided by the requests.
 * At a fixed rate on a loaded machine requests pile up and share reads and writes, so CPU per
 * request there depends on the load; one at a time, each pays its own system calls.
 */
const closedLoop = async (phases: PhaseSpec[], n: number, rounds: number): Promise<void> => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const one = (p: PhaseSpec, payload: Buffer | undefined): Promise<number> =>
    new Promise((resolve, reject) => {
      const u = new URL(p.path, p.url);
      const headers: Record<string, string | number> = { ...p.headers, ...(payload ? { "content-type": "application/json", "content-length": payload.length } : {}) };
      const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: p.method, agent, headers }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      });
      req.on("error", reject);
      req.end(payload);
    });
  const load0 = os.loadavg();
  const sums = phases.map(() => ({ user: 0, system: 0, requests: 0, wallMs: 0, errors: 0 }));
  for (const p of phases) {
    const payload = p.body === undefined ? undefined : Buffer.from(JSON.stringify(p.body));
    for (let k = 0; k < 300; k++) await one(p, payload); // warm-up
  }
  for (let round = 0; round < rounds; round++) {
    for (const [i, p] of phases.entries()) {
      const payload = p.body === undefined ? undefined : Buffer.from(JSON.stringify(p.body));
      if (p.serve) await readProbe(p.serve);
      const t0 = performance.now();
      for (let k = 0; k < n; k++) if ((await one(p, payload)) !== p.expectStatus) sums[i].errors += 1;
      sums[i].wallMs += performance.now() - t0;
      if (p.serve) {
        const w = await readProbe(p.serve);
        sums[i].user += w.cpuUserMs;
        sums[i].system += w.cpuSystemMs;
      }
      sums[i].requests += n;
    }
  }
  agent.destroy();
  console.log(`closed loop (one request at a time), ${rounds} rounds of ${n} per target: load average ${load0.map((x) => x.toFixed(2)).join(" ")} -> ${os.loadavg().map((x) => x.toFixed(2)).join(" ")}`);
  for (const [i, p] of phases.entries()) {
    const s = sums[i];
    const us = (ms: number) => Math.round((ms * 1000) / s.requests);
    console.log(`  ${p.name}: serve CPU ${us(s.user + s.system)} µs a request (user ${us(s.user)}, system ${us(s.system)}), mean round trip ${us(s.wallMs)} µs, ${s.errors} errors`);
  }
};

const main = async () => {
  const variants = (process.env.BENCH_COMPARE ?? `this=${path.join(__dirname, "..", "..")}`).split(",").map((v) => {
    const [name, dir] = v.split("=");
    if (!name || !dir) throw new Error(`BENCH_COMPARE: expected name=checkout[,name=checkout], got "${v}"`);
    return { name, dir: path.resolve(dir) };
  });
  const seconds = Number(process.env.BENCH_COMPARE_SECONDS ?? 10);
  const rounds = Number(process.env.BENCH_COMPARE_ROUNDS ?? 5);
  const cpuProf = process.env.BENCH_COMPARE_CPU_PROF;
  const gateway = newToken("platform-gateway", { quotaGateway: true });
  const db = await startMigratedPostgres();
  const bare = await startBareServer();
  const serves: Array<{ name: string; service: ServiceProcess; probeFile: string; dataDir: string }> = [];
  try {
    for (const v of variants) {
      const { startService } = require(path.join(v.dir, "billing-service", "testkit", "service")) as { startService: typeof StartService };
      const dataDir = await mkdtemp(path.join(os.tmpdir(), `maas-compare-${v.name}-`));
      const probeFile = path.join(dataDir, "probe.json");
      const flags = process.env[`BENCH_COMPARE_FLAGS_${v.name}`] ?? "";
      const extraEnv = Object.fromEntries((process.env[`BENCH_COMPARE_ENV_${v.name}`] ?? "").split(/\s+/).filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]));
      const prof = cpuProf ? ` --cpu-prof --cpu-prof-dir=${cpuProf} --cpu-prof-name=${v.name}-${process.pid}.cpuprofile` : "";
      const service = await startService({
        databaseUrl: db.url,
        dataDir,
        tokens: [gateway.entry],
        env: { ...(await registryEnv(dataDir)), ...extraEnv, LOG_LEVEL: "info", MAAS_BENCH_PROBE_FILE: probeFile, NODE_OPTIONS: `--require ${TSX} --require ${PROBE} ${flags}${prof}`.trim() },
      });
      serves.push({ name: v.name, service, probeFile, dataDir });
    }
    const first = serves[0].service;
    await seedQuotaBench(async (method, p, body) => (await fetch(new URL(p, first.url), { method, headers: { authorization: `Bearer ${first.token}`, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) })).status);
    const idleSeconds = Number(process.env.BENCH_COMPARE_IDLE_SECONDS ?? 0);
    if (idleSeconds > 0) {
      for (const s of serves) await readProbe({ pid: s.service.pid, probeFile: s.probeFile });
      await new Promise((resolve) => setTimeout(resolve, idleSeconds * 1000));
      console.log(`idle ${idleSeconds} s (no requests; the quota view refreshes every second), load average ${os.loadavg()[0].toFixed(2)}:`);
      for (const s of serves) {
        const w = await readProbe({ pid: s.service.pid, probeFile: s.probeFile });
        console.log(`  ${s.name}: serve CPU ${ms(w.cpuUserMs + w.cpuSystemMs)}, GC ${w.gcCount}x (${w.gcMajor} major) ${ms(w.gcTotalMs)}, max pause ${ms(w.gcMaxMs)}, loop max ${ms(w.loopDelayMaxMs)}`);
      }
    }
    const phases: PhaseSpec[] = [{ name: "bare node:http", url: bare.url, method: "GET", path: "/healthz", expectStatus: 200, probe: true, serve: bare.probe }];
    for (const s of serves) {
      phases.push(...servePhases(s.service.url, gateway.token, `${s.name} `, { pid: s.service.pid, probeFile: s.probeFile }));
    }
    for (const phase of phases) await checkOnce(phase);
    const closed = Number(process.env.BENCH_COMPARE_CLOSED ?? 0);
    if (closed > 0) await closedLoop(phases, closed, rounds);
    const generator = process.env.BENCH_COMPARE_GENERATOR ?? (closed > 0 ? "none" : "node");
    const generators = generator === "both" ? ["node", "vegeta"] : generator === "none" ? [] : [generator];
    for (const g of generators) {
      const load0 = os.loadavg();
      const spec = { rate: 1000, seconds, rounds, warmup: 500, phases };
      const results = g === "vegeta" ? await runVegetaPhases(spec) : g === "node" ? await runLoad(spec) : undefined;
      if (!results) throw new Error(`BENCH_COMPARE_GENERATOR: node, vegeta or both, not "${generator}"`);
      assertAnswered(results);
      const load1 = os.loadavg();
      console.log(`generator ${g}: load average ${load0.map((x) => x.toFixed(2)).join(" ")} -> ${load1.map((x) => x.toFixed(2)).join(" ")}; ${os.cpus().length} cores; ${rounds} rounds of ${seconds / rounds} s per target @1000/s`);
      for (const r of results) console.log(`  ${line(r)}; answers ${JSON.stringify(r.statuses)} of ${r.scheduled} scheduled`);
    }
    for (const s of serves) console.log(`  ${s.name}: serve peak RSS ${Math.round((await peakRssBytes(s.service.pid)) / 1048576)} MB`);
  } finally {
    for (const s of serves) {
      await s.service.kill("SIGTERM");
      await rm(s.dataDir, { recursive: true, force: true });
    }
    await bare.stop();
    await db.stop();
  }
};

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
