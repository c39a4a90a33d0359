// Steps shared by the e2e scenarios: install the upstream CRDs, lay down the pre-existing cluster
// state, and apply a render while recording a check for it.
import { applyAll, objectId, waitForCrdsEstablished } from "./apply";
import { namespacesNotCreated, preexistingTargetOf } from "./cluster-state";
import type { KubeClient, KubeObject } from "./kube-client";
import { loadRender, withPlaceholderSecrets, type RenderedObject } from "./render";
import { expect, type Report } from "./report";
import { gatewayAuthPolicyName, gatewayBillingTokenSecretName } from "../../components/platform/gatewayAuth";

/** The synth's redaction marker (scripts/render/redact.ts REDACTED = "<redacted>"). */
export const REDACTION_MARKER = /^<redacted>$/;

/**
 * Server-side applies every upstream CRD from `crdDirs` (../shared/crds, and tools/crds from
 * tools/promoperator/fetch-crds.sh) and waits until all are Established.
 */
export async function installCrds(report: Report, admin: KubeClient, crdDirs: string[]): Promise<void> {
  await report.check(`upstream CRDs from ${crdDirs.join(" and ")} are installed and Established`, async (detail) => {
    const crds = crdDirs.flatMap((dir) => {
      const found = loadRender(dir).map((r) => r.object);
      expect(found.length > 0, `no CRDs found in ${dir}`);
      return found;
    });
    const outcomes = await applyAll(admin, crds, "e2e-crd-installer");
    const refused = outcomes.filter((o) => o.status >= 300 || o.status === 0);
    expect(refused.length === 0, refused.map((o) => `${o.id}: HTTP ${o.status} ${o.message}`).join("; "));
    await waitForCrdsEstablished(admin, crds.map((c) => c.metadata.name), 60_000);
    detail(`${crds.length} CRDs Established: ${crds.map((c) => c.metadata.name).join(", ")}`);
  });
}

/** Objects of a render with placeholders for redacted Secret values, split into patches and the rest. */
export function prepareRender(rendered: RenderedObject[]): { objects: KubeObject[]; patches: KubeObject[]; placeholders: number } {
  let placeholders = 0;
  const objects: KubeObject[] = [];
  const patches: KubeObject[] = [];
  for (const { object, file } of rendered) {
    const { object: filled, filled: n } = withPlaceholderSecrets(object, REDACTION_MARKER);
    placeholders += n;
    // synth names patch files "<kind>-patch--<namespace>--<name>.yaml": they change objects someone else owns.
    (/-patch--/.test(file) ? patches : objects).push(filled);
  }
  return { objects, patches, placeholders };
}

/**
 * Creates, as the cluster's own installer would have, the namespaces the render uses but does not
 * create, and the objects its patches target (with a setting of their own the patch must keep).
 */
export async function createPreexistingState(report: Report, admin: KubeClient, all: KubeObject[], patches: KubeObject[]): Promise<void> {
  await report.check("pre-existing cluster state (namespaces and patch targets not owned by the stack) is created", async (detail) => {
    const namespaces = namespacesNotCreated(all);
    const objects: KubeObject[] = [
      ...namespaces.map((name) => ({ apiVersion: "v1", kind: "Namespace", metadata: { name } })),
      ...patches.map(preexistingTargetOf),
    ];
    const outcomes = await applyAll(admin, objects, "e2e-preexisting");
    const refused = outcomes.filter((o) => o.status >= 300 || o.status === 0);
    expect(refused.length === 0, refused.map((o) => `${o.id}: HTTP ${o.status} ${o.message}`).join("; "));
    detail(`namespaces: ${namespaces.join(", ") || "(none)"}`);
    detail(`patch targets: ${patches.map(objectId).join(", ") || "(none)"}`);
  });
}

