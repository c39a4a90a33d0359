// Every dashboard query against a real Prometheus holding the known scenario: each panel's numbers
// must equal the scenario's truth.
// Tolerances: counts and rates 1e-9 relative (the scenario is built so increase()/rate() are exact
// at the evaluation time: samples sit on both window edges, traffic is constant per step);
// percentiles: inside the histogram bucket that holds the true 95th percentile (the resolution a
// histogram has).
import { writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type DashboardJson,
  type VllmFamily,
  billingDashboard,
  billingPanels,
  platformDashboards,
  platformPrometheusRules,
  prometheusDs,
  tenantDashboards,
  tenantModelUsagePanels,
  tenantPrometheusRules,
  tokenUsageChargebackPanels,
} from "../index";
import { interpolate } from "./support/grafana-vars";
import { toOpenMetrics } from "../../billing-service/testkit/openmetrics";
import { type RunningPrometheus, type VectorSample, startPrometheusWithData } from "./support/prometheus";
import {
  DAY_START,
  EVAL_TIME,
  FIRST_SCRAPE_AFTER_GAP,
  LAST_SCRAPE_BEFORE_GAP,
  MODEL_PODS,
  TENANTS,
  USERS,
  scenarioFamilies,
  scrapeTimes,
} from "./support/scenario";
import { type Truth, TEST_TOKEN_LIMITS, billingTruth, chargebackTruth, keyOf, scaled, scaledToday, tenantModelUsageTruth } from "./support/truth";
import { TOTAL_SUFFIX_FACTOR } from "./support/scenario";

const RELATIVE_TOLERANCE = 1e-9;
/** Grafana's values at "now" = EVAL_TIME with the range "today so far" and a 15 s scrape interval. */
const GRAFANA_VALUES = {
  namespace: "tenant-a-models",
  model: ".*",
  tier: ".*",
  user: ".*",
  tenant: "tenant-a",
  __range: `${EVAL_TIME - DAY_START}s`,
  __range_s: String(EVAL_TIME - DAY_START),
  __rate_interval: "1m", // max(4 × scrape interval, step + scrape interval)
  __interval: "15s",
};

let prom: RunningPrometheus;
beforeAll(async () => {
  prom = await startPrometheusWithData(toOpenMetrics(scenarioFamilies()));
});
afterAll(async () => {
  await prom?.stop();
});

/** Panel results collected for docs/dashboards.md (written when DASHBOARD_RESULTS_FILE is set). */
const report: { panel: string; expr: string; value: Record<string, number>; truth: Record<string, number | [number, number]> }[] = [];
afterAll(() => {
  if (process.env.DASHBOARD_RESULTS_FILE) writeFileSync(process.env.DASHBOARD_RESULTS_FILE, JSON.stringify(report, null, 2));
});

const toMap = (samples: VectorSample[]): Truth => new Map(samples.map((s) => [keyOf(s.metric), Number(s.value[1])]));

/** Grafana's $__range for a panel: its own relative time ("now/M" = this month so far) or the dashboard's. */
const MONTH_START = Date.UTC(2026, 2, 1) / 1000;
const valuesFor = (spec: { timeFrom?: string }, values: Record<string, string> = GRAFANA_VALUES): Record<string, string> =>
  spec.timeFrom === "now/M" ? { ...values, __range: `${EVAL_TIME - MONTH_START}s`, __range_s: String(EVAL_TIME - MONTH_START) } : values;

const run = async (panel: string, expr: string, values: Record<string, string> = GRAFANA_VALUES): Promise<Truth> => {
  const actual = toMap(await prom.vector(interpolate(expr, values), EVAL_TIME));
  report.push({ panel, expr, value: Object.fromEntries(actual), truth: {} });
  return actual;
};

const expectEqualTruth = (panel: string, actual: Truth, truth: Truth) => {
  const entry = report.at(-1);
  if (entry) entry.truth = Object.fromEntries(truth);
  expect([...actual.keys()].sort(), `${panel}: series`).toEqual([...truth.keys()].sort());
  for (const [key, want] of truth) {
    const got = actual.get(key) as number;
    const allowed = Math.max(Math.abs(want) * RELATIVE_TOLERANCE, 1e-12);
    expect(Math.abs(got - want), `${panel} {${key}}: got ${got}, truth ${want}`).toBeLessThanOrEqual(allowed);
  }
};

