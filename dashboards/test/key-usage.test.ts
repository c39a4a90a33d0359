// Per-API-key attribution end to end: OTLP access logs (the OpenTelemetry JS serializers) posted to
// a real `maas-billing serve` on a real PostgreSQL, a real Prometheus scraping its metrics port.
// The tenant dashboard's "Tokens per API key" panel, the usage API and CLI-format CSV grouped by key,
// and the invoice split by key (lines and FOCUS Tags) all equal the generator's truth per key, and
// carry key names and ids only, never a credential.
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newToken } from "../../billing-service/src/auth/static";
import { generateScenario, postLogs, serializeLogs, type Scenario } from "../../billing-service/testkit/access-logs";
import { startPrometheus, type RunningPrometheus as PrometheusProcess } from "../../billing-service/testkit/prometheus";
import { kitPrice, priceBookYaml } from "../../billing-service/testkit/pricebook";
import { startServiceRig, type ServiceRig } from "../../billing-service/testkit/rig";
import type { ServiceProcess } from "../../billing-service/testkit/service";
import { billingPanels, prometheusDs, tenantDashboards } from "../index";
import { interpolate } from "./support/grafana-vars";
import { prometheusQueries } from "./support/prometheus";

const PRICE_BOOK = priceBookYaml([{ effectiveFrom: "2020-01-01T00:00:00Z", prices: [kitPrice("*", "*", "1.00", "2.00", "0.001")] }]);

const now = new Date();
const monthStart = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1);
const period = new Date(monthStart).toISOString().slice(0, 7);
const sender = newToken("sender-otel", { sources: ["//gateway/access-log"] });

let rig: ServiceRig;
let service: ServiceProcess;
let prometheus: PrometheusProcess;
let prom: ReturnType<typeof prometheusQueries>;
let scenario: Scenario;

/** Truth per (key id, key name, direction) for one tenant, billable usage only (hits). */
const truthPerKey = (tenant: string) => {
  const out = new Map<string, number>();
  for (const t of scenario.truth.values()) {
    if (t.tenant !== tenant || t.model === "") continue;
    for (const [direction, n] of [["input", t.inputTokens], ["output", t.outputTokens]] as const) {
      const k = JSON.stringify([t.keyId, t.keyName, t.model, direction]);
      out.set(k, (out.get(k) ?? 0) + n);
    }
  }
  return out;
};

beforeAll(async () => {
  rig = await startServiceRig({ name: "maas-key-usage", tokens: [sender.entry], priceBook: PRICE_BOOK, env: { LOG_LEVEL: "warn" } });
  service = rig.service;
  prometheus = await startPrometheus({
    dir: path.join(rig.work, "prometheus"),
    config: `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: maas-billing\n    static_configs:\n      - targets: ["${new URL(service.metricsUrl).host}"]\n`,
  });
  prom = prometheusQueries(prometheus.url);
  // This month, before now (the first minute of the month when the month just began).
  scenario = generateScenario({ seed: 42, requests: 300, startMs: Math.max(monthStart + 1000, now.getTime() - 1_800_000) });
  for (let i = 0; i < scenario.records.length; i += 100) {
    const res = await postLogs(service.url, sender.token, serializeLogs(scenario.records.slice(i, i + 100), "protobuf"), "protobuf");
    expect(res.status).toBe(200);
  }
}, 240_000);

afterAll(async () => {
  await prometheus?.stop();
  await rig?.stop();
}, 60_000);

