import type * as k8s from "@pulumi/kubernetes";
import type { Flavor } from "../config";

/*
 * The least RBAC a tenant admin needs to run a tenant stack: a namespaced Role, granted by the
 * platform stack in each of the tenant's namespaces (docs/tenants.md). It lists exactly the kinds a
 * tenant stack declares, plus read access to what pulumi-kubernetes watches while it waits for
 * workloads to become ready. Nothing cluster-scoped: a tenant stack declares no such object.
 * test/tenant-rbac.test.ts checks that it covers every object of the example tenant renders.
 */

/** Verbs Pulumi needs on objects it manages (server-side apply is a patch; refresh lists). */
export const MANAGE_VERBS = ["get", "list", "watch", "create", "update", "patch", "delete"];
const READ_VERBS = ["get", "list", "watch"];

/** Rules of the tenant-admin Role for one flavor. */
export function tenantAdminRoleRules(flavor: Flavor): k8s.types.input.rbac.v1.PolicyRule[] {
  return [
    { apiGroups: [""], resources: ["configmaps", "secrets", "services", "serviceaccounts"], verbs: MANAGE_VERBS },
    { apiGroups: ["apps"], resources: ["deployments", "statefulsets"], verbs: MANAGE_VERBS },
    { apiGroups: ["networking.k8s.io"], resources: ["networkpolicies"], verbs: MANAGE_VERBS },
    // The webhook registration Jobs (tenant.webhooks).
    { apiGroups: ["batch"], resources: ["jobs"], verbs: MANAGE_VERBS },
    { apiGroups: ["kuadrant.io"], resources: ["authpolicies", "ratelimitpolicies", "tokenratelimitpolicies"], verbs: MANAGE_VERBS },
    flavor === "openshift"
      ? // routes/custom-host: setting spec.host on a Route needs it.
        { apiGroups: ["route.openshift.io"], resources: ["routes", "routes/custom-host"], verbs: MANAGE_VERBS }
      : { apiGroups: ["gateway.networking.k8s.io"], resources: ["httproutes"], verbs: MANAGE_VERBS },
    // What pulumi-kubernetes reads while awaiting readiness, and what an admin reads to troubleshoot.
    { apiGroups: [""], resources: ["pods", "pods/log", "events", "endpoints", "persistentvolumeclaims"], verbs: READ_VERBS },
    { apiGroups: ["apps"], resources: ["replicasets", "controllerrevisions"], verbs: READ_VERBS },
    // The tenant's own HTTPRoutes are read (policies target them) on both flavors.
    ...(flavor === "openshift" ? [{ apiGroups: ["gateway.networking.k8s.io"], resources: ["httproutes"], verbs: READ_VERBS }] : []),
  ];
}
