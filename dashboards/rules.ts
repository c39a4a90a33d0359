// Recording and alerting rules as data. The return value is both the `spec` of a
// monitoring.coreos.com/v1 PrometheusRule and a valid Prometheus rule file (`promtool check rules`).
import { type GatewayCounterSuffix, type TierLabel, type VllmFamily, gatewayCounter, vllmMetric } from "./common";
import type { TierTokenLimit } from "./token-usage-chargeback";

export interface RecordingRule {
  readonly record: string;
  readonly expr: string;
}

export interface AlertingRule {
  readonly alert: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels: { readonly severity: "warning" | "critical"; readonly [k: string]: string };
  readonly annotations: { readonly summary: string; readonly description: string; readonly runbook: string; readonly runbook_url?: string };
}

export type Rule = RecordingRule | AlertingRule;

export interface RuleGroup {
  readonly name: string;
  readonly rules: readonly Rule[];
}

export interface PrometheusRuleSpec {
  readonly groups: readonly RuleGroup[];
}

export interface RuleOptions {
  /** vLLM metric-name family (platform output `vllmMetricFamily`). */
  readonly vllmFamily: VllmFamily;
  /** Label carrying the tier on Limitador series. Defaults to "tier". */
  readonly tierLabel?: TierLabel;
  /** How Limitador's counters are named (platform output `gatewayCounterSuffix`). Defaults to "". */
  readonly counterSuffix?: GatewayCounterSuffix;
  /** Collector lag (seconds) that counts as lagging. Defaults to 900 (15 minutes). */
  readonly collectorLagThresholdSeconds?: number;
  /** Base URL of the runbooks; when set each alert gets `runbook_url: <base>#<alert in lower case>`. */
  readonly runbookBaseUrl?: string;
}

export interface TenantRuleOptions extends RuleOptions {
  /** Regex of the tenant Prometheus's federation scrape job names. Defaults to "federate.*". */
  readonly federationJobPattern?: string;
  /** The tenant's token limits per tier (its TokenRateLimitPolicy): the usage-against-limit alert. None: no alert. */
  readonly tokenLimits?: readonly TierTokenLimit[];
}

/** Share of a token limit at which MaasUserNearTokenLimit fires. */
export const TOKEN_LIMIT_WARNING_RATIO = 0.8;

/** Usage anomaly: the last 30 minutes above this multiple of the day before... */
export const ANOMALY_FACTOR = 3;
/** ...and above this many tokens per second (idle namespaces do not alert on their first calls). */
export const ANOMALY_MIN_TOKENS_PER_SECOND = 1;

/** Ratio of a quota at which the warning fires (the critical alert fires at 1). */
export const QUOTA_WARNING_RATIO = 0.8;

const alert = (o: RuleOptions, a: Omit<AlertingRule, "annotations"> & { annotations: Omit<AlertingRule["annotations"], "runbook_url"> }): AlertingRule => ({
  ...a,
  annotations: {
    ...a.annotations,
    ...(o.runbookBaseUrl === undefined ? {} : { runbook_url: `${o.runbookBaseUrl}#${a.alert.toLowerCase()}` }),
  },
});

/** Per-model token rates from the model servers, named level:metric:operation. */
const vllmTokenRates = (family: VllmFamily, by: string): RecordingRule[] =>
  (["prompt_tokens", "generation_tokens"] as const).map((name) => ({
    record: `${by.replace(/, /g, "_")}:${family}_${name}:rate5m`,
    expr: `sum by (${by}) (rate(${vllmMetric(family, `${name}_total`)}[5m]))`,
  }));