/** Applies `objects` as `client` and records a check that the API server accepted every one. */
export async function applyRenderCheck(
  report: Report,
  title: string,
  client: KubeClient,
  objects: KubeObject[],
  fieldManager: string,
): Promise<boolean> {
  return report.check(title, async (detail) => {
    expect(objects.length > 0, "the render has no objects");
    const outcomes = await applyAll(client, objects, fieldManager);
    const refused = outcomes.filter((o) => o.status >= 300 || o.status === 0);
    const kinds = new Map<string, number>();
    for (const o of objects) kinds.set(o.kind, (kinds.get(o.kind) ?? 0) + 1);
    detail(`${outcomes.length - refused.length}/${outcomes.length} objects accepted (${[...kinds].map(([k, n]) => `${k} ${n}`).join(", ")})`);
    for (const r of refused) detail(`refused: ${r.id}: HTTP ${r.status} ${r.message}`);
    expect(refused.length === 0, `${refused.length} object(s) refused`);
  });
}

/**
 * Applies the render's patches onto their pre-existing targets and checks that the patched fields
 * took and the target's own setting was kept.
 */
export async function applyPatchesCheck(report: Report, admin: KubeClient, patches: KubeObject[], fieldManager: string): Promise<void> {
  if (patches.length === 0) return;
  await report.check("patches of pre-existing objects apply and keep the objects' other settings", async (detail) => {
    const outcomes = await applyAll(admin, patches, fieldManager);
    for (const o of outcomes) detail(`${o.id}: HTTP ${o.status}${o.message ? ` ${o.message}` : ""}`);
    expect(outcomes.every((o) => o.status === 200), "a patch was refused");
    for (const patch of patches) {
      const live = (await admin.get(patch.apiVersion, patch.kind, patch.metadata.namespace, patch.metadata.name)).body;
      const preexisting = preexistingTargetOf(patch) as any;
      const kept = patch.kind === "ConfigMap" ? live.data?.["e2e-preexisting-setting"] === "kept" : live.spec?.replicas === preexisting.spec?.replicas;
      expect(kept, `${objectId(patch)}: the pre-existing setting was lost`);
      const patched = JSON.stringify(patch.kind === "ConfigMap" ? patch.data : patch.spec);
      const liveSection = patch.kind === "ConfigMap" ? live.data : live.spec;
      for (const [k, v] of Object.entries((patch.kind === "ConfigMap" ? patch.data : patch.spec) as Record<string, unknown>)) {
        expect(JSON.stringify(liveSection?.[k]) === JSON.stringify(v), `${objectId(patch)}: ${k} not patched (live ${JSON.stringify(liveSection?.[k])})`);
      }
      detail(`${objectId(patch)}: patched ${patched.length} bytes of settings, pre-existing setting kept`);
    }
  });

  const configMapPatches = patches.filter((p) => p.kind === "ConfigMap" && !(p.metadata.annotations as any)?.["pulumi.com/patchForce"]);
  if (configMapPatches.length === 0) return;
  await report.check("a ConfigMap patch whose key was since edited by someone else is refused (409), not overwritten; force takes it over", async (detail) => {
    for (const patch of configMapPatches) {
      const path = await admin.pathFor(patch.apiVersion, patch.kind, patch.metadata.namespace, patch.metadata.name);
      const edited: Record<string, string> = {};
      for (const key of Object.keys(patch.data as Record<string, string>)) edited[key] = "edited-by-hand: true\n";
      // An admin's `kubectl edit`: a non-apply update takes ownership of the edited keys.
      const edit = await admin.request(
        "PATCH",
        `${path}?fieldManager=kubectl-edit`,
        JSON.stringify({ data: edited }),
        "application/merge-patch+json",
      );
      expect(edit.status === 200, `hand edit answered ${edit.status}`);
      const reapply = await admin.apply(patch, fieldManager);
      const live = (await admin.get(patch.apiVersion, patch.kind, patch.metadata.namespace, patch.metadata.name)).body.data as Record<string, string>;
      detail(`${objectId(patch)}: re-apply after hand edit HTTP ${reapply.status}${reapply.body?.message ? ` (${reapply.body.message})` : ""}`);
      expect(reapply.status === 409, `expected a conflict, got ${reapply.status}`);
      expect(JSON.stringify(live).includes("edited-by-hand"), "the hand edit was overwritten");
      // What `pulumi.com/patchForce: "true"` (platform.monitoring.forceClusterMonitoringConfig) does.
      const forced = await admin.request(
        "PATCH",
        `${path}?fieldManager=${encodeURIComponent(fieldManager)}&force=true`,
        JSON.stringify(patch),
        "application/apply-patch+yaml",
      );
      const afterForce = (await admin.get(patch.apiVersion, patch.kind, patch.metadata.namespace, patch.metadata.name)).body.data as Record<string, string>;
      detail(`${objectId(patch)}: forced apply HTTP ${forced.status}`);
      expect(forced.status === 200, `forced apply answered ${forced.status}`);
      for (const [k, v] of Object.entries(patch.data as Record<string, string>)) expect(afterForce[k] === v, `forced apply did not set ${k}`);
    }
  });
}


