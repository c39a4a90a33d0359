import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { Flavor } from "../config";
import type { PlatformTenant } from "../config/platform";
import { platformTenantNamespaces } from "../config/platform";
import { tenantAdminRoleRules } from "../tenant/rbac";
import { routeDomainsAnnotation } from "./routeAdmission";
import { appLabels } from "./security";

/** Name of the tenant-admin Role the platform creates and binds in each tenant namespace. */
export const tenantAdminRoleName = "maas-tenant-admin";

/**
 * The platform side of each tenant: its namespaces (labelled with the tenant) and, when an admin
 * group is configured, the tenant-admin Role of docs/tenants.md (`tenantAdminRoleRules`, exactly what
 * a tenant stack declares and watches) bound to that group in those namespaces, and nothing else: no
 * built-in `admin`, so no Pods, Roles or RoleBindings of the tenant admin's own making. Everything
 * cluster-scoped or cross-namespace lives here, so the tenant stack needs no more than these rights.
 * Returns tenant -> its namespace names (its entry of the `tenantNamespaces` output), one Output per
 * tenant so that what waits for one tenant's namespaces does not wait for every tenant's.
 */
export function createTenantAccess(
  name: string,
  tenants: PlatformTenant[],
  flavor: Flavor,
  parent: pulumi.Resource,
): Record<string, pulumi.Output<string[]>> {
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
            // The tenant's route domains, read by the route admission policy (routeAdmission.ts).
            annotations: { [routeDomainsAnnotation]: (tenant.domains ?? []).join(",") },
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
          { metadata: { name: tenantAdminRoleName, namespace: ns.metadata.name, labels }, rules: tenantAdminRoleRules(flavor) },
          { parent },
        );
        new k8s.rbac.v1.RoleBinding(
          `${childName}-admin-binding`,
          {
            metadata: { name: tenantAdminRoleName, namespace: ns.metadata.name, labels },
            roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: role.metadata.name },
            subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: tenant.adminGroup }],
          },
          { parent },
        );
      }
      return ns.metadata.name;
    });
  }
  return Object.fromEntries(Object.entries(result).map(([tenant, names]) => [tenant, pulumi.all(names)]));
}
