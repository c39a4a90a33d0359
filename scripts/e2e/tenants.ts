// What the platform render says about each tenant: its namespaces, the groups its admins are bound
// as, and the label-enforcement arguments of its federation proxies. The checks use these rather
// than their own copy, so they test what the product actually deploys.
import type { KubeObject } from "./kube-client";

const TENANT_LABEL = "maas.opendatahub.io/tenant";

export interface FederationProxy {
  /** Deployment name, e.g. maas-fed-tenant-a-models. */
  name: string;
  /** The label it enforces (`--label`). */
  label: string;
  /** Its prom-label-proxy arguments minus listen address and upstream (which are the pod's wiring). */
  enforcementArgs: string[];
  /** The pod's second prom-label-proxy (container `namespace-guard`, in front of the upstream), if any. */
  guardArgs?: string[];
  /** The namespace that guard enforces. */
  guardNamespace?: string;
}

export interface TenantFacts {
  name: string;
  namespaces: string[];
  adminGroups: string[];
  proxies: FederationProxy[];
}

function labelsOf(obj: KubeObject): Record<string, string> {
  return (obj.metadata.labels as Record<string, string> | undefined) ?? {};
}

export function tenantsOfPlatform(platform: KubeObject[]): TenantFacts[] {
  const byName = new Map<string, TenantFacts>();
  for (const ns of platform.filter((o) => o.kind === "Namespace")) {
    const tenant = labelsOf(ns)[TENANT_LABEL];
    if (!tenant) continue;
    const facts = byName.get(tenant) ?? { name: tenant, namespaces: [], adminGroups: [], proxies: [] };
    facts.namespaces.push(ns.metadata.name);
    byName.set(tenant, facts);
  }
  for (const facts of byName.values()) {
    const groups = new Set<string>();
    for (const rb of platform.filter((o) => o.kind === "RoleBinding" && facts.namespaces.includes(o.metadata.namespace ?? ""))) {
      for (const s of (rb.subjects as Array<{ kind: string; name: string }> | undefined) ?? []) {
        if (s.kind === "Group") groups.add(s.name);
      }
    }
    facts.adminGroups = [...groups].sort();
    facts.proxies = platform
      .filter((o) => o.kind === "Deployment" && labelsOf(o)[TENANT_LABEL] === facts.name)
      .flatMap((d) => proxyOf(d));
  }
  return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
}

function proxyOf(deployment: KubeObject): FederationProxy[] {
  const containers = ((deployment.spec as any)?.template?.spec?.containers ?? []) as Array<{ image: string; args?: string[] }>;
  const proxy = containers.find((c) => c.image.includes("prom-label-proxy") && (c as { name?: string }).name !== "namespace-guard");
  if (!proxy) return [];
  const wiring = (a: string) => !/^--?(insecure-listen-address|upstream|upstream-ca-cert)=/.test(a);
  const args = proxy.args ?? [];
  const enforcementArgs = args.filter(wiring);
  const labelArg = args.find((a) => /^--?label=/.test(a));
  if (!labelArg) throw new Error(`${deployment.metadata.name}: prom-label-proxy without --label`);
  const guard = containers.find((c) => (c as { name?: string }).name === "namespace-guard");
  const guardArgs = guard?.args?.filter(wiring);
  const guardNamespace = guardArgs?.find((a) => a.startsWith("--label-value="))?.split("=")[1];
  return [{ name: deployment.metadata.name, label: labelArg.split("=")[1], enforcementArgs, ...(guardArgs ? { guardArgs, guardNamespace } : {}) }];
}
