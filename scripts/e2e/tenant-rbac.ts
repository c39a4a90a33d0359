// What a tenant admin, holding only the RBAC the platform stack grants, can and cannot do to another
// tenant's objects. Every request is a real request to the API server with the tenant admin's token.
import { objectId } from "./apply";
import type { KubeClient, KubeObject } from "./kube-client";
import { expect, type Report } from "./report";

const POLICY_KINDS = new Set(["AuthPolicy", "RateLimitPolicy", "TokenRateLimitPolicy", "NetworkPolicy"]);

/**
 * Checks that `actor` (tenant `actorName`'s admin) can read its own Secrets but can neither read nor change
 * `victimObjects` (another tenant's rendered Secrets and policies), nor list Secrets across the cluster
 * or in the platform's namespaces.
 */
export async function crossTenantChecks(
  report: Report,
  actorName: string,
  actor: KubeClient,
  ownObjects: KubeObject[],
  victimName: string,
  victimObjects: KubeObject[],
  platformNamespaces: string[],
): Promise<void> {
  const ownSecret = ownObjects.find((o) => o.kind === "Secret");
  await report.check(`${actorName} admin can read its own Secrets (so the refusals below are RBAC, not a broken identity)`, async (detail) => {
    expect(ownSecret !== undefined, `${actorName}'s render has no Secret`);
    const res = await actor.get("v1", "Secret", ownSecret.metadata.namespace, ownSecret.metadata.name);
    detail(`GET ${objectId(ownSecret)}: HTTP ${res.status}`);
    expect(res.status === 200, `expected 200, got ${res.status}`);
  });

  const secrets = victimObjects.filter((o) => o.kind === "Secret");
  await report.check(`${actorName} admin cannot read ${victimName}'s Secrets`, async (detail) => {
    expect(secrets.length > 0, `${victimName}'s render has no Secret`);
    const namespaces = [...new Set(secrets.map((s) => s.metadata.namespace!))];
    for (const ns of namespaces) {
      const list = await actor.get("v1", "Secret", ns);
      detail(`LIST secrets in ${ns}: HTTP ${list.status}`);
      expect(list.status === 403, `listing ${ns} secrets answered ${list.status}`);
    }
    for (const s of secrets) {
      const res = await actor.get("v1", "Secret", s.metadata.namespace, s.metadata.name);
      detail(`GET ${objectId(s)}: HTTP ${res.status}`);
      expect(res.status === 403, `reading ${objectId(s)} answered ${res.status}`);
    }
  });

  await report.check(`${actorName} admin cannot change or delete ${victimName}'s Secrets and policies`, async (detail) => {
    const targets = victimObjects.filter((o) => o.kind === "Secret" || POLICY_KINDS.has(o.kind));
    expect(targets.some((o) => o.kind !== "Secret"), `${victimName}'s render has no policy`);
    for (const target of targets) {
      const tampered = structuredClone(target);
      tampered.metadata.labels = { ...(tampered.metadata.labels as object | undefined), "e2e.maas/tampered-by": actorName };
      await expectChangeAndDeleteRefused(actor, actorName, target, tampered, detail);
    }
  });

  await report.check(`${actorName} admin cannot grant itself access to ${victimName}'s namespaces or cluster-admin`, async (detail) => {
    const ownNamespace = ownObjects.find((o) => o.metadata.namespace)?.metadata.namespace;
    const victimNamespace = victimObjects.find((o) => o.metadata.namespace)?.metadata.namespace;
    expect(ownNamespace !== undefined && victimNamespace !== undefined, "renders without namespaced objects");
    const attempts: Array<[string, KubeObject]> = [
      [`bind cluster-admin in its own namespace ${ownNamespace}`, escalationBinding(ownNamespace, actorName, "cluster-admin")],
      [`bind admin in ${victimName}'s namespace ${victimNamespace}`, escalationBinding(victimNamespace, actorName, "admin")],
    ];
    for (const [what, binding] of attempts) {
      const res = await actor.apply(binding, `e2e-${actorName}`);
      detail(`${what}: HTTP ${res.status}`);
      expect(res.status === 403, `${what} answered ${res.status}`);
    }
  });

  await report.check(`${actorName} admin cannot list Secrets cluster-wide or in the platform's namespaces`, async (detail) => {
    const all = await actor.request("GET", "/api/v1/secrets");
    detail(`LIST secrets (all namespaces): HTTP ${all.status}`);
    expect(all.status === 403, `cluster-wide list answered ${all.status}`);
    for (const ns of platformNamespaces) {
      const res = await actor.get("v1", "Secret", ns);
      detail(`LIST secrets in ${ns}: HTTP ${res.status}`);
      expect(res.status === 403, `listing ${ns} answered ${res.status}`);
    }
  });
}

/**
 * The federation proxies enforce a tenant's label values; they live in the platform's namespace so the
 * tenant cannot widen its own. Checks that `actor` can neither change nor delete its own proxies'
 * Deployments (given as rendered by the platform) nor their NetworkPolicies.
 */
export async function ownProxyTamperCheck(report: Report, actorName: string, actor: KubeClient, ownProxyObjects: KubeObject[]): Promise<void> {
  await report.check(`${actorName} admin cannot widen or remove its own federation proxies (platform namespace)`, async (detail) => {
    expect(ownProxyObjects.some((o) => o.kind === "Deployment"), `no federation proxy Deployment of ${actorName} in the platform render`);
    for (const target of ownProxyObjects) {
      const tampered = structuredClone(target) as any;
      for (const c of tampered.spec?.template?.spec?.containers ?? []) {
        if (Array.isArray(c.args)) c.args = [...c.args, "--label-value=e2e-widened"];
      }
      await expectChangeAndDeleteRefused(actor, actorName, target, tampered, detail);
    }
  });
}

/** A RoleBinding giving the acting tenant admin's own user the ClusterRole `clusterRole` in `namespace`. */
function escalationBinding(namespace: string, actorName: string, clusterRole: string): KubeObject {
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "RoleBinding",
    metadata: { name: `e2e-${actorName}-escalation`, namespace },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: clusterRole },
    subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: `${actorName}-admin` }],
  };
}

/**
 * `actor` (tenant `actorName`'s admin) applies `tampered`, a changed copy of `target`, then deletes
 * `target`: the API server must refuse both (403).
 */
async function expectChangeAndDeleteRefused(
  actor: KubeClient,
  actorName: string,
  target: KubeObject,
  tampered: KubeObject,
  detail: (line: string) => void,
): Promise<void> {
  const apply = await actor.apply(tampered, `e2e-${actorName}`);
  const path = await actor.pathFor(target.apiVersion, target.kind, target.metadata.namespace, target.metadata.name);
  const del = await actor.request("DELETE", path);
  detail(`${objectId(target)}: apply HTTP ${apply.status}, delete HTTP ${del.status}`);
  expect(apply.status === 403 && del.status === 403, `${objectId(target)} was not refused (apply ${apply.status}, delete ${del.status})`);
}
