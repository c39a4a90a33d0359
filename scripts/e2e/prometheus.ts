// A real Prometheus (the test kit's binary and backfill) loaded with series of two tenants, so the
// label-enforcing proxies can be checked against a real PromQL engine and /federate.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "../../billing-service/src/net/free-port";
import { toOpenMetrics, type Family, type Labels } from "../../billing-service/testkit/openmetrics";
import { backfill, PROMETHEUS_BIN } from "../../billing-service/testkit/prometheus";
import { startProcess, waitUntilReady } from "./processes";

export interface TenantSeriesSpec {
  tenant: string;
  namespaces: string[];
}

/** Metric names used in the fixture; the same names the dashboards and federation use (contract §Metric names). */
export const MODEL_METRIC = "vllm:prompt_tokens_total";
/** The same model series under the KServe family name (`vllmMetricFamily: kserve_vllm`). */
export const KSERVE_MODEL_METRIC = "kserve_vllm:prompt_tokens_total";
export const GATEWAY_METRIC = "authorized_hits";
/** A billing-service series; it names the tenant in `tenant` (contract: Billing service metrics). */
export const BILLING_METRIC = "maas_billing_usage_tokens_total";
/** The model label of the series a tenant plants for another tenant (fixtureSeries). */
export const FORGED_MODEL = "forged";

/** Namespaces the central Prometheus scrapes billing and Limitador series in (the `namespace` label they carry). */
export interface SeriesSources {
  billing: string;
  gateway: string;
}
const DEFAULT_SOURCES: SeriesSources = { billing: "maas-billing", gateway: "kuadrant-system" };

/**
 * OpenMetrics text with, per tenant namespace, one model-server series per vLLM family (tenant namespace in
 * `namespace`) and one Limitador series (Limitador's own namespace in `namespace`, the route's in
 * `limitador_namespace` and, after the platform's relabeling, in `route_namespace`), and per tenant one
 * billing-service series (tenant name in `tenant`), sampled every
 * 15 s over the ten minutes up to `endSeconds`.
 */
export function fixtureSeries(tenants: TenantSeriesSpec[], endSeconds: number, sources: SeriesSources = DEFAULT_SOURCES): string {
  const times = Array.from({ length: 40 }, (_, i) => endSeconds - (39 - i) * 15);
  const series = (name: string, labels: Labels, step: number) => ({ name, labels, samples: times.map((t, i) => ({ t, v: step * i })) });
  const family = (name: string, members: Family["series"]): Family => ({ name, type: "unknown", series: members });
  const namespaces = tenants.flatMap((t) => t.namespaces);
  // Planted by each tenant's pods (scraped in its own namespace) to show up in every other tenant's
  // dashboards: the billing and gateway proxies must refuse them (issue #14 hole 3).
  const planted = tenants.flatMap(({ tenant, namespaces: own }) => tenants.filter((o) => o.tenant !== tenant).map((other) => ({ from: own[0], other })));
  return toOpenMetrics([
    family(BILLING_METRIC, [
      ...tenants.map(({ tenant }) => series(BILLING_METRIC, { namespace: sources.billing, tenant, model: "granite", tier: "free", direction: "input" }, 1000)),
      ...planted.map(({ from, other }) => series(BILLING_METRIC, { namespace: from, tenant: other.tenant, model: FORGED_MODEL, tier: "free", direction: "input" }, 1)),
    ]),
    ...[MODEL_METRIC, KSERVE_MODEL_METRIC].map((metric) =>
      family(metric, namespaces.map((ns) => series(metric, { namespace: ns, model_name: "granite", pod: "vllm-0" }, 100))),
    ),
    family(GATEWAY_METRIC, [
      ...namespaces.map((ns) =>
        series(GATEWAY_METRIC, { namespace: sources.gateway, limitador_namespace: `${ns}/llm-route`, route_namespace: ns, model: "granite", user: "alice" }, 10),
      ),
      ...planted.map(({ from, other }) => series(GATEWAY_METRIC, { namespace: from, route_namespace: other.namespaces[0], model: FORGED_MODEL, user: "mallory" }, 1)),
    ]),
  ]);
}

