// Issue #15 "done means": two real `maas-billing serve` replicas on one PostgreSQL, a real
// Prometheus scraping both, and every chargeback and billing panel expression and every recording
// and alerting rule evaluated on it: no query error, database-derived series exported once, and the
// cost panels equal the draft invoice total to the minor unit, with a price change inside the
// period, per-request prices and a tenant's contract prices (globex). Then the exporting replica stops and the other takes over: still
// equal.
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startPrometheus, type RunningPrometheus as PrometheusProcess } from "../../billing-service/testkit/prometheus";
import { BASE_PRICES, RAISED_PRICES, kitPrice, priceBookYaml } from "../../billing-service/testkit/pricebook";
import { startServiceRig, type ServiceRig } from "../../billing-service/testkit/rig";
import { postEvents, type ServiceProcess } from "../../billing-service/testkit/service";
import {
  billingPanels,
  platformDashboards,
  platformPrometheusRules,
  prometheusDs,
  tenantDashboards,
  tenantPrometheusRules,
  tokenUsageChargebackPanels,
  type DashboardJson,
} from "../index";
import { interpolate } from "./support/grafana-vars";
import { prometheusQueries, type VectorSample } from "./support/prometheus";

const now = new Date();
const monthStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
const period = `${monthStart.getUTCFullYear()}-${String(monthStart.getUTCMonth() + 1).padStart(2, "0")}`;
// The price changes halfway through the month so far, to the second (usually off the hour: the
// service then prices that hour row by row, like the invoice).
const priceChange = new Date(Math.floor((monthStart.getTime() + (now.getTime() - monthStart.getTime()) / 2) / 1000) * 1000);
const before = new Date(monthStart.getTime() + (priceChange.getTime() - monthStart.getTime()) / 2);
const after = new Date(priceChange.getTime() + (now.getTime() - priceChange.getTime()) / 2);
const lastMonth = new Date(monthStart.getTime() - 3_600_000);

const PRICE_BOOK = priceBookYaml([
  // globex has contract prices (enterprise until the change, everything after it).
  { effectiveFrom: "2020-01-01T00:00:00Z", prices: [BASE_PRICES[0], kitPrice("*", "*", "1.00", "2.00", "0.0005"), { ...kitPrice("enterprise", "*", "0.75", "1.25", "0.0001"), tenant: "globex" }] },
  { effectiveFrom: priceChange.toISOString(), prices: [RAISED_PRICES[0], kitPrice("*", "*", "1.10", "2.30", "0.0007"), { ...kitPrice("*", "*", "0.80", "1.30", "0.0002"), tenant: "globex" }] },
]);

const TENANTS = ["acme", "globex"] as const;
/** Usage: [tenant, tier, model, time, input, output, requests, user]; odd rows go to replica B. */
const USAGE: [string, string, string, Date, number, number, number, string | undefined][] = [
  ["acme", "premium", "llama", before, 1_234_567, 345_679, 1_201, "ann"],
  ["acme", "premium", "llama", after, 2_345_671, 456_781, 2_303, "ben"],
  ["acme", "free", "mistral", before, 98_765, 43_211, 777, "ann"],
  ["acme", "free", "mistral", after, 87_654, 32_109, 555, undefined],
  ["acme", "premium", "llama", lastMonth, 9_999_999, 9_999_999, 9_999, "ann"], // another period: never in this month's panels
  ["globex", "premium", "llama", after, 777_777, 111_111, 333, "gus"],
  ["globex", "enterprise", "llama", before, 5_555_555, 1_234_567, 4_321, "gus"],
];

interface Invoice {
  totalMinor: string;
  lines: { tier: string; model: string; component: string; priceVersionId: string; amountMinor: string; lineage: { priceEntry: { tenant?: string } } }[];
}

let rig: ServiceRig;
let replicas: ServiceProcess[] = [];
let prometheus: PrometheusProcess;
let prom: ReturnType<typeof prometheusQueries>;
const invoices = new Map<string, Invoice>();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits (up to 2 minutes) until `check` holds; the test then reads Prometheus at that moment. */
const until = async (what: string, check: () => Promise<boolean>): Promise<void> => {
  const deadline = Date.now() + 120_000;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
};

const nowSeconds = () => Date.now() / 1000;
const num = (samples: VectorSample[]) => samples.map((s) => Number(s.value[1]));