describe("per-API-key attribution", () => {
  it("the tenant dashboard's per-key panel, on a real Prometheus, shows each key's tokens exactly", async () => {
    const panel = billingPanels(prometheusDs("x"), "=").keyUsage;
    // The panel is in the tenant's billing dashboard.
    const tenantBilling = JSON.stringify(tenantDashboards({ vllmFamily: "vllm", tenant: "acme", includeBilling: true })["billing.json"]);
    expect(tenantBilling).toContain("maas_billing_key_period_tokens");
    const expected = truthPerKey("acme");
    const deadline = Date.now() + 120_000;
    let got = new Map<string, number>();
    while (Date.now() < deadline) {
      const at = Date.now() / 1000;
      const range = Math.max(1, Math.floor(at - monthStart / 1000));
      const expr = interpolate(panel.targets[0].expr, { tenant: "acme", __range: `${range}s`, __range_s: String(range) });
      const samples = await prom.vector(expr, at);
      got = new Map(samples.map((s) => [JSON.stringify([s.metric.key_id, s.metric.key_name, s.metric.model, s.metric.direction]), Number(s.value[1])]));
      if (got.size === expected.size) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(Object.fromEntries(got)).toEqual(Object.fromEntries(expected));
    expect([...got.keys()].every((k) => !k.includes(sender.token))).toBe(true);
  }, 180_000);

  it("the usage API groups by key (JSON and CSV), and the invoice splits lines by key with key names in FOCUS Tags", async () => {
    const from = new Date(monthStart).toISOString();
    const to = new Date(Date.now() + 60_000).toISOString();
    const auth = { authorization: `Bearer ${service.token}` };
    const res = await fetch(`${service.url}/v1/tenants/acme/usage?from=${from}&to=${to}&groupBy=key,model`, { headers: auth });
    expect(res.status).toBe(200);
    const report = (await res.json()) as { groupBy: string[]; rows: Array<Record<string, string>> };
    expect(report.groupBy).toEqual(["key_id", "key_name", "model"]);
    const perKey = new Map<string, number>();
    for (const [k, n] of truthPerKey("acme")) {
      const [keyId, keyName, model] = JSON.parse(k) as string[];
      const key = JSON.stringify([keyId, keyName, model]);
      perKey.set(key, (perKey.get(key) ?? 0) + n);
    }
    const apiPerKey = new Map(report.rows.filter((r) => r.model !== "").map((r) => [JSON.stringify([r.key_id, r.key_name, r.model]), Number(r.totalTokens)]));
    expect(Object.fromEntries(apiPerKey)).toEqual(Object.fromEntries(perKey));
    const csv = await (await fetch(`${service.url}/v1/tenants/acme/usage?from=${from}&to=${to}&groupBy=key&format=csv`, { headers: auth })).text();
    expect(csv.split("\n")[0]).toMatch(/^tenant,key_id,key_name,inputTokens,outputTokens/);

    const create = await fetch(`${service.url}/v1/tenants/acme/invoices`, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify({ period, splitBy: "key" }) });
    expect(create.status).toBe(201);
    const invoice = (await create.json()) as { id: string; totalMinor: string; lines: Array<{ model: string; component: string; quantity: string; dimensions: Record<string, string> }> };
    const tokenLines = invoice.lines.filter((l) => l.component === "input_tokens" || l.component === "output_tokens");
    const invoicePerKey = new Map<string, number>();
    for (const l of tokenLines) {
      const key = JSON.stringify([l.dimensions.key_id, l.dimensions.key_name, l.model]);
      invoicePerKey.set(key, (invoicePerKey.get(key) ?? 0) + Number(l.quantity));
    }
    expect(Object.fromEntries(invoicePerKey)).toEqual(Object.fromEntries(perKey));
    const focus = await (await fetch(`${service.url}/v1/tenants/acme/invoices/${invoice.id}?format=focus`, { headers: auth })).text();
    const someKey = tokenLines[0].dimensions.key_name;
    expect(focus).toContain(someKey);
    expect(focus).not.toContain(sender.token);

    // Unsplit (the default), the same usage is one line per tier/model/charge, keys only in lineage.
    const plain = await fetch(`${service.url}/v1/tenants/acme/invoices`, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify({ period }) });
    const plainInvoice = (await plain.json()) as { lines: Array<{ dimensions: Record<string, string> }> };
    expect(plainInvoice.lines.every((l) => l.dimensions.key_id === undefined)).toBe(true);
    expect(plainInvoice.lines.length).toBeLessThan(invoice.lines.length);
  }, 120_000);
});