/** Rules for the platform (central) Prometheus: billing, quota, Limitador and scrape health. */
export const platformPrometheusRules = (o: RuleOptions): PrometheusRuleSpec => {
  const tier = o.tierLabel ?? "tier";
  const hits = gatewayCounter("authorized_hits", o.counterSuffix);
  const calls = gatewayCounter("authorized_calls", o.counterSuffix);
  const lag = o.collectorLagThresholdSeconds ?? 900;
  return {
    groups: [
      {
        name: "maas-billing.recording",
        rules: [
          {
            record: "tenant_model_tier_direction:maas_billing_usage_tokens:rate5m",
            expr: "sum by (tenant, model, tier, direction) (rate(maas_billing_usage_tokens_total[5m]))",
          },
          {
            record: `route_namespace_${tier}:authorized_hits:rate5m`,
            expr: `sum by (route_namespace, ${tier}) (rate(${hits}[5m]))`,
          },
          ...vllmTokenRates(o.vllmFamily, "namespace, model_name"),
        ],
      },
      {
        name: "maas-billing.quota",
        rules: [
          alert(o, {
            alert: "MaasQuotaNearlyExhausted",
            expr: `max by (tenant, kind, period) (maas_billing_quota_used_ratio) >= ${QUOTA_WARNING_RATIO} < 1`,
            for: "5m",
            labels: { severity: "warning" },
            annotations: {
              summary: "Tenant {{ $labels.tenant }} has used {{ $value | humanizePercentage }} of its {{ $labels.period }} {{ $labels.kind }} quota",
              description: "The billing service reports quota use at or above 80% for tenant {{ $labels.tenant }} ({{ $labels.kind }}, {{ $labels.period }}).",
              runbook:
                "Tell the tenant admin; check usage by user and model on the chargeback dashboard. Raise the quota in the billing service if the use is expected, otherwise find the user or key driving it.",
            },
          }),
          alert(o, {
            alert: "MaasQuotaExhausted",
            expr: "max by (tenant, kind, period) (maas_billing_quota_used_ratio) >= 1",
            for: "1m",
            labels: { severity: "critical" },
            annotations: {
              summary: "Tenant {{ $labels.tenant }} has exhausted its {{ $labels.period }} {{ $labels.kind }} quota",
              description: "Quota use is {{ $value | humanizePercentage }} for tenant {{ $labels.tenant }} ({{ $labels.kind }}, {{ $labels.period }}); further use is overage.",
              runbook:
                "Confirm with the tenant whether overage is accepted. If not, lower the tenant's token rate limits (TokenRateLimitPolicy) or raise the quota; overage appears on the draft invoice.",
            },
          }),
        ],
      },
      {
        name: "maas-billing.limitador",
        rules: [
          alert(o, {
            alert: "MaasLimitadorCounterReset",
            // resets() sees a container restart in place; the sum dropping below its value 10m ago
            // also catches a replaced pod, whose new series start from zero under a new pod label.
            expr: `sum by (limitador_namespace) (resets(${calls}[10m])) > 0 or sum by (limitador_namespace) (${calls}) < sum by (limitador_namespace) (${calls} offset 10m)`,
            labels: { severity: "warning" },
            annotations: {
              summary: "Limitador counters for {{ $labels.limitador_namespace }} were reset",
              description: "Limitador keeps counters in memory; a restart resets them and the rate-limit windows start over.",
              runbook:
                "Check Limitador pod restarts in kuadrant-system. Usage between the last scrape and the restart is lost to Prometheus; the billing collector counts on from zero and flags the reset (Billing dashboard, counter resets). Use Redis storage for Limitador to keep counters across restarts.",
            },
          }),
        ],
      },
      {
        name: "maas-billing.anomaly",
        rules: [
          alert(o, {
            alert: "MaasUsageAnomaly",
            // Gateway tokens per route namespace over the last 30 minutes against the same
            // namespace's average over the day before (offset: the spike itself is not in the
            // baseline); a floor keeps idle namespaces from alerting on their first requests.
            expr:
              `sum by (route_namespace) (rate(${hits}[30m])) > ${ANOMALY_FACTOR} * sum by (route_namespace) (rate(${hits}[1d] offset 30m))` +
              ` and sum by (route_namespace) (rate(${hits}[30m])) > ${ANOMALY_MIN_TOKENS_PER_SECOND}`,
            for: "15m",
            labels: { severity: "warning" },
            annotations: {
              summary: "Token use in {{ $labels.route_namespace }} is more than ${ANOMALY_FACTOR}x its daily average",
              description: `Tokens per second through the gateway for {{ $labels.route_namespace }} over the last 30 minutes are {{ $value }}, more than ${ANOMALY_FACTOR} times the average of the day before, for 15 minutes.`,
              runbook:
                "Check the chargeback dashboard for the user or key driving it (tokens by user, top users). A leaked key: rotate it. Expected load: raise the tenant's quota or limits, and the bill follows.",
            },
          }),
        ],
      },
      {
        name: "maas-billing.scrape",
        rules: [
          alert(o, {
            alert: "MaasScrapeTargetDown",
            expr: "up == 0",
            for: "5m",
            labels: { severity: "critical" },
            annotations: {
              summary: "Scrape target {{ $labels.job }} / {{ $labels.instance }} is down",
              description: "Prometheus could not scrape {{ $labels.instance }} (job {{ $labels.job }}) for 5 minutes; usage from it is not being recorded.",
              runbook:
                "Check the target pod and its ServiceMonitor/PodMonitor, then the Prometheus targets page for the scrape error. Usage is recovered after the fact only if the counters were not reset meanwhile.",
            },
          }),
        ],
      },
      {
        name: "maas-billing.collector",
        rules: [
          alert(o, {
            alert: "MaasBillingCollectorLagging",
            expr: `max by (source) (maas_billing_collector_lag_seconds) > ${lag}`,
            for: "10m",
            labels: { severity: "warning" },
            annotations: {
              summary: "Billing collector is {{ $value | humanizeDuration }} behind for {{ $labels.source }}",
              description: `The billing collector's last complete window for {{ $labels.source }} is more than ${lag}s old.`,
              runbook:
                "Check the billing service logs and its database connection, and that the central Prometheus answers query_range. The collector catches up by itself once the cause is fixed; invoices for the open period stay drafts meanwhile.",
            },
          }),
          alert(o, {
            alert: "MaasBillingCollectorMetricsAbsent",
            expr: "absent(maas_billing_collector_lag_seconds)",
            for: "15m",
            labels: { severity: "critical" },
            annotations: {
              summary: "The billing collector reports no lag metric",
              description: "No maas_billing_collector_lag_seconds series for 15 minutes: the billing service is not scraped or its collector is not running.",
              runbook: "Check the billing service Deployment, its ServiceMonitor, and the MaasScrapeTargetDown alert.",
            },
          }),
        ],
      },
    ],
  };
};