export interface RunningPrometheus {
  url: string;
  /** Evaluation time of the newest fixture sample, for instant queries. */
  evalTime: number;
}

/** Backfills the fixture with `promtool tsdb create-blocks-from openmetrics` and serves it. */
export async function startPrometheus(workDir: string, tenants: TenantSeriesSpec[], sources: SeriesSources = DEFAULT_SOURCES): Promise<RunningPrometheus> {
  const evalTime = Math.floor(Date.now() / 1000);
  const fixture = fixtureSeries(tenants, evalTime, sources);
  return { ...(await startPrometheusWith(workDir, "prometheus", "global:\n  scrape_interval: 1m\nscrape_configs: []\n", fixture)), evalTime };
}

/**
 * Starts a Prometheus named `name` with config text `configYaml` (written next to its data), after
 * backfilling `openMetrics` into its TSDB when given, on `port` (default: a free one).
 */
export async function startPrometheusWith(
  workDir: string,
  name: string,
  configYaml: string,
  openMetrics?: string,
  port?: number,
): Promise<{ url: string }> {
  const dir = join(workDir, name);
  const data = join(dir, "data");
  mkdirSync(data, { recursive: true });
  if (openMetrics !== undefined) await backfill(openMetrics, data, dir);
  const config = join(dir, "prometheus.yml");
  writeFileSync(config, configYaml);
  port ??= await freePort();
  const url = `http://127.0.0.1:${port}`;
  const proc = startProcess(
    name,
    PROMETHEUS_BIN,
    [`--config.file=${config}`, `--storage.tsdb.path=${data}`, `--web.listen-address=127.0.0.1:${port}`],
    join(workDir, "logs"),
  );
  await waitUntilReady(proc, async () => (await fetch(`${url}/-/ready`)).ok, 60_000);
  return { url };
}

/** Starts one prom-label-proxy with `enforcementArgs` (label and values) in front of `upstream`. */
export async function startLabelProxy(
  binDir: string,
  workDir: string,
  name: string,
  upstream: string,
  enforcementArgs: string[],
  guardArgs?: string[],
): Promise<string> {
  // A pod with a namespace guard: the guard talks to Prometheus, the proxy to the guard (as rendered).
  if (guardArgs) upstream = await startLabelProxy(binDir, workDir, `${name}-namespace-guard`, upstream, guardArgs);
  const port = await freePort();
  const proc = startProcess(
    name,
    join(binDir, "prom-label-proxy"),
    [...enforcementArgs, `-upstream=${upstream}`, `-insecure-listen-address=127.0.0.1:${port}`],
    join(workDir, "logs"),
  );
  const url = `http://127.0.0.1:${port}`;
  await waitUntilReady(proc, async () => (await fetch(`${url}/healthz`)).ok, 30_000);
  return url;
}

export interface Sample {
  metric: Record<string, string>;
}

/** Instant query; returns the result vector (throws on a non-success answer). */
export async function instantQuery(baseUrl: string, query: string, time: number): Promise<Sample[]> {
  const res = await fetch(`${baseUrl}/api/v1/query?${new URLSearchParams({ query, time: String(time) })}`);
  const body = (await res.json()) as { status: string; data?: { result: Sample[] }; error?: string };
  if (body.status !== "success" || !body.data) throw new Error(`query ${query} failed: HTTP ${res.status} ${body.error ?? ""}`);
  return body.data.result;
}

/** The `/federate` answer for `match`, as the list of series label sets it contains. */
export async function federate(baseUrl: string, match: string): Promise<Array<Record<string, string>>> {
  const res = await fetch(`${baseUrl}/federate?${new URLSearchParams({ "match[]": match })}`);
  if (!res.ok) throw new Error(`federate ${match} failed: HTTP ${res.status}`);
  const text = await res.text();
  const series: Array<Record<string, string>> = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const open = line.indexOf("{");
    const close = line.lastIndexOf("}");
    const labels: Record<string, string> = { __name__: line.slice(0, open) };
    for (const m of line.slice(open + 1, close).matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[m[1]] = m[2];
    }
    series.push(labels);
  }
  return series;
}
