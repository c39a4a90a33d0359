/**
 * Attack B2 of docs/threat-model.md, the billing side, with the platform option to bill
 * max(gateway, model server) (`platform.billing.shortfallBilling`, collector setting
 * `shortfallBilling`): the tenant admin deletes the TokenRateLimitPolicy its billed counter comes
 * from, the Limitador counter stops, the vLLM counters keep growing. Same real parts as
 * attack-metering-shortfall.test.ts (real Prometheus, the real collector, PostgreSQL, `serve` over
 * HTTP): the invoice bills the model server's count in that window, at the configured tier, and
 * lists the window in flag `meteringShortfallBilled`; nothing is left to accept, so it finalizes.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backfill, startPrometheus, type RunningPrometheus } from "../testkit/prometheus";
import { collectOnce } from "../src/collector/collect";
import { PrometheusClient } from "../src/collector/prometheus-client";
import { parseCollectorSettings } from "../src/contract";
import type { Sample } from "../src/collector/counter-usage";
import { startBillingDb, type BillingTestDb } from "./support/billing-db";
import { startService, type ServiceProcess } from "../testkit/service";
import { toOpenMetrics } from "./support/scenario";

const WINDOW = 15 * 60_000;
const SCRAPE = 15_000;

let dir: string;
let prom: RunningPrometheus;
let db: BillingTestDb;
let service: ServiceProcess;
let fromMs: number;
let period: string;

/** A counter scraped every 15 s over [start, end), growing by `perScrape` from `base`. */
const counter = (start: number, end: number, base: number, perScrape: number): Sample[] => {
  const out: Sample[] = [];
  for (let t = start, v = base; t < end; t += SCRAPE, v += perScrape) out.push({ t, v });
  return out;
};

const api = async (method: string, url: string, body?: unknown): Promise<{ status: number; json: any }> => {
  const res = await fetch(`${service.url}${url}`, {
    method,
    headers: { authorization: `Bearer ${service.token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, json: await res.json() };
};

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "maas-attack-shortfall-max-"));
  fromMs = Math.floor(Date.now() / WINDOW) * WINDOW - 8 * WINDOW;
  // Both windows in one calendar month (the invoice period).
  while (new Date(fromMs).getUTCMonth() !== new Date(fromMs + 2 * WINDOW).getUTCMonth()) fromMs -= WINDOW;
  period = new Date(fromMs).toISOString().slice(0, 7);
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
  [prom, db] = await Promise.all([startPrometheus({ dir }), startBillingDb()]);
  const client = new PrometheusClient({ url: prom.url });
  try {
    // The real collector, as `serve` runs it, against the real Prometheus.
    const settings = parseCollectorSettings({ window: "15m", tenants: [{ name: "acme", namespaces: ["acme-models"] }], shortfallBilling: { tier: "premium" } });
    await collectOnce({ pool: db.pool, prometheus: client, settings }, { fromMs, toMs: w2 + WINDOW });
  } finally {
    client.close();
  }
  service = await startService({ databaseUrl: db.url, dataDir: dir });
}, 240_000);

afterAll(async () => {
  await service?.kill("SIGTERM");
  await prom?.stop();
  await db?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
}, 60_000);

describe("attack B2 with shortfallBilling: the invoice bills max(gateway, model server)", () => {
  it("bills the model server's count per direction in the window the gateway missed, records the window, and finalizes without an acceptance", async () => {
    const created = await api("POST", "/v1/tenants/acme/invoices", { period });
    expect(created.status).toBe(201);
    const flags = created.json.flags;
    expect(flags.meteringShortfall).toBeUndefined();
    const w2 = new Date(fromMs + WINDOW).toISOString();
    expect(flags.meteringShortfallBilled.windows).toEqual([
      expect.objectContaining({ model: "llama", tier: "premium", windowStart: w2, gatewayTokens: "0", billedTokens: flags.meteringShortfallBilled.windows[0].modelServerTokens }),
    ]);
    expect(BigInt(flags.meteringShortfallBilled.billedTokens)).toBeGreaterThan(2000n);

    // Billed tokens = the model server's, per direction, over both windows (window 1 metered, window 2 not).
    const model = (await db.pool.query("select sum(model_input_tokens)::text as i, sum(model_output_tokens)::text as o from collector_reconciliation where tenant = 'acme' and model = 'llama'")).rows[0];
    const quantity = (component: string) =>
      created.json.lines.filter((l: { component: string; tier: string; model: string }) => l.component === component && l.tier === "premium" && l.model === "llama").reduce((a: bigint, l: { quantity: string }) => a + BigInt(l.quantity), 0n);
    expect(quantity("input_tokens").toString()).toBe(model.i);
    expect(quantity("output_tokens").toString()).toBe(model.o);

    const finalized = await api("POST", `/v1/tenants/acme/invoices/${created.json.number}/finalize`);
    expect(finalized.status).toBe(200);
    expect(finalized.json.status).toBe("final");
    expect(finalized.json.flags.meteringShortfallBilled.billedTokens).toBe(flags.meteringShortfallBilled.billedTokens);
  });
});
