/*
 * The dashboards a tenant Grafana provisions: file name -> dashboard JSON text, from dashboards/.
 */

/** Dashboard files for a tenant Grafana, for the platform's vLLM metric family. */
export function tenantDashboardFiles(vllmFamily: "vllm" | "kserve_vllm"): Record<string, string> {
  // Placeholder until dashboards/index.ts (tenantDashboards) lands; replaced by it.
  void vllmFamily;
  return {};
}
