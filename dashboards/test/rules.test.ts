// The PrometheusRule groups through the real promtool: `check rules` (syntax, PromQL, templates)
// and `test rules` unit tests with series whose alerts we know.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { type AlertingRule, type PrometheusRuleSpec, platformPrometheusRules, tenantPrometheusRules } from "../index";
import Ajv from "ajv";
import { crdsDir, loadCrds, toJsonSchema } from "../../test/support/conformance";
import { PROMTOOL_BIN } from "../../billing-service/testkit/prometheus";

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), "maas-rules-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const promtool = async (...args: string[]): Promise<{ code: number; out: string }> => {
  try {
    const r = await run(PROMTOOL_BIN, args, { cwd: dir });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: err.code ?? -1, out: `${err.stdout ?? ""}${err.stderr ?? ""}` };
  }
};

const writeRules = (name: string, spec: PrometheusRuleSpec) => {
  writeFileSync(join(dir, name), stringify(spec));
  return name;
};

const alertsOf = (spec: PrometheusRuleSpec) => spec.groups.flatMap((g) => g.rules).filter((r): r is AlertingRule => "alert" in r);

const platform = platformPrometheusRules({ vllmFamily: "kserve_vllm" });
const tenant = tenantPrometheusRules({ vllmFamily: "kserve_vllm" });

/**
 * Renders the few template forms our annotations use, the way Prometheus does for these values,
 * so expected alerts carry exact annotations (promtool compares them).
 */
const render = (text: string, labels: Record<string, string>, value: number) =>
  text
    .replace(/\{\{ \$labels\.(\w+) \}\}/g, (_m, l: string) => labels[l] ?? "")
    .replace(/\{\{ \$value \| humanizePercentage \}\}/g, `${Number((value * 100).toPrecision(4))}%`)
    .replace(/\{\{ \$value \| humanizeDuration \}\}/g, () => `${Math.floor(value / 60)}m ${value % 60}s`)
    .replace(/\{\{ \$value \}\}/g, () => String(value));

const expected = (spec: PrometheusRuleSpec, alert: string, labels: Record<string, string>, value: number) => {
  const rule = alertsOf(spec).find((r) => r.alert === alert);
  if (rule === undefined) throw new Error(`no alert ${alert}`);
  return {
    exp_labels: { ...rule.labels, ...labels },
    exp_annotations: Object.fromEntries(Object.entries(rule.annotations).map(([k, v]) => [k, render(v, labels, value)])),
  };
};

const quota = (tenantName: string) => ({ tenant: tenantName, kind: "tokens", period: "month" });

