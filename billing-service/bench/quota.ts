/*
 * Quota benchmarks on a real `serve` process at a fixed arrival rate. The load comes from a
 * generator in a process of its own (loadgen.ts): open loop, requests leave on schedule whether or
 * not earlier ones finished, and latency counts from the SCHEDULED time, so a stall shows instead of
 * being hidden by a slower send rate (coordinated omission).
 *   - POST /v1/quota/authorize, the gateway's request-path check answered from memory
 *     (quota/view.ts), with the gateway's own credential (quotaGateway token) and body (the API
 *     key's namespace, mapped to its tenant by serve's tenant registry: registryEnv), as in
 *     production. Every answer must be 200 allowed=true: a refusal fails the bench (assertAnswered).
 *     Same-run baselines at the same rate: GET /healthz on the same serve (fastify with no work),
 *     and a bare node:http server in its own process (the floor of any HTTP answer here).
 *   - POST /v1/quota/check, the spending check (reservation, one transaction per tenant batch);
 *     same-run baseline: the same checker straight on PostgreSQL (no HTTP) at the same rate.
 * serve runs with its production log level (info) and a month of ledger usage of 1,003 users in the
 * database, so the figures include the per-second refresh of the in-memory view from the ledger. A probe
 * preloaded into serve (loop-probe.ts) reports its event-loop delay and GC pauses per run.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { kitPool } from "../testkit/postgres";
import { newToken } from "../src/auth/static";
import { freePorts } from "../src/net/free-port";
import { createQuotaChecker } from "../src/quota/batcher";
import { loadPriceBook } from "../src/pricebook/pricebook";
import { EXAMPLE_PRICE_BOOK } from "../src/config";
import { runLoad, startBareServer } from "./http-load";
import type { LoadResult, LoadSpec, PhaseSpec } from "./loadgen";
import { startBenchStack } from "./setup";
import { runVegetaPhases } from "./vegeta";

export interface LatencyFigures {
  requests: number;
  achievedRate: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  errors: number;
}

export interface QuotaFigures {
  targetRate: number;
  /** 1-minute load average when the gateway check runs started. */
  loadAverage: number;
  /** Gateway checks from memory over HTTP (generator: loadgen.ts, Node). */
  authorize: LoadResult;
  /** GET /healthz on the same serve at the same rate. */
  healthz: LoadResult;
  /** A bare node:http server at the same rate: the HTTP floor on this machine. */
  bare: LoadResult;
  /** The same three targets, interleaved the same way, with vegeta (Go) as the generator. */
  vegeta: { loadAverage: number; bare: LoadResult; healthz: LoadResult; authorize: LoadResult };
  /** Spending checks over HTTP. */
  http: LoadResult;
  /** The same spending checker straight on PostgreSQL at the same rate. */
  database: LatencyFigures;
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

/** In-process open loop for the database-only baseline (no HTTP, so no generator process). */
const openLoop = async (rate: number, total: number, fn: () => Promise<boolean>): Promise<LatencyFigures> => {
  const latencies: number[] = [];
  let errors = 0;
  let sent = 0;
  const inFlight: Promise<void>[] = [];
  const t0 = performance.now();
  await new Promise<void>((done) => {
    const tick = () => {
      const now = performance.now();
      while (sent < total && t0 + (sent * 1000) / rate <= now) {
        const scheduled = t0 + (sent * 1000) / rate;
        sent += 1;
        inFlight.push(
          fn().then(
            (ok) => {
              latencies.push(performance.now() - scheduled);
              if (!ok) errors += 1;
            },
            () => void (errors += 1),
          ),
        );
      }
      if (sent < total) setTimeout(tick, 1);
      else done();
    };
    tick();
  });
  await Promise.all(inFlight);
  const elapsed = (performance.now() - t0) / 1000;
  const sorted = [...latencies].sort((a, b) => a - b);
  return { requests: total, achievedRate: latencies.length / elapsed, p50Ms: quantile(sorted, 0.5), p99Ms: quantile(sorted, 0.99), maxMs: sorted.at(-1) ?? NaN, errors };
};

/**
 * The quotas and the ledger every quota run starts from: acme's tenant and user quotas, a month of
 * usage of 3 users, and 1,000 more API-key users with usage today (the per-second refresh of the
 * in-memory view reads one row per (user, model), so its cost is part of what the checks pay for).
 * `call` sends an admin request to serve and answers its status.
 */
