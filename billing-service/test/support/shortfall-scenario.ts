/**
 * The metering-shortfall scenario of attack B2 (docs/threat-model.md): a real Prometheus holding the
 * counters of tenant acme whose TokenRateLimitPolicy vanished after window 1 (Limitador series stop,
 * vLLM counters keep growing), collected by the real collector into a real PostgreSQL, and
 * `maas-billing serve` on that database. Shared by the shortfall-flag and the max-of-counters tests.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { afterAll, beforeAll } from "vitest";
import os from "node:os";
import path from "node:path";
import { collectOnce } from "../../src/collector/collect";
import type { Sample } from "../../src/collector/counter-usage";
import { PrometheusClient } from "../../src/collector/prometheus-client";
import { parseCollectorSettings } from "../../src/contract";
import { backfill, startPrometheus, type RunningPrometheus } from "../../testkit/prometheus";
import { startService, type ServiceProcess } from "../../testkit/service";
import { startBillingDb, type BillingTestDb } from "./billing-db";
import { toOpenMetrics } from "./scenario";

export const WINDOW = 15 * 60_000;
const SCRAPE = 15_000;

export interface ShortfallScenario {
  readonly dir: string;
  readonly prom: RunningPrometheus;
  readonly db: BillingTestDb;
  readonly service: ServiceProcess;
  /** Start of window 1 (metered); window 2 starts at fromMs + WINDOW (not metered). */
  readonly fromMs: number;
  /** The invoice period (YYYY-MM) both windows are in. */
  readonly period: string;
  /** A call to the service as its admin. */
  api(method: string, url: string, body?: unknown): Promise<{ status: number; json: any }>;
  stop(): Promise<void>;
}

/** A counter scraped every 15 s over [start, end), growing by `perScrape` from `base`. */
const counter = (start: number, end: number, base: number, perScrape: number): Sample[] => {
  const out: Sample[] = [];
  for (let t = start, v = base; t < end; t += SCRAPE, v += perScrape) out.push({ t, v });
  return out;
};

/** Starts the scenario; `collector` adds collector settings (e.g. shortfallBilling). */
export const startShortfallScenario = async (collector: Record<string, unknown> = {}): Promise<ShortfallScenario> => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "maas-attack-shortfall-"));
  let fromMs = Math.floor(Date.now() / WINDOW) * WINDOW - 8 * WINDOW;
  // Both windows in one calendar month (the invoice period).
  while (new Date(fromMs).getUTCMonth() !== new Date(fromMs + 2 * WINDOW).getUTCMonth()) fromMs -= WINDOW;
  const period = new Date(fromMs).toISOString().slice(0, 7);
  const w1 = fromMs + WINDOW;
  const w2 = fromMs + 2 * WINDOW;
  const scrapes = WINDOW / SCRAPE; // 60 per window
  // Window 1: the tenant's TokenRateLimitPolicy meters 1,200 tokens, the model server served 1,200.
  // Window 2: the policy is gone: no Limitador series at all, the model server serves 2,400 more.
  const gatewayLabels = { limitador_namespace: "acme-models/llama", model: "llama", tier: "premium", user: "alice" };
  const vllmLabels = { namespace: "acme-models", model_name: "llama" };
  const series = [
    { metric: "authorized_hits", labels: gatewayLabels, samples: counter(fromMs, w1 + SCRAPE, 0, 20) },
    { metric: "authorized_calls", labels: { limitador_namespace: "acme-models/llama", tier: "premium", user: "alice" }, samples: counter(fromMs, w1 + SCRAPE, 0, 1) },
    { metric: "vllm:prompt_tokens_total", labels: vllmLabels, samples: counter(fromMs, w2 + SCRAPE, 0, 15) },
    { metric: "vllm:generation_tokens_total", labels: vllmLabels, samples: [...counter(fromMs, w1 + SCRAPE, 0, 5), ...counter(w1 + SCRAPE, w2 + SCRAPE, 5 * (scrapes + 1), 25)] },
  ];
  await backfill(toOpenMetrics(series), path.join(dir, "data"), dir);
  const [prom, db] = await Promise.all([startPrometheus({ dir }), startBillingDb()]);
  const client = new PrometheusClient({ url: prom.url });
  try {
    // The real collector, as `serve` runs it, against the real Prometheus.
    const settings = parseCollectorSettings({ window: "15m", tenants: [{ name: "acme", namespaces: ["acme-models"] }], ...collector });
    await collectOnce({ pool: db.pool, prometheus: client, settings }, { fromMs, toMs: w2 + WINDOW });
  } finally {
    client.close();
  }
  const service = await startService({ databaseUrl: db.url, dataDir: dir });
  return {
    dir,
    prom,
    db,
    service,
    fromMs,
    period,
    async api(method, url, body) {
      const res = await fetch(`${service.url}${url}`, {
        method,
        headers: { authorization: `Bearer ${service.token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      return { status: res.status, json: await res.json() };
    },
    async stop() {
      await service.kill("SIGTERM");
      await prom.stop();
      await db.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
};

/** Starts the scenario before the file's tests and stops it after them; the getter returns it. */
export const useShortfallScenario = (collector: Record<string, unknown> = {}): (() => ShortfallScenario) => {
  let scenario: ShortfallScenario | undefined;
  beforeAll(async () => {
    scenario = await startShortfallScenario(collector);
  }, 240_000);
  afterAll(async () => {
    await scenario?.stop();
  }, 60_000);
  return () => {
    if (!scenario) throw new Error("the shortfall scenario did not start");
    return scenario;
  };
};