/** Fields of `rendered` missing from `live` or different there (the API server pruned or changed them), as JSON paths. */
export function notKept(rendered: unknown, live: unknown, at = ""): string[] {
  if (rendered !== null && typeof rendered === "object" && !Array.isArray(rendered)) {
    if (live === null || typeof live !== "object" || Array.isArray(live)) return [at || "/"];
    return Object.entries(rendered as Record<string, unknown>).flatMap(([k, v]) => notKept(v, (live as Record<string, unknown>)[k], `${at}/${k}`));
  }
  return JSON.stringify(rendered) === JSON.stringify(live) ? [] : [at || "/"];
}

/**
 * The platform-owned gateway enforcement (issue #16): the Gateway AuthPolicy whose Authorino
 * metadata.http calls the billing service's quota check, and the gateway's billing token Secret in
 * Authorino's namespace. After the render was applied: both are stored, the stored policy keeps
 * every rendered field (a field the CRD's structural schema did not know would be pruned silently
 * without fieldValidation=Strict), it calls POST /v1/quota/authorize with the token from that
 * Secret and answers 429; and the check can fail: a copy with a misspelt field is refused.
 */
export async function gatewayEnforcementCheck(report: Report, admin: KubeClient, stack: string, objects: KubeObject[]): Promise<void> {
  await report.check(`${stack}: the gateway quota enforcement (AuthPolicy ${gatewayAuthPolicyName}, token Secret) is stored as rendered`, async (detail) => {
    const policy = objects.find((o) => o.kind === "AuthPolicy" && o.metadata.name === gatewayAuthPolicyName);
    expect(policy !== undefined, `the render has no AuthPolicy ${gatewayAuthPolicyName} (platform.quotaEnforcement.enabled defaults to true)`);
    const token = objects.find((o) => o.kind === "Secret" && o.metadata.name === gatewayBillingTokenSecretName);
    expect(token !== undefined, `the render has no Secret ${gatewayBillingTokenSecretName}`);
    const text = JSON.stringify(policy.spec);
    expect(text.includes("/v1/quota/authorize"), "the policy does not call POST /v1/quota/authorize");
    expect(text.includes(gatewayBillingTokenSecretName), `the policy does not take its credential from Secret ${gatewayBillingTokenSecretName}`);
    expect(/"code":429/.test(text), "the policy does not answer 429");
    for (const obj of [policy, token]) {
      const live = await admin.get(obj.apiVersion, obj.kind, obj.metadata.namespace, obj.metadata.name);
      expect(live.status === 200, `${objectId(obj)}: GET answered ${live.status}`);
      const lost = notKept(obj.kind === "Secret" ? { type: (obj as any).type } : obj.spec, obj.kind === "Secret" ? { type: live.body.type } : live.body.spec);
      expect(lost.length === 0, `${objectId(obj)}: the stored object lost or changed ${lost.join(", ")}`);
      detail(`${objectId(obj)}: stored, every rendered field kept`);
    }
    const misspelt = structuredClone(policy) as KubeObject & { spec: Record<string, unknown> };
    misspelt.spec.overides = misspelt.spec.overrides;
    delete misspelt.spec.overrides;
    const refused = await admin.apply(misspelt, "e2e-misspelt", { dryRun: true });
    detail(`the same policy with spec.overides (misspelt): HTTP ${refused.status} ${refused.body?.message ?? ""}`.trim());
    expect(refused.status >= 400, `a misspelt field was accepted (HTTP ${refused.status}): the check could not fail`);
  });
}