const expectInBuckets = (panel: string, actual: Truth, truth: Map<string, [number, number]>) => {
  const entry = report.at(-1);
  if (entry) entry.truth = Object.fromEntries(truth);
  expect([...actual.keys()].sort(), `${panel}: series`).toEqual([...truth.keys()].sort());
  for (const [key, [lower, upper]] of truth) {
    const got = actual.get(key) as number;
    expect(got, `${panel} {${key}} above bucket lower bound`).toBeGreaterThan(lower);
    expect(got, `${panel} {${key}} within bucket upper bound`).toBeLessThanOrEqual(upper);
  }
};

/** Every dashboard variant we ship. */
const allDashboards = (): [string, DashboardJson][] => {
  const out: [string, DashboardJson][] = [];
  for (const vllmFamily of ["vllm", "kserve_vllm"] as const) {
    for (const tierLabel of ["tier", "subscription"] as const) {
      for (const counterSuffix of ["", "_total"] as const) {
        const options = { vllmFamily, tenant: "tenant-a", tierLabel, counterSuffix, tokenLimits: TEST_TOKEN_LIMITS, includeBilling: true };
        for (const [file, d] of Object.entries(tenantDashboards(options))) out.push([`${vllmFamily}/${tierLabel}/${counterSuffix || "plain"}/${file}`, d]);
      }
    }
  }
  for (const [file, d] of Object.entries(platformDashboards())) out.push([file, d]);
  return out;
};

describe("every query is valid PromQL to a real Prometheus parser", () => {
  const queries = allDashboards().flatMap(([name, d]) => [
    ...d.panels.flatMap((p) => p.targets.map((t) => [`${name} / ${p.title} / ${t.refId}`, t.expr] as const)),
    // label_values(metric, label) is Grafana's; its metric selector must be valid PromQL.
    ...d.templating.list
      .filter((v) => v.type === "query")
      .map((v) => [`${name} / variable ${v.name}`, String(v.definition).replace(/^label_values\((.*), \w+\)$/, "$1")] as const),
  ]);
  it.each(queries)("%s", async (_name, expr) => {
    const r = await prom.query(interpolate(expr, GRAFANA_VALUES), EVAL_TIME);
    expect(r.status === "error" ? `${r.errorType}: ${r.error}` : "ok").toBe("ok");
  });

  const rules = (["vllm", "kserve_vllm"] as const).flatMap((vllmFamily) =>
    (["", "_total"] as const).flatMap((counterSuffix) =>
      [...platformPrometheusRules({ vllmFamily, counterSuffix }).groups, ...tenantPrometheusRules({ vllmFamily, counterSuffix, tokenLimits: TEST_TOKEN_LIMITS }).groups].flatMap((g) =>
        g.rules.map((r) => [`${vllmFamily} / ${counterSuffix || "plain"} / ${g.name} / ${"record" in r ? r.record : r.alert}`, r.expr] as const),
      ),
    ),
  );
  it.each(rules)("rule %s", async (_name, expr) => {
    const r = await prom.query(expr, EVAL_TIME);
    expect(r.status === "error" ? `${r.errorType}: ${r.error}` : "ok").toBe("ok");
  });

  it("the check can fail: an unsubstituted Grafana variable is a parse error", async () => {
    const r = await prom.query("sum(rate(kserve_vllm:prompt_tokens_total[$__rate_interval]))", EVAL_TIME);
    expect(r.status).toBe("error");
  });
});

describe.each(["kserve_vllm", "vllm"] as const)("tenant model usage (%s family) on tenant-a", (family: VllmFamily) => {
  const p = tenantModelUsagePanels(family, prometheusDs("test"));
  const truth = tenantModelUsageTruth("tenant-a");
  const cases: [string, string, Truth][] = [
    ["Tokens today (prompt)", p.tokensToday.targets[0]!.expr, truth.promptToday],
    ["Tokens today (generated)", p.tokensToday.targets[1]!.expr, truth.generationToday],
    ["Requests today", p.requestsToday.targets[0]!.expr, truth.requestsToday],
    ["Request rate", p.requestRate.targets[0]!.expr, truth.requestRate],
    ["Token throughput (prompt)", p.tokenThroughput.targets[0]!.expr, truth.promptRate],
    ["Token throughput (generated)", p.tokenThroughput.targets[1]!.expr, truth.generationRate],
    ["GPU KV-cache utilisation", p.kvCache.targets[0]!.expr, truth.kvCache],
    ["Queue depth (running)", p.queueDepth.targets[0]!.expr, truth.running],
    ["Queue depth (waiting)", p.queueDepth.targets[1]!.expr, truth.waiting],
  ];
  it.each(cases)("%s equals the truth", async (panel, expr, want) => {
    expectEqualTruth(panel, await run(`${family}: ${panel}`, expr), want);
  });
  it.each([
    ["P95 time to first token", p.ttftP95.targets[0]!.expr, truth.ttftP95Bucket],
    ["P95 inter-token latency", p.itlP95.targets[0]!.expr, truth.itlP95Bucket],
  ] as const)("%s lies in the bucket of the true 95th percentile", async (panel, expr, want) => {
    expectInBuckets(panel, await run(`${family}: ${panel}`, expr), want);
  });
});

