// What a real cluster has before the product is installed, and what its controllers would do, that a bare
// kube-apiserver lacks: the aggregated `admin`/`edit`/`view` ClusterRoles, and the pre-existing
// namespaces and objects the platform stack patches (OpenShift monitoring config, the Limitador CR).
import type { KubeClient, KubeObject } from "./kube-client";

interface ClusterRole {
  metadata: { name: string; labels?: Record<string, string> };
  rules?: unknown[];
  aggregationRule?: { clusterRoleSelectors?: Array<{ matchLabels?: Record<string, string> }> };
}

/**
 * Does the job of kube-controller-manager's clusterrole-aggregation controller once: every ClusterRole
 * with an aggregationRule gets the union of the rules of the ClusterRoles its selectors match. Without
 * it `admin` has no rules, and a tenant admin bound to it (as the platform renders) could do nothing.
 * Returns the names and rule counts it wrote.
 */
export async function aggregateClusterRoles(admin: KubeClient): Promise<Array<{ name: string; rules: number }>> {
  const res = await admin.request("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles");
  if (res.status !== 200) throw new Error(`listing ClusterRoles failed: HTTP ${res.status}`);
  const roles = res.body.items as ClusterRole[];
  const aggregated = roles.filter((r) => (r.aggregationRule?.clusterRoleSelectors ?? []).length > 0);
  // Aggregated roles select each other (edit carries aggregate-to-admin, view aggregate-to-edit), so
  // recompute until nothing changes, as the controller converges over several passes.
  for (let changed = true, pass = 0; changed && pass < 10; pass++) {
    changed = false;
    for (const role of aggregated) {
      const selectors = role.aggregationRule!.clusterRoleSelectors!;
      const matches = (candidate: ClusterRole) =>
        selectors.some((s) => Object.entries(s.matchLabels ?? {}).every(([k, v]) => candidate.metadata.labels?.[k] === v));
      const rules = roles.filter((r) => r !== role && matches(r)).flatMap((r) => r.rules ?? []);
      if (JSON.stringify(rules) !== JSON.stringify(role.rules ?? [])) {
        role.rules = rules;
        changed = true;
      }
    }
  }
  const written: Array<{ name: string; rules: number }> = [];
  for (const role of aggregated) {
    const patch = await admin.request(
      "PATCH",
      `/apis/rbac.authorization.k8s.io/v1/clusterroles/${role.metadata.name}`,
      JSON.stringify({ rules: role.rules ?? [] }),
      "application/merge-patch+json",
    );
    if (patch.status !== 200) throw new Error(`aggregating ClusterRole ${role.metadata.name} failed: HTTP ${patch.status}`);
    written.push({ name: role.metadata.name, rules: (role.rules ?? []).length });
  }
  return written;
}

/** Namespaces that objects live in but that no object in `objects` creates. */
export function namespacesNotCreated(objects: KubeObject[]): string[] {
  const created = new Set(objects.filter((o) => o.kind === "Namespace").map((o) => o.metadata.name));
  const used = new Set(objects.map((o) => o.metadata.namespace).filter((ns): ns is string => !!ns));
  return [...used].filter((ns) => !created.has(ns)).sort();
}

/**
 * The pre-existing object a rendered patch applies to, as the operator or installer that owns it would
 * have created it: same identity, and settings of its own that the patch must leave alone.
 */
export function preexistingTargetOf(patch: KubeObject): KubeObject {
  const identity = {
    apiVersion: patch.apiVersion,
    kind: patch.kind,
    metadata: { name: patch.metadata.name, namespace: patch.metadata.namespace, labels: { "e2e.maas/preexisting": "true" } },
  };
  if (patch.kind === "ConfigMap") return { ...identity, data: { "e2e-preexisting-setting": "kept" } };
  if (patch.kind === "Limitador") return { ...identity, spec: { replicas: 1, limits: [] } };
  return identity;
}

/**
 * The shared Gateway (`platform.gateway`) as its installer made it: one wildcard listener open to every
 * namespace's routes. The platform must leave it alone (the billing API has a Gateway of its own).
 */
export function installerGateway(ref: { name: string; namespace: string }): KubeObject {
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "Gateway",
    metadata: { name: ref.name, namespace: ref.namespace, labels: { "e2e.maas/preexisting": "true" } },
    spec: {
      gatewayClassName: "e2e",
      listeners: [
        {
          name: "e2e-preexisting",
          port: 443,
          protocol: "HTTPS",
          hostname: "*.apps.example.com",
          tls: { mode: "Terminate", certificateRefs: [{ group: "", kind: "Secret", name: "wildcard-tls" }] },
          allowedRoutes: { namespaces: { from: "All" } },
        },
      ],
    },
  };
}
