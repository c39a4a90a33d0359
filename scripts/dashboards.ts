// `npm run dashboards`: writes the dashboard JSON and rule files to out/dashboards/ for people who
// import them by hand. Same builders the Platform and TenantStack components deploy.
// Options: --vllm-family vllm|kserve_vllm (default kserve_vllm), --tenant NAME (default "tenant-a"),
//          --tier-label tier|subscription (default tier), --counter-suffix none|_total (default none:
//          authorized_hits; _total: authorized_hits_total, the Red Hat OpenShift AI monitoring stack's
//          names), --out DIR (default out/dashboards).
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { stringify } from "yaml";
import { TIER_LABELS, VLLM_FAMILIES, type GatewayCounterSuffix, type TierLabel, type VllmFamily } from "../components/contract";
import { platformDashboards, platformPrometheusRules, tenantDashboards, tenantPrometheusRules } from "../dashboards";

const { values } = parseArgs({
  options: {
    "vllm-family": { type: "string", default: "kserve_vllm" },
    tenant: { type: "string", default: "tenant-a" },
    "tier-label": { type: "string", default: "tier" },
    "counter-suffix": { type: "string", default: "none" },
    out: { type: "string", default: "out/dashboards" },
  },
});
/** The option's value when it is one of `allowed`, else an error naming the option and the choices. */
function oneOf<T extends string>(option: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) throw new Error(`--${option}: expected ${allowed.join(" or ")}, got "${value}"`);
  return value as T;
}
const vllmFamily = oneOf<VllmFamily>("vllm-family", values["vllm-family"], VLLM_FAMILIES);
const tierLabel = oneOf<TierLabel>("tier-label", values["tier-label"], TIER_LABELS);
const counterSuffix: GatewayCounterSuffix = oneOf("counter-suffix", values["counter-suffix"], ["none", "_total"] as const) === "_total" ? "_total" : "";

const files: Record<string, string> = {};
const json = (d: unknown) => `${JSON.stringify(d, null, 2)}\n`;
// The tenant's billing copy is written as tenant-billing.json beside the platform's billing.json.
for (const [name, d] of Object.entries(tenantDashboards({ vllmFamily, tenant: values.tenant, tierLabel, counterSuffix, includeBilling: true }))) {
  files[name === "billing.json" ? "tenant-billing.json" : name] = json(d);
}
for (const [name, d] of Object.entries(platformDashboards())) files[name] = json(d);
files["platform-rules.yaml"] = stringify(platformPrometheusRules({ vllmFamily, tierLabel, counterSuffix }));
files["tenant-rules.yaml"] = stringify(tenantPrometheusRules({ vllmFamily, tierLabel, counterSuffix }));

mkdirSync(values.out, { recursive: true });
for (const [name, text] of Object.entries(files)) {
  writeFileSync(join(values.out, name), text);
  console.log(`wrote ${join(values.out, name)}`);
}
