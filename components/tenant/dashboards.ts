import { tenantDashboards, type TierTokenLimit } from "../../dashboards";
import type { TenantTier } from "../config/tenant";
import type { GatewayCounterSuffix, TierLabel, VllmFamily } from "../contract";
import { TENANT_PROMETHEUS_DATASOURCE_UID } from "./grafana";

/**
 * The token limits of the tenant's tiers as its TokenRateLimitPolicy applies them (per user and
 * window): what the "usage against token limits" panel and the MaasUserNearTokenLimit rule compare
 * usage with. A Kuadrant window (`1m`, `1h30m`) is also a Prometheus duration.
 */
export function tierTokenLimits(tiers: readonly TenantTier[]): TierTokenLimit[] {
  return tiers.flatMap((t) => t.tokenRates.map((r) => ({ tier: t.name, limit: r.limit, window: r.window })));
}

/**
 * Dashboard files for a tenant Grafana (file name -> JSON text), from dashboards/. `includeBilling`
 * adds the tenant-pinned billing dashboard: only when the tenant Prometheus federates its
 * maas_billing_* series (the platform exports a `billingUrl` for this tenant).
 */
export function tenantDashboardFiles(options: {
  tenant: string;
  vllmFamily: VllmFamily;
  tierLabel: TierLabel;
  counterSuffix?: GatewayCounterSuffix;
  tokenLimits?: readonly TierTokenLimit[];
  includeBilling?: boolean;
  portalUrl?: string;
}): Record<string, string> {
  const dashboards = tenantDashboards({ ...options, datasourceUid: TENANT_PROMETHEUS_DATASOURCE_UID });
  return Object.fromEntries(Object.entries(dashboards).map(([file, json]) => [file, JSON.stringify(json, null, 2)]));
}
