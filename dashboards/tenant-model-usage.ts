// Tenant model usage: the seed guide's panels over the model servers' own (vLLM) counters.
// Only one vLLM family is queried: newer KServe exposes both `vllm:` and `kserve_vllm:`, so a
// regex over both names would count every token twice.
import {
  type DashboardJson,
  type DataSourceRef,
  type PanelSpec,
  type VllmFamily,
  TENANT_PROMETHEUS_DS_UID,
  dashboard,
  prometheusDs,
  promQuery,
  queryVariable,
  selector,
  stat,
  timeseries,
  vllmMetric,
} from "./common";

export interface TenantModelUsageOptions {
  /** Which vLLM metric-name family the model servers expose (platform output `vllmMetricFamily`). */
  readonly vllmFamily: VllmFamily;
  /** Datasource uid of the tenant Prometheus. Defaults to TENANT_PROMETHEUS_DS_UID. */
  readonly datasourceUid?: string;
}

export const TENANT_MODEL_USAGE_UID = "maas-tenant-model-usage";

/** Honest wording shared by the "today" panels (see docs/dashboards.md). */
export const TODAY_CAVEAT =
  "Estimate from PromQL increase() over today so far (UTC midnight to now): increase() extrapolates to the window edges " +
  "and cannot see increments made between a server's last scrape and its restart, so it may differ slightly from the invoiced " +
  "usage, which the billing service computes from raw samples.";

/** Scope and model filter of every model-server query. */
const modelSel = selector({ label: "namespace", variable: "namespace" }, { label: "model_name", variable: "model" });

/** The panels, as functions of the family, so tests can run each query. */
export const tenantModelUsagePanels = (family: VllmFamily, ds: DataSourceRef) => {
  const m = (name: string) => vllmMetric(family, name);
  // Older vLLM images expose the same histogram or gauge under an older name: read the current
  // name, and the older one only for series that have no current-name twin (`or` keeps the left
  // side where both exist, so a server exposing both during a rename is never counted twice).
  const p95 = (bucket: string, olderBucket?: string) => {
    const rate = (b: string) => `rate(${m(b)}${modelSel}[$__rate_interval])`;
    return `histogram_quantile(0.95, sum by (le, model_name) (${olderBucket ? `${rate(bucket)} or ${rate(olderBucket)}` : rate(bucket)}))`;
  };
  return {
    tokensToday: stat({
      title: "Tokens today",
      description: `Prompt and generated tokens per model since UTC midnight. ${TODAY_CAVEAT}`,
      datasource: ds,
      unit: "short",
      decimals: 0,
      timeFrom: "now/d",
      targets: [
        promQuery(ds, `sum by (model_name) (increase(${m("prompt_tokens_total")}${modelSel}[$__range]))`, "{{model_name}} prompt", { instant: true }),
        promQuery(ds, `sum by (model_name) (increase(${m("generation_tokens_total")}${modelSel}[$__range]))`, "{{model_name}} generated", { instant: true }),
      ],
    }),
    requestsToday: stat({
      title: "Requests today",
      description: `Finished requests per model since UTC midnight (all finish reasons). ${TODAY_CAVEAT}`,
      datasource: ds,
      unit: "short",
      decimals: 0,
      timeFrom: "now/d",
      targets: [
        promQuery(ds, `sum by (model_name) (increase(${m("request_success_total")}${modelSel}[$__range]))`, "{{model_name}}", { instant: true }),
      ],
    }),
    requestRate: timeseries({
      title: "Request rate",
      description:
        "Finished requests per second by model and finish reason. stop/length are completed requests; abort marks requests " +
        "that failed or were cancelled before completion. Requests rejected by the gateway (429) are on the chargeback dashboard.",
      datasource: ds,
      unit: "reqps",
      targets: [
        promQuery(ds, `sum by (model_name, finished_reason) (rate(${m("request_success_total")}${modelSel}[$__rate_interval]))`, "{{model_name}} {{finished_reason}}"),
      ],
    }),
    tokenThroughput: timeseries({
      title: "Token throughput",
      description: "Prompt (input) and generated (output) tokens per second by model, from the model servers' counters.",
      datasource: ds,
      unit: "short",
      targets: [
        promQuery(ds, `sum by (model_name) (rate(${m("prompt_tokens_total")}${modelSel}[$__rate_interval]))`, "{{model_name}} prompt"),
        promQuery(ds, `sum by (model_name) (rate(${m("generation_tokens_total")}${modelSel}[$__rate_interval]))`, "{{model_name}} generated"),
      ],
    }),
    ttftP95: timeseries({
      title: "P95 time to first token",
      description: "95th percentile of time to first token per model, interpolated inside histogram buckets (accurate to the bucket bounds).",
      datasource: ds,
      unit: "s",
      targets: [promQuery(ds, p95("time_to_first_token_seconds_bucket"), "{{model_name}}")],
    }),
    itlP95: timeseries({
      title: "P95 inter-token latency",
      description:
        "95th percentile of the time between generated tokens per model, interpolated inside histogram buckets (accurate to the bucket bounds). " +
        "Older vLLM images name the histogram time_per_output_token_seconds; their pods are read under that name.",
      datasource: ds,
      unit: "s",
      targets: [promQuery(ds, p95("inter_token_latency_seconds_bucket", "time_per_output_token_seconds_bucket"), "{{model_name}}")],
    }),
    kvCache: timeseries({
      title: "GPU KV-cache utilisation",
      description:
        "Average share of the GPU KV cache in use across the model's server pods (1 = full; requests start queueing). Older vLLM " +
        "images name the gauge gpu_cache_usage_perc; their pods are read under that name.",
      datasource: ds,
      unit: "percentunit",
      targets: [promQuery(ds, `avg by (model_name) (${m("kv_cache_usage_perc")}${modelSel} or ${m("gpu_cache_usage_perc")}${modelSel})`, "{{model_name}}")],
    }),
    queueDepth: timeseries({
      title: "Queue depth",
      description: "Requests being processed (running) and waiting for a slot (waiting), summed over the model's server pods.",
      datasource: ds,
      unit: "short",
      targets: [
        promQuery(ds, `sum by (model_name) (${m("num_requests_running")}${modelSel})`, "{{model_name}} running"),
        promQuery(ds, `sum by (model_name) (${m("num_requests_waiting")}${modelSel})`, "{{model_name}} waiting"),
      ],
    }),
  } satisfies Record<string, PanelSpec>;
};

export const tenantModelUsageDashboard = (o: TenantModelUsageOptions): DashboardJson => {
  const ds = prometheusDs(o.datasourceUid ?? TENANT_PROMETHEUS_DS_UID);
  const p = tenantModelUsagePanels(o.vllmFamily, ds);
  const running = vllmMetric(o.vllmFamily, "num_requests_running");
  return dashboard({
    uid: TENANT_MODEL_USAGE_UID,
    title: "Tenant model usage",
    description: `Requests, tokens, latency and capacity of this tenant's models (${o.vllmFamily}:* metrics).`,
    tags: ["maas", "tenant", "vllm"],
    time: { from: "now-6h", to: "now" },
    variables: [
      queryVariable(ds, "namespace", "Namespace", running, "namespace"),
      queryVariable(ds, "model", "Model", `${running}{namespace=~"$namespace"}`, "model_name"),
    ],
    rows: [
      [p.tokensToday, p.requestsToday],
      [p.requestRate, p.tokenThroughput],
      [p.ttftP95, p.itlP95],
      [p.kvCache, p.queueDepth],
    ],
  });
};