describe("vLLM family choice", () => {
  it("a regex over both families would double tenant-a's tokens (why the family is configured)", async () => {
    const one = await prom.vector(`sum(kserve_vllm:prompt_tokens_total{namespace="tenant-a-models"})`, EVAL_TIME);
    const both = await prom.vector(`sum({__name__=~"(kserve_)?vllm:prompt_tokens_total", namespace="tenant-a-models"})`, EVAL_TIME);
    expect(Number(both[0]?.value[1])).toBe(2 * Number(one[0]?.value[1]));
  });

  it("as a time series over the day, throughput equals the truth at every step and has holes exactly where the gap leaves a window with fewer than two samples", async () => {
    const p = tenantModelUsagePanels("kserve_vllm", prometheusDs("test"));
    const truth = tenantModelUsageTruth("tenant-a").promptRate;
    const step = 60;
    const series = await prom.matrix(interpolate(p.tokenThroughput.targets[0]!.expr, GRAFANA_VALUES), DAY_START, EVAL_TIME, step);
    const samples = scrapeTimes().filter((t) => t <= LAST_SCRAPE_BEFORE_GAP || t >= FIRST_SCRAPE_AFTER_GAP);
    const expectedTimes: number[] = [];
    for (let t = DAY_START; t <= EVAL_TIME; t += step) {
      if (samples.filter((s) => s >= t - 60 && s <= t).length >= 2) expectedTimes.push(t);
    }
    expect(expectedTimes.length).toBeLessThan((EVAL_TIME - DAY_START) / step + 1); // the gap really removes points
    expect(series.map((s) => keyOf(s.metric)).sort()).toEqual([...truth.keys()].sort());
    for (const s of series) {
      expect(s.values.map(([t]) => t), keyOf(s.metric)).toEqual(expectedTimes);
      for (const [t, v] of s.values) expect(Math.abs(Number(v) - (truth.get(keyOf(s.metric)) as number)), `${keyOf(s.metric)} at ${t}`).toBeLessThan(1e-9);
    }
  });

  it("during tenant-a's scrape gap the throughput panel shows no data rather than a wrong number", async () => {
    const p = tenantModelUsagePanels("kserve_vllm", prometheusDs("test"));
    const during = await prom.vector(interpolate(p.tokenThroughput.targets[0]!.expr, GRAFANA_VALUES), LAST_SCRAPE_BEFORE_GAP + 300);
    expect(during).toEqual([]);
  });
});