/** Grafana's variable values for a panel at `at`: its own "now/M" relative time, or the dashboard's. */
const grafanaValues = (at: number, spec: { timeFrom?: string }, tenant: string) => {
  const from = spec.timeFrom === "now/M" ? monthStart.getTime() / 1000 : at - 3600;
  const range = Math.max(1, Math.floor(at - from));
  return { tenant, namespace: ".*", tier: ".*", user: ".*", model: ".*", __range: `${range}s`, __range_s: String(range), __rate_interval: "1m", __interval: "15s" };
};

/** Every dashboard shipped, both gateway tier labels, platform and tenant copies. */
const allDashboards = (): [string, DashboardJson][] => [
  ...(["tier", "subscription"] as const).flatMap((tierLabel) =>
    Object.entries(tenantDashboards({ vllmFamily: "kserve_vllm", tenant: "acme", tierLabel, includeBilling: true })).map(([f, d]) => [`${tierLabel}/${f}`, d] as [string, DashboardJson]),
  ),
  ...Object.entries(platformDashboards()),
];

/** Joins the scrape of both replicas after `since` (ms) plus the service's 5 s snapshot cache. */
const scrapedAfter = async (since: number, instances: number): Promise<void> =>
  until(`${instances} replica(s) scraped after ${new Date(since).toISOString()}`, async () => {
    const s = await prom.vector('timestamp(up{job="maas-billing"} == 1)', nowSeconds());
    return s.length === instances && s.every((x) => Number(x.value[1]) * 1000 > since + 6_000);
  });

beforeAll(async () => {
  // Replicas a and b: two `serve` processes on one database.
  rig = await startServiceRig({ name: "maas-replicas", priceBook: PRICE_BOOK, env: { LOG_LEVEL: "warn", MAAS_BILLING_TIERS: "free,enterprise", MAAS_BILLING_MODELS: "mistral" } });
  replicas = [rig.service, await rig.startService()];
  // The scrape-only metrics listener of each replica (the client port serves no /metrics).
  const targets = replicas.map((r) => new URL(r.metricsUrl).host);
  prometheus = await startPrometheus({
    dir: path.join(rig.work, "prometheus"),
    config: `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: maas-billing\n    static_configs:\n      - targets: ${JSON.stringify(targets)}\n`,
  });
  prom = prometheusQueries(prometheus.url);
  const events = USAGE.map(([tenant, tier, model, time, inputTokens, outputTokens, requests, user], i) => ({
    ...(user ? { user } : {}),
    id: `u${i}`,
    source: "//replicas-test",
    time: time.toISOString(),
    tenant,
    tier,
    model,
    inputTokens,
    outputTokens,
    requests,
  }));
  for (const [i, e] of events.entries()) {
    const r = await postEvents(replicas[i % 2]!, [e]);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
  }
  const posted = Date.now();
  for (const tenant of TENANTS) {
    const res = await fetch(`${replicas[0]!.url}/v1/tenants/${tenant}/invoices`, {
      method: "POST",
      headers: { authorization: `Bearer ${replicas[0]!.token}`, "content-type": "application/json" },
      body: JSON.stringify({ period }),
    });
    expect(res.status).toBe(201);
    invoices.set(tenant, (await res.json()) as Invoice);
  }
  await scrapedAfter(posted, 2);
}, 300_000);

afterAll(async () => {
  await prometheus?.stop();
  await rig?.stop();
});