export const seedQuotaBench = async (call: (method: string, p: string, body?: unknown) => Promise<number>): Promise<void> => {
  for (const q of [
    { kind: "tokens", period: "month", limit: 1e15 },
    { kind: "cost", period: "month", limit: 1e15 },
    { kind: "tokens", period: "day", limit: 1e15, user: "alice" },
    { kind: "requests", period: "day", limit: 1e15, user: "alice" },
  ]) {
    const status = await call("PUT", "/v1/tenants/acme/quotas", q);
    if (status !== 200) throw new Error(`quota bench: setting a quota answered ${status}`);
  }
  // A month of usage in the ledger: one event per user, model and hour so far this month.
  const now = new Date();
  const monthStart = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1);
  const events: unknown[] = [];
  for (let t = monthStart; t < now.getTime(); t += 3_600_000) {
    for (const user of ["alice", "bob", "carol"]) {
      for (const model of ["llama", "granite"]) {
        events.push({ id: `${user}-${model}-${t}`, source: "//bench", time: new Date(t).toISOString(), tenant: "acme", user, model, tier: "premium", inputTokens: 100, outputTokens: 50, requests: 1 });
      }
    }
  }
  for (let u = 0; u < 1000; u++) {
    for (const model of ["llama", "granite"]) {
      events.push({ id: `user${u}-${model}`, source: "//bench", time: new Date(now.getTime() - 60_000).toISOString(), tenant: "acme", user: `user${u}`, model, tier: "premium", inputTokens: 10, outputTokens: 5, requests: 1 });
    }
  }
  for (let i = 0; i < events.length; i += 5000) {
    const status = await call("POST", "/v1/events", { events: events.slice(i, i + 5000) });
    if (status >= 300) throw new Error(`quota bench: posting events answered ${status}`);
  }
};

/** The namespace of the API keys' Secrets in the bench: acme's in serve's tenant registry. */
export const BENCH_KEY_NAMESPACE = "acme-models";

/**
 * serve's environment for the gateway check as the platform runs it: a tenant registry that maps
 * the keys' namespace to acme (the gateway sends the namespace, routes/quotas.ts authorizeTenantOf
 * maps it). serve reads the registry from its collector settings, and those only with a Prometheus
 * URL, so it gets one where nothing listens (a port just freed): the collector's pass fails once a
 * minute (one logged warning); nothing else in serve changes.
 */
export const registryEnv = async (dir: string): Promise<Record<string, string>> => {
  const settings = path.join(dir, "collector.yaml");
  await writeFile(settings, `tenants:\n  - { name: acme, namespaces: [${BENCH_KEY_NAMESPACE}] }\n`);
  const [closed] = await freePorts(1);
  return { MAAS_BILLING_PROMETHEUS_URL: `http://127.0.0.1:${closed}`, MAAS_BILLING_COLLECTOR_CONFIG: settings };
};

/** What every answer of the gateway-check rows must contain: a check refused (403, unknown namespace, a quota hit) measures another path. */
export const ALLOWED = '"allowed":true';

/** The gateway check and its same-process baseline (GET /healthz) on one serve, probed; names prefixed. */
export const servePhases = (url: string, gatewayToken: string, prefix = "", serve?: { pid: number; probeFile: string }): PhaseSpec[] => [
  { name: `${prefix}GET /healthz`, url, method: "GET", path: "/healthz", expectStatus: 200, probe: true, ...(serve ? { serve } : {}) },
  {
    name: `${prefix}POST /v1/quota/authorize`,
    url,
    method: "POST",
    path: "/v1/quota/authorize",
    headers: { authorization: `Bearer ${gatewayToken}` },
    // The gateway's body (gateway AuthPolicy): the namespace of the API key's Secret, not the tenant.
    body: { namespace: BENCH_KEY_NAMESPACE, user: "alice", tier: "premium" },
    expectStatus: 200,
    expectBody: ALLOWED,
    probe: true,
    ...(serve ? { serve } : {}),
  },
];

/**
 * Refuses figures of answers other than the expected ones: a 4xx, or a 200 without "allowed":true
 * (loadgen.ts and vegeta.ts count those under their own key), means the row measured a refusal, not
 * the check. Timeouts and connection errors stay figures (a loaded machine's, reported as errors).
 */
export const assertAnswered = (results: readonly LoadResult[]): void => {
  for (const r of results) {
    const wrong = Object.entries(r.statuses).filter(([status]) => status !== "200" && status !== "error" && status !== "unsent");
    if (wrong.length > 0) throw new Error(`quota bench: ${r.name} answered ${wrong.map(([s, n]) => `${n} x ${s}`).join(", ")} of ${r.scheduled}: the row would measure refusals, not the check`);
  }
};

/** One gateway check before the load, its answer shown when it is not 200 allowed (a wrong registry or token fails here, loudly). */
export const checkOnce = async (phase: PhaseSpec): Promise<void> => {
  const res = await fetch(new URL(phase.path, phase.url), { method: phase.method, headers: { ...phase.headers, "content-type": "application/json" }, body: JSON.stringify(phase.body) });
  const text = await res.text();
  if (res.status !== phase.expectStatus || (phase.expectBody !== undefined && !text.includes(phase.expectBody))) {
    throw new Error(`quota bench: ${phase.name} with ${JSON.stringify(phase.body)} answered ${res.status} ${text.slice(0, 400)}; expected ${phase.expectStatus} with ${phase.expectBody ?? "any body"}`);
  }
};

