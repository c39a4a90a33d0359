/**
 * Attack B2 of docs/threat-model.md, the billing side: a tenant admin deletes (or neuters) the
 * TokenRateLimitPolicy its billed counter comes from. Model traffic keeps flowing, the Limitador
 * counter stops, the vLLM counters keep growing. Performed with a real Prometheus holding those
 * counters, the real collector, real PostgreSQL and `maas-billing serve` over HTTP: the draft
 * invoice carries the `meteringShortfall` flag with the window and the amount, `finalize` refuses
 * it (API and CLI) until an admin accepts it with a reason, and the acceptance is sealed into the
 * final invoice.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
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
  dir = await mkdtemp(path.join(os.tmpdir(), "maas-attack-shortfall-"));
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
    const settings = parseCollectorSettings({ window: "15m", tenants: [{ name: "acme", namespaces: ["acme-models"] }] });
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

describe("attack B2: the tenant switches off the counter it is billed from", () => {
  let number: string;

  it("the draft carries meteringShortfall with the window and the tokens the gateway did not count", async () => {
    const created = await api("POST", "/v1/tenants/acme/invoices", { period });
    expect(created.status).toBe(201);
    number = created.json.number;
    const flag = created.json.flags.meteringShortfall;
    expect(flag).toBeDefined();
    const w2 = new Date(fromMs + WINDOW).toISOString();
    expect(flag.windows).toEqual([
      expect.objectContaining({ model: "llama", windowStart: w2, gatewayTokens: "0", shortfallTokens: flag.windows[0].modelServerTokens }),
    ]);
    expect(BigInt(flag.shortfallTokens)).toBeGreaterThan(2000n);
    // Window 1 (metered) is not flagged; the gateway tokens of window 1 are billed as before.
    expect(created.json.lines.map((l: { quantity: string; component: string }) => [l.component, l.quantity])).toContainEqual(["requests", expect.any(String)]);
  });

  it("finalize refuses it, over the API and on the CLI", async () => {
    const refused = await api("POST", `/v1/tenants/acme/invoices/${number}/finalize`);
    expect(refused.status).toBe(409);
    expect(refused.json.message).toMatch(/carries meteringShortfall \(1 window\(s\), \d+ tokens the gateway did not count\): not finalized/);
    const cli = await promisify(execFile)(process.execPath, [path.join(__dirname, "..", "bin", "maas-billing.cjs"), "invoice", "finalize", "--tenant", "acme", number], {
      env: { ...process.env, DATABASE_URL: db.url },
    }).then(
      () => "finalized",
      (e: { stderr: string }) => e.stderr,
    );
    expect(cli).toMatch(/carries meteringShortfall/);
    expect(cli).toContain('--accept-flag meteringShortfall --reason "..."');
    // Accepting without a reason is refused too.
    expect((await api("POST", `/v1/tenants/acme/invoices/${number}/finalize`, { acceptFlags: ["meteringShortfall"], reason: " " })).status).toBe(400);
    expect((await api("GET", `/v1/tenants/acme/invoices/${number}`)).json.status).toBe("draft");
  });

  it("an admin accepts it with a reason: finalized, the acceptance sealed into the invoice", async () => {
    const accepted = await api("POST", `/v1/tenants/acme/invoices/${number}/finalize`, { acceptFlags: ["meteringShortfall"], reason: "policy restored; shortfall billed on a separate contract" });
    expect(accepted.status).toBe(200);
    expect(accepted.json.status).toBe("final");
    expect(accepted.json.flags.acceptedFlags).toEqual([
      expect.objectContaining({ flag: "meteringShortfall", reason: "policy restored; shortfall billed on a separate contract", acceptedBy: "ops" }),
    ]);
    // An adjustment of the same period does not flag the accepted window again.
    const again = await api("POST", "/v1/tenants/acme/invoices", { period });
    expect(again.json).toMatchObject({ created: false });
  });
});
