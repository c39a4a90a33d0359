import { tenantDashboards } from "../../dashboards";
import type { TierLabel, VllmFamily } from "../contract";
import { TENANT_PROMETHEUS_DATASOURCE_UID } from "./grafana";

/**
 * Dashboard files for a tenant Grafana (file name -> JSON text), from dashboards/. `includeBilling`
 * adds the tenant-pinned billing dashboard: only when the tenant Prometheus federates its
 * maas_billing_* series (the platform exports a `billingUrl` for this tenant).
 */
export function tenantDashboardFiles(options: { tenant: string; vllmFamily: VllmFamily; tierLabel: TierLabel; includeBilling?: boolean; portalUrl?: string }): Record<string, string> {
  const dashboards = tenantDashboards({ ...options, datasourceUid: TENANT_PROMETHEUS_DATASOURCE_UID });
  return Object.fromEntries(Object.entries(dashboards).map(([file, json]) => [file, JSON.stringify(json, null, 2)]));
}
