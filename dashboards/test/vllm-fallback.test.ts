// Older vLLM images: `gpu_cache_usage_perc` instead of `kv_cache_usage_perc` and
// `time_per_output_token_seconds` instead of `inter_token_latency_seconds`. On a real Prometheus
// with three pods of one model (new names only, old names only, both during a rename), the KV-cache
// and inter-token latency panels must count every pod exactly once.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { prometheusDs, tenantModelUsagePanels } from "../index";
import { interpolate } from "./support/grafana-vars";
import { type Family, toOpenMetrics } from "../../billing-service/testkit/openmetrics";
import { type RunningPrometheus, startPrometheusWithData } from "./support/prometheus";

const START = Date.UTC(2026, 2, 2) / 1000;
const EVAL = START + 600;
const times = Array.from({ length: 41 }, (_, i) => START + i * 15);
const BUCKETS = [0.01, 0.025, 0.05, 0.1];
const ns = { namespace: "t-models", model_name: "llama" };

/** Per pod: which names it exposes, its KV-cache gauge, and its per-step latency observations (all in one bucket). */
const PODS = [
  { pod: "new-0", names: ["new"], kv: 0.2, latency: 0.02, perStep: 10 },
  { pod: "old-0", names: ["old"], kv: 0.6, latency: 0.08, perStep: 30 },
  // During a rename a server exposes both names with the same values: counted once.
  { pod: "both-0", names: ["new", "old"], kv: 0.4, latency: 0.04, perStep: 10 },
] as const;

const families = (): Family[] => {
  const kv = (name: string, which: "new" | "old"): Family => ({
    name,
    type: "gauge",
    series: PODS.filter((p) => (p.names as readonly string[]).includes(which)).map((p) => ({ name, labels: { ...ns, pod: p.pod }, samples: times.map((t) => ({ t, v: p.kv })) })),
  });
  const hist = (name: string, which: "new" | "old"): Family => ({
    name,
    type: "histogram",
    series: PODS.filter((p) => (p.names as readonly string[]).includes(which)).flatMap((p) => [
      ...[...BUCKETS, Infinity].map((le) => ({
        name: `${name}_bucket`,
        labels: { ...ns, pod: p.pod, le: le === Infinity ? "+Inf" : String(le) },
        samples: times.map((t, i) => ({ t, v: p.latency <= le ? i * p.perStep : 0 })),
      })),
      { name: `${name}_count`, labels: { ...ns, pod: p.pod }, samples: times.map((t, i) => ({ t, v: i * p.perStep })) },
      { name: `${name}_sum`, labels: { ...ns, pod: p.pod }, samples: times.map((t, i) => ({ t, v: i * p.perStep * p.latency })) },
    ]),
  });
  return [
    kv("kserve_vllm:kv_cache_usage_perc", "new"),
    kv("kserve_vllm:gpu_cache_usage_perc", "old"),
    hist("kserve_vllm:inter_token_latency_seconds", "new"),
    hist("kserve_vllm:time_per_output_token_seconds", "old"),
  ];
};

const VALUES = { namespace: "t-models", model: ".*", __rate_interval: "1m", __range: "600s", __interval: "15s" };

let prom: RunningPrometheus;
beforeAll(async () => {
  prom = await startPrometheusWithData(toOpenMetrics(families()));
});
afterAll(async () => {
  await prom?.stop();
});

describe("vLLM older metric names", () => {
  const p = tenantModelUsagePanels("kserve_vllm", prometheusDs("test"));

  it("GPU KV-cache utilisation averages every pod once, whichever name it exposes", async () => {
    const r = await prom.vector(interpolate(p.kvCache.targets[0]!.expr, VALUES), EVAL);
    expect(r.map((s) => s.metric)).toEqual([{ model_name: "llama" }]);
    expect(Number(r[0]!.value[1])).toBeCloseTo((0.2 + 0.6 + 0.4) / 3, 12);
  });

  it("P95 inter-token latency reads the older histogram too, and a pod with both names once", async () => {
    const r = await prom.vector(interpolate(p.itlP95.targets[0]!.expr, VALUES), EVAL);
    // 50 observations per step: new-0 10 at 0.02, old-0 30 at 0.08, both-0 10 at 0.04 (counted once).
    // The 95th percentile lies among old-0's, in the bucket (0.05, 0.1].
    const v = Number(r[0]!.value[1]);
    expect(v).toBeGreaterThan(0.05);
    expect(v).toBeLessThanOrEqual(0.1);
    // Counting both-0 twice would put 60 observations per step; check the count the panel sums.
    const count = await prom.vector(
      interpolate(p.itlP95.targets[0]!.expr.replace(/^histogram_quantile\(0\.95, (.*)\)$/, "$1").replace("sum by (le, model_name)", 'sum by (model_name)').replace(/_bucket\{/g, '_bucket{le="+Inf", '), VALUES),
      EVAL,
    );
    expect(Number(count[0]!.value[1]) * 60).toBeCloseTo(50 * 4, 9);
  });

  it("the check can fail: without the fallback the old pod is invisible", async () => {
    const r = await prom.vector(interpolate("avg by (model_name) (kserve_vllm:kv_cache_usage_perc{namespace=~\"$namespace\"})", VALUES), EVAL);
    expect(Number(r[0]!.value[1])).toBeCloseTo((0.2 + 0.4) / 2, 12);
  });
});