/** The cost panels and the draft invoices agree, at Prometheus's "now". */
const expectCostPanelsEqualInvoices = async (): Promise<void> => {
  const at = nowSeconds();
  for (const tenant of TENANTS) {
    const invoice = invoices.get(tenant)!;
    const chargeback = tokenUsageChargebackPanels("subscription", prometheusDs("test"));
    const total = await prom.vector(interpolate(chargeback.costTotal.targets[0]!.expr, grafanaValues(at, chargeback.costTotal, tenant)), at);
    expect(total.map((s) => s.metric), `${tenant}: cost total series`).toEqual([{ period, currency: "USD" }]);
    expect(num(total), `${tenant}: cost total panel = draft invoice total`).toEqual([Number(invoice.totalMinor)]);

    const byTierModel = await prom.vector(interpolate(chargeback.costByTierModel.targets[0]!.expr, grafanaValues(at, chargeback.costByTierModel, tenant)), at);
    const invoiceByTierModel = new Map<string, number>();
    for (const l of invoice.lines) invoiceByTierModel.set(`${l.tier}/${l.model}`, (invoiceByTierModel.get(`${l.tier}/${l.model}`) ?? 0) + Number(l.amountMinor));
    expect(new Map(byTierModel.map((s) => [`${s.metric.tier}/${s.metric.model}`, Number(s.value[1])])), `${tenant}: cost by tier and model`).toEqual(invoiceByTierModel);

    const billing = billingPanels(prometheusDs("test"), "=");
    const mtd = await prom.vector(interpolate(billing.monthToDateCost.targets[0]!.expr, grafanaValues(at, billing.monthToDateCost, tenant)), at);
    expect(num(mtd), `${tenant}: month-to-date panel`).toEqual([Number(invoice.totalMinor)]);
    const lines = await prom.vector(interpolate(billing.periodCostLines.targets[0]!.expr, { ...grafanaValues(at, billing.periodCostLines, tenant), __range: `${Math.floor(at - monthStart.getTime() / 1000)}s` }), at);
    const invoiceLines = new Map<string, number>();
    for (const l of invoice.lines) {
      const key = `${l.tier}/${l.model}/${l.component}`;
      invoiceLines.set(key, (invoiceLines.get(key) ?? 0) + Number(l.amountMinor));
    }
    expect(new Map(lines.map((s) => [`${s.metric.tier}/${s.metric.model}/${s.metric.component}`, Number(s.value[1])])), `${tenant}: period cost lines`).toEqual(invoiceLines);

    // Cost per user: the panel equals the usage API's cost per user row by row, and adds up to the invoice.
    const byUser = await prom.vector(interpolate(chargeback.costByUser.targets[0]!.expr, grafanaValues(at, chargeback.costByUser, tenant)), at);
    const api = await usageCostByUser(tenant);
    expect(api.costMinor, `${tenant}: usage API period cost = draft invoice`).toBe(invoice.totalMinor);
    expect(new Map(byUser.map((s) => [s.metric.user ?? "", Number(s.value[1])])), `${tenant}: cost per user panel = usage API`).toEqual(
      new Map(api.rows.map((r) => [r.user, Number(r.costMinor)])),
    );
    expect(num(byUser).reduce((a, v) => a + v, 0), `${tenant}: users add up to the invoice`).toBe(Number(invoice.totalMinor));
    const top = await prom.vector(interpolate(chargeback.topUsersByCost.targets[0]!.expr, grafanaValues(at, chargeback.topUsersByCost, tenant)), at);
    expect(top.length).toBe(Math.min(5, api.rows.length));
  }
};

