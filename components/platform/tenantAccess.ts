import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { Flavor } from "../config";
import type { PlatformTenant } from "../config/platform";
import { platformTenantNamespaces } from "../config/platform";
import { appLabels } from "./security";

/** Name of the Role (per tenant namespace) with what a tenant stack creates beyond the built-in `admin`. */
export const tenantAdminRoleName = "maas-tenant-admin";

/**
 * Rules a tenant admin needs for the tenant stack on top of the aggregated `admin` ClusterRole, which
 * does not cover the Kuadrant and prometheus-operator custom resources.
 */
export function tenantAdminRules(flavor: Flavor): k8s.types.input.rbac.v1.PolicyRule[] {
  const all = ["get", "list", "watch", "create", "update", "patch", "delete"];
  const rules: k8s.types.input.rbac.v1.PolicyRule[] = [
    { apiGroups: ["kuadrant.io"], resources: ["authpolicies", "ratelimitpolicies", "tokenratelimitpolicies"], verbs: all },
    { apiGroups: ["monitoring.coreos.com"], resources: ["servicemonitors", "podmonitors", "prometheusrules"], verbs: all },
    { apiGroups: ["gateway.networking.k8s.io"], resources: ["httproutes"], verbs: all },
    { apiGroups: ["networking.k8s.io"], resources: ["networkpolicies"], verbs: all },
  ];
  if (flavor === "openshift") {
    rules.push({ apiGroups: ["route.openshift.io"], resources: ["routes", "routes/custom-host"], verbs: all });
  }
  return rules;
}

/**
 * The platform side of each tenant: its namespaces (labelled with the tenant) and, when an admin
 * group is configured, that group's admin rights limited to those namespaces. Everything
 * cluster-scoped or cross-namespace lives here, so the tenant stack needs no more than these rights.
 * Returns tenant -> namespace names (the `tenantNamespaces` output).
 */
export function createTenantAccess(
  name: string,
  tenants: PlatformTenant[],
  flavor: Flavor,
  parent: pulumi.Resource,
): pulumi.Output<Record<string, string[]>> {
  const result: Record<string, pulumi.Output<string>[]> = {};
  for (const tenant of tenants) {
    result[tenant.name] = platformTenantNamespaces(tenant).map((nsName) => {
      const childName = `${name}-tenant-${tenant.name}-${nsName}`;
      const labels = { ...appLabels(nsName, "tenant"), "maas.opendatahub.io/tenant": tenant.name };
      const ns = new k8s.core.v1.Namespace(
        `${childName}-namespace`,
        {
          metadata: {
            name: nsName,
            // Model servers (vLLM with GPUs) may not fit `restricted`; enforce baseline, warn on restricted.
            labels: {
              ...labels,
              "pod-security.kubernetes.io/enforce": "baseline",
              "pod-security.kubernetes.io/audit": "restricted",
              "pod-security.kubernetes.io/warn": "restricted",
            },
          },
        },
        // Retained when a tenant leaves platform.tenants or the stack is destroyed: the namespace
        // holds the tenant's own workloads and data, which the platform must not wipe.
        { parent, retainOnDelete: true },
      );
      if (tenant.adminGroup !== undefined) {
        const role = new k8s.rbac.v1.Role(
          `${childName}-admin-role`,
          { metadata: { name: tenantAdminRoleName, namespace: ns.metadata.name, labels }, rules: tenantAdminRules(flavor) },
          { parent },
        );
        const subjects = [{ apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: tenant.adminGroup }];
        new k8s.rbac.v1.RoleBinding(
          `${childName}-admin-binding`,
          {
            metadata: { name: tenantAdminRoleName, namespace: ns.metadata.name, labels },
            roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: role.metadata.name },
            subjects,
          },
          { parent },
        );
        new k8s.rbac.v1.RoleBinding(
          `${childName}-admin-clusterrole-binding`,
          {
            metadata: { name: `${tenantAdminRoleName}-admin`, namespace: ns.metadata.name, labels },
            roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "admin" },
            subjects,
          },
          { parent },
        );
      }
      return ns.metadata.name;
    });
  }
  const entries = Object.entries(result).map(([tenant, names]) => pulumi.all(names).apply((ns) => [tenant, ns] as const));
  return pulumi.all(entries).apply((pairs) => Object.fromEntries(pairs));
}