describe("token usage and chargeback on tenant-a", () => {
  const p = tokenUsageChargebackPanels("tier", prometheusDs("test"), "", TEST_TOKEN_LIMITS);
  const truth = chargebackTruth("tenant-a");
  const gateway = [
    ["Tokens by tier", p.tokensByTier, truth.tokensByTier],
    ["Requests by tier", p.requestsByTier, truth.requestsByTier],
    ["Rate-limited requests", p.rateLimited, truth.rateLimited],
    ["Tokens by user", p.tokensByUser, truth.tokensByUser],
    ["Tokens by model", p.tokensByModel, truth.tokensByModel],
  ] as const;
  it.each(gateway)("%s equals what the counters recorded (served minus the restart loss)", async (panel, spec, want) => {
    const actual = await run(panel, spec.targets[0]!.expr);
    expectEqualTruth(panel, actual, want.counted);
    // The loss is real and visible: increase() cannot recover increments made after the last
    // scrape before Limitador's restart.
    for (const [key, served] of want.served) expect(served - (actual.get(key) as number)).toBeGreaterThan(0);
  });
  it.each([
    ["Cost by tier and model", p.costByTierModel, truth.costByTierModel],
    ["Cost total", p.costTotal, truth.costTotal],
    ["Token rate by tier", p.tokenRateByTier, truth.tokenRateByTier],
    ["Rate-limited requests per second", p.rateLimitedRate, truth.rateLimitedRate],
  ] as const)("%s equals the truth", async (panel, spec, want) => {
    expectEqualTruth(panel, await run(panel, spec.targets[0]!.expr, valuesFor(spec)), want);
  });
  it.each([
    ["Total tokens", p.totalTokens, 0, truth.totalTokens],
    ["Active users", p.activeUsers, 0, truth.activeUsers],
    ["Success rate", p.successRate, 0, truth.successRate],
    ["Top 10 users by tokens", p.topUsers, 0, truth.topUsers],
    ["Usage per user (tokens)", p.userTable, 0, truth.userTableTokens],
    ["Usage per user (requests)", p.userTable, 1, truth.userTableRequests],
    ["Cost per user", p.costByUser, 0, truth.costByUser],
    ["Top 5 users by cost", p.topUsersByCost, 0, truth.topUsersByCost],
    ["Token rate per user (5m)", p.userTokenRate, 0, truth.userTokenRate],
    ["Tokens per hour by user", p.hourlyTokensByUser, 0, truth.hourlyTokensByUser],
    ["Rate-limit effectiveness by route", p.limitEffectiveness, 0, truth.limitEffectiveness],
    ["Usage against token limits", p.usageAgainstLimits!, 0, truth.usageAgainstLimits],
  ] as const)("%s equals the truth", async (panel, spec, target, want) => {
    expectEqualTruth(panel, await run(panel, spec.targets[target]!.expr, valuesFor(spec)), want);
  });
  it("top-k panels keep only the k largest (the check can fail: k below the user count drops users)", async () => {
    const top1 = p.topUsers.targets[0]!.expr.replace("topk(10,", "topk(1,");
    const got = await run("Top 1 user", top1);
    const best = [...truth.topUsers].sort((a, b) => b[1] - a[1])[0]!;
    expectEqualTruth("Top 1 user", got, new Map([best]));
    const cost1 = await run("Top 1 user by cost", p.topUsersByCost.targets[0]!.expr.replace("topk(5,", "topk(1,"), valuesFor(p.topUsersByCost));
    expect([...cost1.keys()]).toEqual([[...truth.costByUser].sort((a, b) => b[1] - a[1])[0]![0]]);
  });
  it("the check can fail: without the max-by dedupe the exporter handover would double the per-user cost", async () => {
    const naive = p.costByUser.targets[0]!.expr.replace(/max by \([^)]*\) /, "");
    const got = await run("Cost per user without dedupe", naive, valuesFor(p.costByUser));
    for (const [key, v] of truth.costByUser) expect(got.get(key), key).toBeGreaterThan(v * 1.5);
  });
  it("the check can fail: without the max-by dedupe the exporter handover would double the period cost", async () => {
    const naive = p.costTotal.targets[0]!.expr.replace(/max by \([^)]*\) /, "");
    const got = await run("Cost total without dedupe", naive, valuesFor(p.costTotal));
    const want = truth.costTotal;
    for (const [key, v] of want) expect(got.get(key), key).toBeGreaterThan(v * 1.5);
  });
});