const TSX = require.resolve("tsx/cjs");
const PROBE = path.join(__dirname, "loop-probe.ts");

export async function benchQuota(rate = 1000, durationSeconds = 10): Promise<QuotaFigures> {
  const gateway = newToken("platform-gateway", { quotaGateway: true });
  const probeFile = path.join(os.tmpdir(), `maas-bench-probe-${process.pid}.json`);
  // BENCH_QUOTA_CPU_PROF=<dir>: serve writes a V8 CPU profile there when it stops (diagnosis).
  const cpuProf = process.env.BENCH_QUOTA_CPU_PROF ? ` --cpu-prof --cpu-prof-dir=${process.env.BENCH_QUOTA_CPU_PROF}` : "";
  const settingsDir = await mkdtemp(path.join(os.tmpdir(), "maas-bench-quota-"));
  const stack = await startBenchStack({
    tokens: [gateway.entry],
    env: {
      ...(await registryEnv(settingsDir)),
      // Production's default log level: per-request logging costs what it costs in a cluster.
      LOG_LEVEL: "info",
      // The spending row sends 1,000/s with ONE admin credential; the per-principal API limit
      // (default 1,200/min) would answer most of them 429. The gateway credential of the
      // authorize row is exempt from that limit in production too (auth/hooks.ts).
      MAAS_BILLING_REQUESTS_PER_MINUTE: String(rate * 60 * 10),
      MAAS_BENCH_PROBE_FILE: probeFile,
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --require ${TSX} --require ${PROBE}${cpuProf}`.trim(),
    },
  });
  const bare = await startBareServer();
  try {
    const { service, db } = stack;
    const admin = { authorization: `Bearer ${service.token}` };
    const call = async (method: string, p: string, body?: unknown): Promise<number> =>
      (await fetch(new URL(p, service.url), { method, headers: { ...admin, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) })).status;
    await seedQuotaBench(call);

    const check = { tenant: "acme", user: "alice", tier: "premium", model: "llama", inputTokens: 120, outputTokens: 80 };
    const loadAverage = os.loadavg()[0];
    // Interleaved rounds: the gateway check and its two baselines see the same share of whatever
    // else runs on the machine. The spending check writes (reservations) and is measured apart.
    const gatewayLoad: LoadSpec = {
      rate,
      seconds: durationSeconds,
      rounds: 5,
      warmup: 500,
      serve: { pid: service.pid, probeFile },
      phases: [{ name: "bare node:http", url: bare.url, method: "GET", path: "/healthz", expectStatus: 200, probe: true, serve: bare.probe }, ...servePhases(service.url, gateway.token)],
    };
    for (const phase of gatewayLoad.phases) await checkOnce(phase);
    const [bareRun, healthz, authorize] = await runLoad(gatewayLoad);
    assertAnswered([bareRun, healthz, authorize]);
    // The same again with a Go generator (less jitter of its own than a Node process on 2 cores).
    const vegetaLoadAverage = os.loadavg()[0];
    const [vegetaBare, vegetaHealthz, vegetaAuthorize] = await runVegetaPhases(gatewayLoad);
    assertAnswered([vegetaBare, vegetaHealthz, vegetaAuthorize]);
    const [httpRun] = await runLoad({
      rate,
      seconds: durationSeconds,
      rounds: 1,
      warmup: 300,
      serve: { pid: service.pid, probeFile },
      phases: [{ name: "POST /v1/quota/check", url: service.url, method: "POST", path: "/v1/quota/check", headers: admin, body: check, expectStatus: 200, probe: true }],
    });
    // Same pool size as `serve` (src/db/open.ts: 10), so both sides put as many checks in flight.
    const { pool: direct } = kitPool(db.url, 10);
    let database: LatencyFigures;
    try {
      const book = loadPriceBook(EXAMPLE_PRICE_BOOK);
      const checker = createQuotaChecker(direct, { priceBook: () => book });
      database = await openLoop(rate, rate * durationSeconds, async () => (await checker.check({ tenant: "acme", user: "alice", tier: "premium", tokens: 200n, requests: 1n, costMinor: 1n })).allowed);
    } finally {
      await direct.end();
    }
    return {
      targetRate: rate,
      loadAverage,
      authorize,
      healthz,
      bare: bareRun,
      vegeta: { loadAverage: vegetaLoadAverage, bare: vegetaBare, healthz: vegetaHealthz, authorize: vegetaAuthorize },
      http: httpRun,
      database,
    };
  } finally {
    await bare.stop();
    await stack.stop();
    await rm(probeFile, { force: true });
    await rm(settingsDir, { recursive: true, force: true });
  }
}