/** The usage API's cost per user for this month so far (the numbers a tenant downloads as CSV). */
const usageCostByUser = async (tenant: string): Promise<{ costMinor: string; rows: { user: string; costMinor: string }[] }> => {
  const from = monthStart.toISOString();
  const to = new Date(Date.UTC(monthStart.getUTCFullYear(), monthStart.getUTCMonth() + 1, 1)).toISOString();
  const replica = replicas.find((r) => r.alive())!;
  const res = await fetch(`${replica.url}/v1/tenants/${tenant}/usage?from=${from}&to=${to}&groupBy=user`, { headers: { authorization: `Bearer ${replica.token}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as { costMinor: string; rows: { user: string; costMinor: string }[] };
};

describe("two serve replicas on one database, one Prometheus scraping both", () => {
  it("globex's invoice really uses its contract prices (so the panels are tested on a contract too)", () => {
    const globex = invoices.get("globex")!;
    expect(globex.lines.some((l) => l.lineage.priceEntry.tenant === "globex")).toBe(true);
  });

  it("the invoices really use two price versions and per-request charges (so the panels are tested on them)", () => {
    const acme = invoices.get("acme")!;
    expect(new Set(acme.lines.map((l) => l.priceVersionId)).size).toBe(2);
    expect(acme.lines.filter((l) => l.component === "requests").every((l) => Number(l.amountMinor) > 0)).toBe(true);
    expect(acme.lines.some((l) => l.component === "requests")).toBe(true);
  });

  it("database-derived series come from one replica only", async () => {
    const at = nowSeconds();
    for (const metric of [
      "maas_billing_usage_tokens_total",
      "maas_billing_usage_requests_total",
      "maas_billing_cost_minor_units_total",
      "maas_billing_user_period_cost_minor",
      "maas_billing_period_cost_minor_total",
      "maas_billing_month_to_date_cost_minor",
      "maas_billing_price_per_million_tokens_minor",
      "maas_billing_price_per_request_minor",
    ]) {
      const instances = await prom.vector(`count by (instance) (${metric})`, at);
      expect(instances.length, `${metric}: exporting instances`).toBe(1);
    }
    expect(num(await prom.vector("sum(maas_billing_exporter_leader)", at))).toEqual([1]);
    expect(num(await prom.vector("count(maas_billing_exporter_leader)", at))).toEqual([2]);
    // Tokens are the ledger's, once: this month plus last month's row for acme.
    const tokens = await prom.vector('sum by (tenant) (maas_billing_usage_tokens_total{direction="input"})', at);
    const want = new Map<string, number>();
    for (const [tenant, , , , input] of USAGE) want.set(tenant, (want.get(tenant) ?? 0) + input);
    expect(new Map(tokens.map((s) => [s.metric.tenant, Number(s.value[1])]))).toEqual(want);
  });

  it("every chargeback and billing panel query and every rule evaluates without error", async () => {
    const at = nowSeconds();
    const failures: string[] = [];
    for (const [name, d] of allDashboards()) {
      for (const p of d.panels) {
        for (const t of p.targets) {
          const r = await prom.query(interpolate(t.expr, grafanaValues(at, p, "acme")), at);
          if (r.status === "error") failures.push(`${name} / ${p.title}: ${r.errorType}: ${r.error}`);
        }
      }
    }
    for (const rules of [platformPrometheusRules({ vllmFamily: "kserve_vllm" }), tenantPrometheusRules({ vllmFamily: "kserve_vllm" })]) {
      for (const g of rules.groups) {
        for (const rule of g.rules) {
          const r = await prom.query(rule.expr, at);
          if (r.status === "error") failures.push(`${g.name} / ${"record" in rule ? rule.record : rule.alert}: ${r.errorType}: ${r.error}`);
        }
      }
    }
    expect(failures).toEqual([]);
  });

  it("the usage recording rule counts the ledger once", async () => {
    const at = nowSeconds();
    const rule = platformPrometheusRules({ vllmFamily: "kserve_vllm" }).groups.flatMap((g) => g.rules).find((r) => "record" in r && r.record.includes("maas_billing_usage_tokens"));
    // The same aggregation without rate(): one series per (tenant, model, tier, direction), valued once.
    const counted = await prom.vector(rule!.expr.replace(/rate\((\w+)\[5m\]\)/, "$1"), at);
    const sum = counted.reduce((a, s) => a + Number(s.value[1]), 0);
    expect(sum).toBe(USAGE.reduce((a, [, , , , i, o]) => a + i + o, 0));
  });

  it("the cost panels equal the draft invoice totals to the minor unit", async () => {
    await expectCostPanelsEqualInvoices();
  });

  it("the check can fail: today's prices over the whole month (the old panel) miss the invoice", async () => {
    const at = nowSeconds();
    const old = await prom.vector(
      'sum(maas_billing_usage_tokens_total{tenant="acme"} * on (tenant, tier, model, direction) group_left maas_billing_price_per_million_tokens_minor{tenant="acme"}) / 1e6',
      at,
    );
    expect(num(old)[0]).not.toBe(Number(invoices.get("acme")!.totalMinor));
  });

  it("when the exporting replica stops, the other takes over and the panels still equal the invoices", async () => {
    const at = nowSeconds();
    const leader = await prom.vector("maas_billing_exporter_leader == 1", at);
    const leaderIndex = replicas.findIndex((r) => new URL(r.metricsUrl).host === leader[0]!.metric.instance);
    expect(leaderIndex).toBeGreaterThanOrEqual(0);
    await replicas[leaderIndex]!.kill("SIGTERM");
    const survivor = new URL(replicas[1 - leaderIndex]!.metricsUrl).host;
    const stopped = Date.now();
    await until("the other replica to export", async () => {
      const s = await prom.vector(`timestamp(maas_billing_month_to_date_cost_minor{instance="${survivor}"})`, nowSeconds());
      return s.length === TENANTS.length && s.every((x) => Number(x.value[1]) * 1000 > stopped);
    });
    await expectCostPanelsEqualInvoices();
  });
});