/** Rules for a tenant Prometheus: token-rate recording rules for its dashboards and federation health. */
export const tenantPrometheusRules = (o: TenantRuleOptions): PrometheusRuleSpec => {
  const tier = o.tierLabel ?? "tier";
  const jobs = o.federationJobPattern ?? "federate.*";
  const hits = gatewayCounter("authorized_hits", o.counterSuffix);
  const limits = o.tokenLimits ?? [];
  return {
    groups: [
      {
        name: "maas-tenant.recording",
        rules: [
          ...vllmTokenRates(o.vllmFamily, "model_name"),
          { record: `${tier}:authorized_hits:rate5m`, expr: `sum by (${tier}) (rate(${hits}[5m]))` },
          { record: "model:authorized_hits:rate5m", expr: `sum by (model) (rate(${hits}[5m]))` },
        ],
      },
      ...(limits.length > 0
        ? [
            {
              name: "maas-tenant.limits",
              rules: [
                alert(o, {
                  alert: "MaasUserNearTokenLimit",
                  // Per user: tokens in the limit's window over the limit, one term per (tier, limit).
                  // The window rides as a label, so two limits of one tier are two alerts, not one lost to `or`.
                  expr: limits
                    .map(
                      (l) =>
                        `label_replace(sum by (user, ${tier}) (increase(${hits}{${tier}="${l.tier}"}[${l.window}])) / ${l.limit}, "window", "${l.window}", "", "") >= ${TOKEN_LIMIT_WARNING_RATIO}`,
                    )
                    .join(" or "),
                  for: "5m",
                  labels: { severity: "warning" },
                  annotations: {
                    summary: `User {{ $labels.user }} ({{ $labels.${tier} }}) is at {{ $value | humanizePercentage }} of its {{ $labels.window }} token limit`,
                    description: `For 5 minutes user {{ $labels.user }} of ${tier} {{ $labels.${tier} }} has used at least ${TOKEN_LIMIT_WARNING_RATIO * 100}% of the tokens the tenant's TokenRateLimitPolicy allows per window; above it the gateway answers 429.`,
                    runbook:
                      "Check the user's usage on the chargeback dashboard (usage against token limits, token rate per user). Expected load: move the key to a higher tier or raise the tier's tokenRates in the tenant stack. Unexpected: rotate the key.",
                  },
                }),
              ],
            },
          ]
        : []),
      {
        name: "maas-tenant.federation",
        rules: [
          alert(o, {
            alert: "MaasFederationDown",
            expr: `up{job=~"${jobs}"} == 0`,
            for: "5m",
            labels: { severity: "critical" },
            annotations: {
              summary: "Federation scrape {{ $labels.job }} is failing",
              description: "The tenant Prometheus could not federate from {{ $labels.instance }} for 5 minutes; dashboards have a gap.",
              runbook:
                "Check the platform's federation proxy for this tenant (its pod, NetworkPolicy and upstream token) and the scrape error on the tenant Prometheus targets page. Billing is not affected: the billing collector reads the central Prometheus.",
            },
          }),
          alert(o, {
            alert: "MaasFederationEmpty",
            expr: `scrape_samples_scraped{job=~"${jobs}"} == 0`,
            for: "10m",
            labels: { severity: "warning" },
            annotations: {
              summary: "Federation scrape {{ $labels.job }} returns no series",
              description: "The federation endpoint answers but returns no samples for 10 minutes.",
              runbook:
                "Check that the tenant's namespaces in the platform registry match where its models run, that the match[] selectors use the configured vLLM family, and that Limitador series carry route_namespace.",
            },
          }),
        ],
      },
    ],
  };
};