describe("MaaS counter names as shipped (authorized_hits_total, ...) on tenant-a", () => {
  // The scenario stores the "_total" spellings at TOTAL_SUFFIX_FACTOR x the plain ones: a panel must
  // read exactly the configured name (reading the other gives 1/7 or 7x, reading both 8x).
  const p = tokenUsageChargebackPanels("tier", prometheusDs("test"), "_total", TEST_TOKEN_LIMITS);
  const truth = chargebackTruth("tenant-a");
  const f = TOTAL_SUFFIX_FACTOR;
  it.each([
    ["Tokens by tier", p.tokensByTier, scaledToday(truth.tokensByTier, f).counted],
    ["Requests by tier", p.requestsByTier, scaledToday(truth.requestsByTier, f).counted],
    ["Rate-limited requests", p.rateLimited, scaledToday(truth.rateLimited, f).counted],
    ["Tokens by user", p.tokensByUser, scaledToday(truth.tokensByUser, f).counted],
    ["Total tokens", p.totalTokens, scaled(truth.totalTokens, f)],
    ["Top 10 users by tokens", p.topUsers, scaled(truth.topUsers, f)],
    ["Token rate by tier", p.tokenRateByTier, scaled(truth.tokenRateByTier, f)],
    ["Token rate per user (5m)", p.userTokenRate, scaled(truth.userTokenRate, f)],
    ["Tokens per hour by user", p.hourlyTokensByUser, scaled(truth.hourlyTokensByUser, f)],
    ["Rate-limited requests per second", p.rateLimitedRate, scaled(truth.rateLimitedRate, f)],
    ["Usage against token limits", p.usageAgainstLimits!, scaled(truth.usageAgainstLimits, f)],
    // Ratios and counts of users do not scale, and still come from the _total series.
    ["Success rate", p.successRate, truth.successRate],
    ["Active users", p.activeUsers, truth.activeUsers],
    ["Rate-limit effectiveness by route", p.limitEffectiveness, truth.limitEffectiveness],
  ] as const)("%s (_total) equals the truth", async (panel, spec, want) => {
    expectEqualTruth(`${panel} (_total)`, await run(`${panel} (_total)`, spec.targets[0]!.expr, valuesFor(spec)), want);
  });
  it("every gateway query of the _total dashboard names only _total counters, and the plain one none", () => {
    const exprs = (suffix: "" | "_total") =>
      Object.values(tenantDashboards({ vllmFamily: "kserve_vllm", tenant: "tenant-a", counterSuffix: suffix, tokenLimits: TEST_TOKEN_LIMITS }))
        .flatMap((d) => [...d.panels.flatMap((x) => x.targets.map((t) => t.expr)), ...d.templating.list.map((v) => String(v.definition ?? ""))])
        .join("\n");
    expect(exprs("_total").match(/\b(authorized_hits|authorized_calls|limited_calls)\b(?!_total)/g)).toBeNull();
    expect(exprs("_total")).toContain("authorized_hits_total");
    expect(exprs("").match(/\b(authorized_hits|authorized_calls|limited_calls)_total/g)).toBeNull();
  });
  it("the check can fail: a regex over both names counts tenant-a's tokens (1 + factor) times", async () => {
    const one = await prom.vector('sum(authorized_hits{route_namespace="tenant-a-models"})', EVAL_TIME);
    const both = await prom.vector('sum({__name__=~"authorized_hits(_total)?", route_namespace="tenant-a-models"})', EVAL_TIME);
    expect(Number(both[0]?.value[1])).toBe((1 + f) * Number(one[0]?.value[1]));
  });
});

describe.each([
  ["platform (all tenants)", "=~" as const, ".*", TENANTS.map((t) => t.name), billingDashboard()],
  ["tenant copy (tenant-a)", "=" as const, "tenant-a", ["tenant-a"], billingDashboard({ tenant: "tenant-a" })],
])("billing dashboard, %s", (_name, op, tenantValue, tenants, shipped) => {
  const p = billingPanels(prometheusDs("test"), op);
  const truth = billingTruth(tenants);
  const values = { ...GRAFANA_VALUES, tenant: tenantValue };
  const inDashboard = (row: readonly [string, { title: string }, Truth]) => shipped.panels.some((x) => x.title === row[1].title);
  it.each(([
    ["Month-to-date cost per tenant", p.monthToDateCost, truth.monthToDateCost],
    ["Cost this billing period by tier, model and charge", p.periodCostLines, truth.periodCostLines],
    ["Quota burn", p.quotaBurn, truth.quotaBurn],
    ["Metered tokens per tenant", p.meteredTokens, truth.meteredTokens],
    ["Collector lag", p.collectorLag, truth.collectorLag],
    ["Counter resets seen", p.counterResets, truth.counterResets],
    ["Scrape gaps seen", p.scrapeGaps, truth.scrapeGaps],
    ["Gateway vs model-server mismatch", p.gatewayModelMismatch, truth.gatewayModelMismatch],
    ["Unattributed tokens", p.unattributedTokens, truth.unattributedTokens],
  ] as const).filter(inDashboard))("%s equals the truth", async (panel, spec, want) => {
    expectEqualTruth(panel, await run(`billing ${_name}: ${panel}`, spec.targets[0]!.expr, valuesFor(spec, values)), want);
  });
});