/** promtool unit tests for the platform rules. */
const platformTests = [
  {
    interval: "1m",
    input_series: [
      // A day at 120 tokens/min (2/s), then 600 tokens/min (10/s, 5x): the anomaly.
      { series: `authorized_hits{route_namespace="spike",limitador_namespace="spike/llm"}`, values: "0+120x1440 172800+600x90" },
      // The same day, then only 2.5x: no alert.
      { series: `authorized_hits{route_namespace="busy",limitador_namespace="busy/llm"}`, values: "0+120x1440 172800+300x90" },
      // Idle (6 tokens/min) then 10x, still under the 1 token/s floor: no alert.
      { series: `authorized_hits{route_namespace="idle",limitador_namespace="idle/llm"}`, values: "0+6x1440 8640+54x90" },
    ],
    alert_rule_test: [
      // Before the spike: nothing.
      { eval_time: "1430m", alertname: "MaasUsageAnomaly", exp_alerts: [] },
      // 30m window fully in the spike from 1470m, then `for: 15m`.
      { eval_time: "1500m", alertname: "MaasUsageAnomaly", exp_alerts: [expected(platform, "MaasUsageAnomaly", { route_namespace: "spike" }, 10)] },
    ],
  },
  {
    interval: "1m",
    input_series: [
      { series: `maas_billing_quota_used_ratio{tenant="t79",kind="tokens",period="month"}`, values: "0.79x20" },
      { series: `maas_billing_quota_used_ratio{tenant="t80",kind="tokens",period="month"}`, values: "0.8x20" },
      { series: `maas_billing_quota_used_ratio{tenant="t99",kind="tokens",period="month"}`, values: "0.99x20" },
      { series: `maas_billing_quota_used_ratio{tenant="t100",kind="tokens",period="month"}`, values: "1x20" },
    ],
    alert_rule_test: [
      // `for: 5m`: nothing fires yet at 4m.
      { eval_time: "4m", alertname: "MaasQuotaNearlyExhausted", exp_alerts: [] },
      // 80% and 99% warn; 79% does not; 100% is the critical alert's, not the warning's.
      {
        eval_time: "10m",
        alertname: "MaasQuotaNearlyExhausted",
        exp_alerts: [expected(platform, "MaasQuotaNearlyExhausted", quota("t80"), 0.8), expected(platform, "MaasQuotaNearlyExhausted", quota("t99"), 0.99)],
      },
      { eval_time: "10m", alertname: "MaasQuotaExhausted", exp_alerts: [expected(platform, "MaasQuotaExhausted", quota("t100"), 1)] },
    ],
  },
  {
    interval: "1m",
    input_series: [
      // Restart in place: the counter drops at 11m.
      { series: `authorized_calls{limitador_namespace="a/llm",pod="limitador-1"}`, values: "0+10x10 5+10x10" },
      // Pod replaced at 11m: the old series ends, a new one starts from zero under another pod label.
      { series: `authorized_calls{limitador_namespace="b/llm",pod="limitador-old"}`, values: "0+10x10 stale" },
      { series: `authorized_calls{limitador_namespace="b/llm",pod="limitador-new"}`, values: "_x11 0+5x10" },
      // Steady traffic: no alert.
      { series: `authorized_calls{limitador_namespace="c/llm",pod="limitador-1"}`, values: "0+10x21" },
    ],
    alert_rule_test: [
      { eval_time: "10m", alertname: "MaasLimitadorCounterReset", exp_alerts: [] },
      {
        eval_time: "12m",
        alertname: "MaasLimitadorCounterReset",
        exp_alerts: [
          expected(platform, "MaasLimitadorCounterReset", { limitador_namespace: "a/llm" }, 1),
          expected(platform, "MaasLimitadorCounterReset", { limitador_namespace: "b/llm" }, 5),
        ],
      },
    ],
  },
  {
    interval: "1m",
    input_series: [
      { series: `up{job="limitador",instance="10.0.0.1:8080"}`, values: "1x5 0x15" },
      { series: `up{job="maas-billing",instance="10.0.0.2:8080"}`, values: "1x20" },
    ],
    alert_rule_test: [
      // Down since 6m, `for: 5m`: pending at 9m, firing at 12m.
      { eval_time: "9m", alertname: "MaasScrapeTargetDown", exp_alerts: [] },
      {
        eval_time: "12m",
        alertname: "MaasScrapeTargetDown",
        exp_alerts: [expected(platform, "MaasScrapeTargetDown", { job: "limitador", instance: "10.0.0.1:8080" }, 0)],
      },
    ],
  },
  {
    interval: "1m",
    input_series: [
      { series: `maas_billing_collector_lag_seconds{source="vllm"}`, values: "1200x30" },
      { series: `maas_billing_collector_lag_seconds{source="limitador"}`, values: "60x30" },
      // Exactly at the threshold is not lagging.
      { series: `maas_billing_collector_lag_seconds{source="events"}`, values: "900x30" },
    ],
    alert_rule_test: [
      { eval_time: "9m", alertname: "MaasBillingCollectorLagging", exp_alerts: [] },
      { eval_time: "15m", alertname: "MaasBillingCollectorLagging", exp_alerts: [expected(platform, "MaasBillingCollectorLagging", { source: "vllm" }, 1200)] },
      { eval_time: "20m", alertname: "MaasBillingCollectorMetricsAbsent", exp_alerts: [] },
    ],
  },
  {
    interval: "1m",
    // No collector metric at all: the billing service is not scraped.
    input_series: [{ series: `up{job="other",instance="x"}`, values: "1x30" }],
    alert_rule_test: [
      { eval_time: "10m", alertname: "MaasBillingCollectorMetricsAbsent", exp_alerts: [] },
      { eval_time: "20m", alertname: "MaasBillingCollectorMetricsAbsent", exp_alerts: [expected(platform, "MaasBillingCollectorMetricsAbsent", {}, 1)] },
    ],
  },
  {
    interval: "1m",
    input_series: [
      { series: `maas_billing_usage_tokens_total{tenant="a",model="m",tier="free",direction="input",job="maas-billing"}`, values: "0+600x20" },
      { series: `authorized_hits{route_namespace="a-models",tier="free",user="u1",model="m"}`, values: "0+120x20" },
      { series: `authorized_hits{route_namespace="a-models",tier="free",user="u2",model="m"}`, values: "0+60x20" },
      { series: `kserve_vllm:prompt_tokens_total{namespace="a-models",model_name="m",pod="p0"}`, values: "0+300x20" },
      { series: `kserve_vllm:prompt_tokens_total{namespace="a-models",model_name="m",pod="p1"}`, values: "0+60x20" },
    ],
    promql_expr_test: [
      {
        expr: "tenant_model_tier_direction:maas_billing_usage_tokens:rate5m",
        eval_time: "10m",
        exp_samples: [{ labels: `tenant_model_tier_direction:maas_billing_usage_tokens:rate5m{tenant="a",model="m",tier="free",direction="input"}`, value: 10 }],
      },
      {
        expr: "route_namespace_tier:authorized_hits:rate5m",
        eval_time: "10m",
        exp_samples: [{ labels: `route_namespace_tier:authorized_hits:rate5m{route_namespace="a-models",tier="free"}`, value: 3 }],
      },
      {
        expr: "namespace_model_name:kserve_vllm_prompt_tokens:rate5m",
        eval_time: "10m",
        exp_samples: [{ labels: `namespace_model_name:kserve_vllm_prompt_tokens:rate5m{namespace="a-models",model_name="m"}`, value: 6 }],
      },
    ],
  },
];

