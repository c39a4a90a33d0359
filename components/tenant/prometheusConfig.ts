import { stringify } from "yaml";
import type { GatewayCounterSuffix, VllmFamily } from "../contract";

/*
 * The tenant Prometheus configuration, as a pure function so tests can run it through the real
 * `promtool check config`.
 *
 * Federated mode (default): the only scrape targets are the platform-owned prom-label-proxy
 * endpoints for this tenant (models, gateway and, when the platform exports it, billing). The
 * match[] selectors below only pick metric families; which tenant's series come back is decided by
 * the proxy (it adds `namespace=~…`, `route_namespace=~…` or `tenant=…` to every selector), so a
 * tenant who edits this config still sees only its own series.
 *
 * Direct mode (opt-in, NOT isolated): scrapes the central federation endpoint with the pod's service
 * account token. The namespace selectors are then only a courtesy: the token can read every tenant.
 */

/** Limitador counters federated for the gateway dashboards and billing cross-checks (field notes §2.1). */
export const LIMITADOR_METRICS = ["authorized_hits", "authorized_calls", "limited_calls"] as const;

/** The Limitador counters under the platform's counter suffix: one name each, never both spellings. */
export const limitadorMetricNames = (suffix: GatewayCounterSuffix = ""): string[] => LIMITADOR_METRICS.map((m) => `${m}${suffix}`);

export interface PrometheusConfigInput {
  /** Tenant name; becomes the `tenant` external label. */
  tenant: string;
  /** Scrape and rule evaluation interval. */
  scrapeInterval: string;
  /** vLLM metric-name family. */
  vllmMetricFamily: VllmFamily;
  /** How Limitador's counters are named centrally (platform output `gatewayCounterSuffix`). Defaults to "". */
  gatewayCounterSuffix?: GatewayCounterSuffix;
  /** Rule files to load (paths inside the container). */
  ruleFiles?: string[];
  /** Base URL of the tenant's Alertmanager (e.g. http://t-alertmanager.t-monitoring.svc:9093); none = no `alerting:` block. */
  alertmanagerUrl?: string;
  /** Where series come from. */
  source:
    | { mode: "federated"; modelsUrl: string; gatewayUrl: string; billingUrl?: string }
    | { mode: "direct"; url: string; namespaces: string[] };
}

/** Splits a base URL into the pieces a Prometheus static scrape config needs. */
export function scrapeTarget(baseUrl: string): { scheme: "http" | "https"; target: string; metricsPath: string } {
  const u = new URL(baseUrl);
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw new Error(`federation URL ${JSON.stringify(baseUrl)}: expected http or https`);
  }
  const scheme = u.protocol === "https:" ? "https" : "http";
  const port = u.port || (scheme === "https" ? "443" : "80");
  const prefix = u.pathname.replace(/\/+$/, "");
  return { scheme, target: `${u.hostname}:${port}`, metricsPath: `${prefix}/federate` };
}

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

function federateJob(jobName: string, baseUrl: string, match: string[], extra: Record<string, unknown> = {}) {
  const t = scrapeTarget(baseUrl);
  return {
    job_name: jobName,
    // Keep the labels of the central series (namespace, model_name, limitador_namespace, user, tier).
    honor_labels: true,
    metrics_path: t.metricsPath,
    scheme: t.scheme,
    params: { "match[]": match },
    static_configs: [{ targets: [t.target] }],
    ...extra,
  };
}

/** The `alerting.alertmanagers` entry for one Alertmanager base URL. */
function alertmanagerTarget(baseUrl: string) {
  const u = new URL(baseUrl);
  const scheme = u.protocol === "https:" ? "https" : "http";
  const prefix = u.pathname.replace(/\/+$/, "");
  return {
    scheme,
    ...(prefix ? { path_prefix: prefix } : {}),
    api_version: "v2",
    static_configs: [{ targets: [`${u.hostname}:${u.port || (scheme === "https" ? "443" : "80")}`] }],
  };
}

/** Renders prometheus.yml for one tenant. */
export function renderPrometheusConfig(input: PrometheusConfigInput): string {
  const vllm = `{__name__=~"${input.vllmMetricFamily}:.+"}`;
  const limitadorNames = limitadorMetricNames(input.gatewayCounterSuffix).join("|");
  const limitador = `{__name__=~"${limitadorNames}"}`;
  let jobs: Record<string, unknown>[];
  if (input.source.mode === "federated") {
    jobs = [
      federateJob("federate-models", input.source.modelsUrl, [vllm]),
      federateJob("federate-gateway", input.source.gatewayUrl, [limitador]),
      // Billing-service series (usage, price book) when the platform offers a `tenant`-enforcing proxy.
      ...(input.source.billingUrl ? [federateJob("federate-billing", input.source.billingUrl, ['{__name__=~"maas_billing_.+"}'])] : []),
    ];
  } else {
    const ns = input.source.namespaces.map(escapeRegex).join("|");
    const token = "/var/run/secrets/kubernetes.io/serviceaccount/token";
    const auth = {
      authorization: { credentials_file: token },
      // OpenShift's service CA (mounted next to the token): UWM's federation port uses a service-CA certificate.
      ...(scrapeTarget(input.source.url).scheme === "https"
        ? { tls_config: { ca_file: "/var/run/secrets/kubernetes.io/serviceaccount/service-ca.crt" } }
        : {}),
    };
    jobs = [
      federateJob(
        "federate-direct",
        input.source.url,
        [
          `{namespace=~"${ns}",__name__=~"${input.vllmMetricFamily}:.+"}`,
          `{__name__=~"${limitadorNames}",limitador_namespace=~"(${ns})/.*"}`,
        ],
        auth,
      ),
    ];
  }
  const config = {
    global: {
      scrape_interval: input.scrapeInterval,
      evaluation_interval: input.scrapeInterval,
      external_labels: { tenant: input.tenant },
    },
    ...(input.ruleFiles?.length ? { rule_files: input.ruleFiles } : {}),
    ...(input.alertmanagerUrl ? { alerting: { alertmanagers: [alertmanagerTarget(input.alertmanagerUrl)] } } : {}),
    scrape_configs: [
      ...jobs,
      // Its own health, for the "is my Prometheus up" panel.
      { job_name: "prometheus", static_configs: [{ targets: ["localhost:9090"] }] },
    ],
  };
  return stringify(config, { lineWidth: 0 });
}