describe("variables list the scenario's values", () => {
  const d = tenantDashboards({ vllmFamily: "kserve_vllm", tenant: "tenant-a" });
  const variable = (file: string, name: string) => {
    const v = d[file]?.templating.list.find((x) => x.name === name);
    const m = /^label_values\((.*), (\w+)\)$/.exec(String(v?.definition));
    if (!m) throw new Error(`${file} ${name}: not a label_values variable`);
    return { match: interpolate(m[1] as string, GRAFANA_VALUES), label: m[2] as string };
  };
  const sorted = (xs: Iterable<string>) => [...new Set(xs)].sort();
  it.each([
    ["tenant-model-usage.json", "namespace", sorted(TENANTS.map((t) => t.namespace))],
    ["tenant-model-usage.json", "model", sorted(MODEL_PODS.filter((p) => p.tenant === "tenant-a").map((p) => p.model))],
    ["token-usage-chargeback.json", "namespace", sorted(TENANTS.map((t) => t.namespace))],
    ["token-usage-chargeback.json", "tier", sorted(USERS.filter((u) => u.tenant === "tenant-a").map((u) => u.tier))],
    ["token-usage-chargeback.json", "user", sorted(USERS.filter((u) => u.tenant === "tenant-a").map((u) => u.name))],
    ["token-usage-chargeback.json", "model", sorted(USERS.filter((u) => u.tenant === "tenant-a").flatMap((u) => Object.keys(u.tokensPerStep)))],
  ])("%s $%s", async (file, name, want) => {
    const { match, label } = variable(file, name);
    expect(await prom.labelValues(label, match, DAY_START, EVAL_TIME)).toEqual(want);
  });
});

describe("at an unaligned now (Grafana's clock is rarely on a scrape)", () => {
  // 7 s before the last scrape: the window (midnight, now] ends 8 s after the 01:59:45 scrape.
  const now = EVAL_TIME - 7;
  const values = { ...GRAFANA_VALUES, __range: `${now - DAY_START}s` };
  const between = (panel: string, actual: Truth, lastScrape: Truth, nextScrape: Truth) => {
    report.push({
      panel: `${panel} at 01:59:53 (between the last and the next scrape)`,
      expr: "",
      value: Object.fromEntries(actual),
      truth: Object.fromEntries([...nextScrape].map(([k, v]) => [k, [lastScrape.get(k) as number, v] as [number, number]])),
    });
    expect([...actual.keys()].sort(), panel).toEqual([...nextScrape.keys()].sort());
    for (const [key, upper] of nextScrape) {
      const got = actual.get(key) as number;
      const lower = lastScrape.get(key) as number;
      expect(got, `${panel} {${key}} >= count at the last scrape ${lower}`).toBeGreaterThanOrEqual(lower);
      expect(got, `${panel} {${key}} <= count at the next scrape ${upper}`).toBeLessThanOrEqual(upper);
    }
  };
  const minusOneStep = (truth: Truth, perStep: Truth): Truth => new Map([...truth].map(([k, v]) => [k, v - (perStep.get(k) as number)]));

  it("Tokens today (prompt) is an estimate between the counts of the scrapes around now", async () => {
    const p = tenantModelUsagePanels("kserve_vllm", prometheusDs("test"));
    const truth = tenantModelUsageTruth("tenant-a");
    const perStep = new Map([...truth.promptRate].map(([k, v]) => [k, v * 15]));
    const actual = toMap(await prom.vector(interpolate(p.tokensToday.targets[0]!.expr, values), now));
    between("Tokens today (prompt)", actual, minusOneStep(truth.promptToday, perStep), truth.promptToday);
  });

  it("Tokens by tier (with the Limitador reset) is an estimate between the counts of the scrapes around now", async () => {
    const p = tokenUsageChargebackPanels("tier", prometheusDs("test"));
    const truth = chargebackTruth("tenant-a");
    const perStep = new Map([...truth.tokenRateByTier].map(([k, v]) => [k, v * 15]));
    const actual = toMap(await prom.vector(interpolate(p.tokensByTier.targets[0]!.expr, values), now));
    between("Tokens by tier", actual, minusOneStep(truth.tokensByTier.counted, perStep), truth.tokensByTier.counted);
    // Not the exact count of either scrape: increase() extrapolated to now.
    for (const [key, v] of actual) expect(Number.isInteger(v), key).toBe(false);
  });
});