const tenantTests = [
  {
    interval: "1m",
    input_series: [
      { series: `up{job="federate-models",instance="proxy-models:9090"}`, values: "1x3 0x20" },
      { series: `up{job="federate-gateway",instance="proxy-gateway:9090"}`, values: "1x25" },
      // Not a federation job: the tenant rule ignores it.
      { series: `up{job="prometheus",instance="localhost:9090"}`, values: "0x25" },
      { series: `scrape_samples_scraped{job="federate-gateway",instance="proxy-gateway:9090"}`, values: "0x25" },
      { series: `scrape_samples_scraped{job="federate-models",instance="proxy-models:9090"}`, values: "120x25" },
    ],
    alert_rule_test: [
      {
        eval_time: "10m",
        alertname: "MaasFederationDown",
        exp_alerts: [expected(tenant, "MaasFederationDown", { job: "federate-models", instance: "proxy-models:9090" }, 0)],
      },
      { eval_time: "5m", alertname: "MaasFederationEmpty", exp_alerts: [] },
      {
        eval_time: "12m",
        alertname: "MaasFederationEmpty",
        exp_alerts: [expected(tenant, "MaasFederationEmpty", { job: "federate-gateway", instance: "proxy-gateway:9090" }, 0)],
      },
    ],
  },
  {
    interval: "1m",
    input_series: [
      { series: `kserve_vllm:generation_tokens_total{namespace="a-models",model_name="m",pod="p0"}`, values: "0+120x20" },
      { series: `authorized_hits{route_namespace="a-models",tier="gold",user="u1",model="m"}`, values: "0+30x20" },
    ],
    promql_expr_test: [
      { expr: "model_name:kserve_vllm_generation_tokens:rate5m", eval_time: "10m", exp_samples: [{ labels: `model_name:kserve_vllm_generation_tokens:rate5m{model_name="m"}`, value: 2 }] },
      { expr: "tier:authorized_hits:rate5m", eval_time: "10m", exp_samples: [{ labels: `tier:authorized_hits:rate5m{tier="gold"}`, value: 0.5 }] },
      { expr: "model:authorized_hits:rate5m", eval_time: "10m", exp_samples: [{ labels: `model:authorized_hits:rate5m{model="m"}`, value: 0.5 }] },
    ],
  },
];

const writeTests = (name: string, ruleFile: string, tests: unknown[]) => {
  writeFileSync(join(dir, name), stringify({ rule_files: [ruleFile], evaluation_interval: "1m", tests }));
  return name;
};

