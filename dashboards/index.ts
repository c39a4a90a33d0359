/**
 * Dashboards and alert rules as code (issue #5). Pure functions: no Pulumi, no I/O.
 *
 * Exported API (what the Platform and TenantStack components and `npm run dashboards` call):
 *
 * - `tenantDashboards({ vllmFamily, tenant, tierLabel?, counterSuffix?, tokenLimits?, datasourceUid?, includeBilling?, portalUrl? })`
 *     => `Record<fileName, DashboardJson>` with `tenant-model-usage.json`,
 *     `token-usage-chargeback.json` and, with `includeBilling`, `billing.json` (pinned to the tenant), for a tenant Grafana.
 *     Panels use the datasource uid `TENANT_PROMETHEUS_DS_UID` unless `datasourceUid` is given:
 *     provision the tenant Prometheus datasource with exactly that uid. The chargeback cost panels need the tenant's
 *     `maas_billing_period_cost_minor_total{tenant="<tenant>"}` (draft-invoice lines) in that Prometheus (see docs/dashboards.md).
 * - `platformDashboards({ datasourceUid? })` => `{ "billing.json": DashboardJson }` for the platform
 *     Grafana; datasource uid `PLATFORM_PROMETHEUS_DS_UID` by default (a Prometheus that scrapes the
 *     billing service). `billingDashboard({ tenant })` gives a tenant-pinned copy.
 * - `platformPrometheusRules({ vllmFamily, tierLabel?, collectorLagThresholdSeconds?, runbookBaseUrl? })`
 *     => `{ groups }`: the `spec` of a monitoring.coreos.com/v1 PrometheusRule for the central
 *     Prometheus (token-rate recording rules, quota 80%/100%, Limitador counter reset, scrape down,
 *     billing collector lag / absent).
 * - `tenantPrometheusRules({ vllmFamily, tierLabel?, federationJobPattern?, runbookBaseUrl? })`
 *     => `{ groups }` for a tenant Prometheus (token-rate recording rules, federation down/empty);
 *     also a valid rule file when the tenant Prometheus is not operator-managed.
 * - `dashboardProviderConfig(folder, path)`: the Grafana provisioning provider file matching these dashboards.
 *
 * Every dashboard has a fixed uid, a description on every panel, UTC time zone (so "today" is the
 * billing service's day) and only variables that exist. The vLLM family is chosen, never matched
 * with a regex over both families (newer KServe exposes both, which would double every count).
 */
import { type DashboardJson, type DashboardLink, type GatewayCounterSuffix, type TierLabel, type VllmFamily, TENANT_PROMETHEUS_DS_UID } from "./common";
import { billingDashboard } from "./billing";
import { tenantModelUsageDashboard } from "./tenant-model-usage";
import { type TierTokenLimit, tokenUsageChargebackDashboard } from "./token-usage-chargeback";

export * from "./common";
export { billingDashboard, billingPanels, BILLING_UID } from "./billing";
export { tenantModelUsageDashboard, tenantModelUsagePanels, TENANT_MODEL_USAGE_UID, TODAY_CAVEAT } from "./tenant-model-usage";
export { tokenUsageChargebackDashboard, tokenUsageChargebackPanels, usageAgainstLimitsExpr, TOKEN_USAGE_CHARGEBACK_UID, type TierTokenLimit } from "./token-usage-chargeback";
export * from "./rules";

export interface TenantDashboardsOptions {
  /** vLLM metric-name family of the model servers (platform output `vllmMetricFamily`). */
  readonly vllmFamily: VllmFamily;
  /** Tenant name as the billing service labels it. */
  readonly tenant: string;
  /** Label carrying the tier on Limitador series. Defaults to "tier". */
  readonly tierLabel?: TierLabel;
  /** How Limitador's counters are named (platform output `gatewayCounterSuffix`). Defaults to "". */
  readonly counterSuffix?: GatewayCounterSuffix;
  /** The tenant's token limits per tier: the "usage against token limits" panel (none: no panel). */
  readonly tokenLimits?: readonly TierTokenLimit[];
  /** Datasource uid of the tenant Prometheus. Defaults to TENANT_PROMETHEUS_DS_UID. */
  readonly datasourceUid?: string;
  /**
   * Add `billing.json`, the billing dashboard pinned to this tenant. Only useful when the tenant
   * Prometheus federates the tenant's maas_billing_* series (a tenant-enforcing billing proxy).
   * Defaults to false.
   */
  readonly includeBilling?: boolean;
  /**
   * External URL of the tenant billing portal (platform output `billingPortalUrl`): every tenant
   * dashboard gets a "Billing portal" link to the tenant's own pages there. No link when unset.
   */
  readonly portalUrl?: string;
}

/** Dashboards for a tenant's Grafana, keyed by file name. */
export const tenantDashboards = (o: TenantDashboardsOptions): Record<string, DashboardJson> => {
  const dashboards: Record<string, DashboardJson> = {
    "tenant-model-usage.json": tenantModelUsageDashboard(o),
    "token-usage-chargeback.json": tokenUsageChargebackDashboard(o),
    ...(o.includeBilling === true
      ? { "billing.json": billingDashboard({ tenant: o.tenant, datasourceUid: o.datasourceUid ?? TENANT_PROMETHEUS_DS_UID }) }
      : {}),
  };
  if (!o.portalUrl) return dashboards;
  const link = portalLink(o.portalUrl, o.tenant);
  return Object.fromEntries(Object.entries(dashboards).map(([file, d]) => [file, { ...d, links: [...(d.links ?? []), link] }]));
};

/** A dashboard link (top right in Grafana) to the tenant's pages of the billing portal. */
export const portalLink = (portalUrl: string, tenant: string): DashboardLink => ({
  title: "Billing portal: cost, quotas, invoices",
  type: "link",
  url: `${portalUrl.replace(/\/?$/, "/")}t/${encodeURIComponent(tenant)}/`,
  icon: "dashboard",
  tooltip: "Month-to-date cost, usage downloads, quotas and invoices (sign in with your tenant billing token)",
  targetBlank: true,
  asDropdown: false,
  includeVars: false,
  keepTime: false,
  tags: [],
});

export interface PlatformDashboardsOptions {
  /** Datasource uid of the Prometheus with maas_billing_* series. Defaults to PLATFORM_PROMETHEUS_DS_UID. */
  readonly datasourceUid?: string;
}

/** Dashboards for the platform team's Grafana, keyed by file name. */
export const platformDashboards = (o: PlatformDashboardsOptions = {}): Record<string, DashboardJson> => ({
  "billing.json": billingDashboard(o),
});

/** Grafana dashboard provider file (`apiVersion: 1`) that loads the JSON files from `path`. */
export const dashboardProviderConfig = (folder: string, path: string) => ({
  apiVersion: 1,
  providers: [
    {
      name: "maas-billing",
      folder,
      type: "file",
      disableDeletion: true,
      allowUiUpdates: false,
      updateIntervalSeconds: 60,
      options: { path, foldersFromFilesStructure: false },
    },
  ],
});