describe("promtool check rules", () => {
  it.each([
    ["platform", "vllm", "tier"],
    ["platform", "kserve_vllm", "subscription"],
    ["tenant", "vllm", "subscription"],
    ["tenant", "kserve_vllm", "tier"],
  ] as const)("%s rules (%s, %s) pass", async (scope, vllmFamily, tierLabel) => {
    const spec = scope === "platform" ? platformPrometheusRules({ vllmFamily, tierLabel }) : tenantPrometheusRules({ vllmFamily, tierLabel });
    const file = writeRules(`check-${scope}-${vllmFamily}-${tierLabel}.yaml`, spec);
    const r = await promtool("check", "rules", file);
    const count = spec.groups.reduce((n, g) => n + g.rules.length, 0);
    expect(r.out).toContain(`SUCCESS: ${count} rules found`);
    expect(r.code).toBe(0);
  });

  it("the check can fail: a broken expression is rejected", async () => {
    const broken = { groups: [{ name: "broken", rules: [{ record: "x:y:z", expr: "sum(rate(x[5m])" }] }] };
    const r = await promtool("check", "rules", writeRules("broken.yaml", broken));
    expect(r.code).not.toBe(0);
  });
});

describe("every alert carries severity and a runbook", () => {
  it.each(alertsOf({ groups: [...platform.groups, ...tenant.groups] }).map((a) => [a.alert, a] as const))("%s", (_name, a) => {
    expect(["warning", "critical"]).toContain(a.labels.severity);
    expect(a.annotations.runbook.length).toBeGreaterThan(40);
    expect(a.annotations.summary.length).toBeGreaterThan(10);
    expect(a.annotations.description.length).toBeGreaterThan(10);
  });

  it("runbook_url is added only when a base URL is configured", () => {
    const withUrl = alertsOf(platformPrometheusRules({ vllmFamily: "vllm", runbookBaseUrl: "https://runbooks.example/maas" }));
    expect(withUrl.map((a) => a.annotations.runbook_url)).toEqual(withUrl.map((a) => `https://runbooks.example/maas#${a.alert.toLowerCase()}`));
    expect(alertsOf(platform).some((a) => "runbook_url" in a.annotations)).toBe(false);
  });
});

describe("promtool test rules", () => {
  it("platform rules: quota 80%/100% (79% silent), Limitador reset (in place and pod replaced), scrape down, collector lag/absent, recording rules", async () => {
    const rules = writeRules("platform.yaml", platform);
    const r = await promtool("test", "rules", writeTests("platform-test.yaml", rules, platformTests));
    expect(r.out).toContain("SUCCESS");
    expect(r.code).toBe(0);
  });

  it("tenant rules: federation down and empty, recording rules", async () => {
    const rules = writeRules("tenant.yaml", tenant);
    const r = await promtool("test", "rules", writeTests("tenant-test.yaml", rules, tenantTests));
    expect(r.out).toContain("SUCCESS");
    expect(r.code).toBe(0);
  });

  it("tenant rules with token limits and _total counter names: a user at 80% of a limit's window warns, at 79% not; two limits of one tier are two alerts", async () => {
    const limits = [
      { tier: "free", limit: 1000, window: "1m" },
      { tier: "premium", limit: 10_000, window: "1m" },
      { tier: "premium", limit: 300_000, window: "1h" },
    ];
    const spec = tenantPrometheusRules({ vllmFamily: "kserve_vllm", counterSuffix: "_total", tokenLimits: limits });
    const rules = writeRules("tenant-limits.yaml", spec);
    const hits = (user: string, tier: string) => `authorized_hits_total{user="${user}",tier="${tier}",model="m",route_namespace="a-models"}`;
    const tests = [
      {
        interval: "1m",
        input_series: [
          // 800 tokens a minute on a 1000/1m free limit: 80%.
          { series: hits("at80", "free"), values: "0+800x30" },
          // 790 a minute: 79%, silent.
          { series: hits("at79", "free"), values: "0+790x30" },
          // 9000 a minute: 90% of premium's 1m limit, and 540000/h = 180% of its 1h limit after an hour.
          { series: hits("heavy", "premium"), values: "0+9000x70" },
          // The plain name (another monitoring stack's copy) is not read: this would be 500% of the free limit.
          { series: `authorized_hits{user="ignored",tier="free",model="m",route_namespace="a-models"}`, values: "0+5000x30" },
        ],
        alert_rule_test: [
          { eval_time: "4m", alertname: "MaasUserNearTokenLimit", exp_alerts: [] },
          {
            eval_time: "10m",
            alertname: "MaasUserNearTokenLimit",
            exp_alerts: [
              expected(spec, "MaasUserNearTokenLimit", { user: "at80", tier: "free", window: "1m" }, 0.8),
              expected(spec, "MaasUserNearTokenLimit", { user: "heavy", tier: "premium", window: "1m" }, 0.9),
            ],
          },
          {
            eval_time: "70m",
            alertname: "MaasUserNearTokenLimit",
            exp_alerts: [
              expected(spec, "MaasUserNearTokenLimit", { user: "heavy", tier: "premium", window: "1m" }, 0.9),
              expected(spec, "MaasUserNearTokenLimit", { user: "heavy", tier: "premium", window: "1h" }, 1.8),
            ],
          },
        ],
      },
    ];
    const r = await promtool("test", "rules", writeTests("tenant-limits-test.yaml", rules, tests));
    expect(r.out).toContain("SUCCESS");
    expect(r.code).toBe(0);
    // The check can fail: without the window label the premium 1h term is lost to `or` (one alert, not two).
    const collapsed = JSON.parse(JSON.stringify(spec).replace(/label_replace\((.*?), \\"window\\", \\"[^"\\]*\\", \\"\\", \\"\\"\)/g, "$1"));
    expect(JSON.stringify(collapsed)).not.toContain("label_replace");
    const r2 = await promtool("test", "rules", writeTests("tenant-limits-neg-test.yaml", writeRules("tenant-limits-neg.yaml", collapsed), tests));
    expect(r2.code).not.toBe(0);
  });

  it("the tests can fail: expecting the 79% tenant to warn is reported as a failure", async () => {
    const rules = writeRules("platform-neg.yaml", platform);
    const wrong = [
      {
        ...platformTests[0],
        alert_rule_test: [
          { eval_time: "10m", alertname: "MaasQuotaNearlyExhausted", exp_alerts: [expected(platform, "MaasQuotaNearlyExhausted", quota("t79"), 0.79)] },
        ],
      },
    ];
    const r = await promtool("test", "rules", writeTests("platform-neg-test.yaml", rules, wrong));
    expect(r.code).not.toBe(0);
    expect(r.out).toContain("MaasQuotaNearlyExhausted");
  });
});

describe("as PrometheusRule objects", () => {
  // The upstream CRD schema (../shared/crds) as JSON Schema, via the repository's conformance helpers.
  const crd = loadCrds(crdsDir()).find((c) => c.group === "monitoring.coreos.com" && c.kind === "PrometheusRule" && c.version === "v1");
  if (crd === undefined) throw new Error("PrometheusRule v1 CRD not found");
  // Go-only inline flags such as `(?i)` (partial_response_strategy) are not JavaScript regex syntax;
  // drop those patterns (our rules never set that field) rather than the whole check.
  const withoutGoPatterns = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(withoutGoPatterns);
    if (node === null || typeof node !== "object") return node;
    return Object.fromEntries(
      Object.entries(node as Record<string, unknown>)
        .filter(([k, v]) => !(k === "pattern" && typeof v === "string" && v.includes("(?")))
        .map(([k, v]) => [k, withoutGoPatterns(v)]),
    );
  };
  const validate = new Ajv({ allErrors: true, strict: false, validateFormats: false }).compile(
    withoutGoPatterns(toJsonSchema(crd.schema, { partial: false })) as object,
  );
  const errorsOf = (name: string, spec: PrometheusRuleSpec) => {
    const ok = validate({ apiVersion: "monitoring.coreos.com/v1", kind: "PrometheusRule", metadata: { name, namespace: "maas-billing" }, spec });
    return ok ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);
  };
  it.each([
    ["maas-platform-rules", platformPrometheusRules({ vllmFamily: "vllm", tierLabel: "subscription", runbookBaseUrl: "https://runbooks.example/maas" })],
    ["maas-tenant-rules", tenantPrometheusRules({ vllmFamily: "kserve_vllm" })],
    ["maas-tenant-rules-limits", tenantPrometheusRules({ vllmFamily: "kserve_vllm", counterSuffix: "_total", tokenLimits: [{ tier: "free", limit: 100, window: "1m" }] })],
  ] as const)("%s conforms to the PrometheusRule CRD", (name, spec) => {
    expect(errorsOf(name, spec)).toEqual([]);
  });
  it("the check can fail: a rule without expr, or a malformed `for`, is rejected", () => {
    const bad = { groups: [{ name: "g", rules: [{ alert: "A", for: "5 minutes", labels: { severity: "warning" } }] }] } as unknown as PrometheusRuleSpec;
    const errors = errorsOf("bad", bad);
    expect(errors.some((e) => e.includes("expr"))).toBe(true);
    expect(errors.some((e) => e.includes("/for"))).toBe(true);
  });
});
