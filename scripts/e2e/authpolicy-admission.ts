// The platform's AuthPolicy identity admission policy (components/platform/authPolicyAdmission.ts,
// docs/threat-model.md B3I) on a real kube-apiserver with the upstream AuthPolicy CRD: accepted by
// the server, it refuses a tenant admin's AuthPolicy that rewrites the API-key identity
// (`overrides` of `metadata`, naming a rival's namespace) or takes it from the request (`plain`),
// and admits the tenant stack's own AuthPolicy. Every request of the checks is the tenant admin's own.
import { authPolicyAdmissionPolicyName } from "../../components/platform/authPolicyAdmission";
import { authPolicySpec } from "../../components/tenant/policies";
import type { KubeClient, KubeObject } from "./kube-client";
import { expect, type Report } from "./report";

const authPolicy = (namespace: string, name: string, spec: Record<string, unknown>): KubeObject => ({ apiVersion: "kuadrant.io/v1", kind: "AuthPolicy", metadata: { name, namespace }, spec });

const refusedByPolicy = (res: { status: number; body: unknown }): boolean =>
  (res.status === 403 || res.status === 422) && JSON.stringify(res.body).includes(`ValidatingAdmissionPolicy '${authPolicyAdmissionPolicyName}'`);

/** Waits until the API server enforces the policy (informers: a moment after it is created), probing with a dry run as the cluster admin. */
async function waitUntilInForce(admin: KubeClient, namespace: string, forged: Record<string, unknown>, timeoutMs = 60_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (let attempts = 1; ; attempts++) {
    const last = await admin.apply(authPolicy(namespace, "e2e-admission-probe", forged), "e2e-probe", { dryRun: true });
    if (refusedByPolicy(last)) return attempts;
    if (Date.now() > deadline) throw new Error(`policy ${authPolicyAdmissionPolicyName} not in force after ${timeoutMs / 1000} s: HTTP ${last.status} ${JSON.stringify(last.body).slice(0, 300)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export async function authPolicyAdmissionChecks(report: Report, admin: KubeClient, tenantAdmin: KubeClient, tenant: { name: string; namespace: string }, rivalNamespace: string): Promise<void> {
  const honest = authPolicySpec(tenant.name, "models", tenant.namespace) as any;
  const forged = structuredClone(honest);
  forged.rules.authentication["api-key"].overrides = { metadata: { value: { namespace: rivalNamespace } } };
  const plain = structuredClone(honest);
  plain.rules.authentication.backdoor = { plain: { selector: "context.request.http.headers.x-identity|@fromstr" } };
  await report.check(`AuthPolicy identity admission policy ${authPolicyAdmissionPolicyName} is loaded by the API server (dry-run probe as cluster admin refused)`, async (detail) => {
    detail(`refused on probe ${await waitUntilInForce(admin, tenant.namespace, forged)}`);
  });
  const attempt = async (name: string, spec: Record<string, unknown>, detail: (s: string) => void) => {
    const res = await tenantAdmin.apply(authPolicy(tenant.namespace, name, spec), `e2e-${tenant.name}`);
    detail(`${tenant.name} admin applies AuthPolicy ${tenant.namespace}/${name}: HTTP ${res.status} ${JSON.stringify(res.body).slice(0, 400)}`);
    return res;
  };
  await report.check(`${tenant.name} admin's AuthPolicy overriding the key identity's namespace to ${rivalNamespace} is refused`, async (detail) => {
    const res = await attempt("forged-namespace", forged, detail);
    expect(refusedByPolicy(res), `expected the policy to refuse it, got ${res.status}`);
    const stored = await tenantAdmin.get("kuadrant.io/v1", "AuthPolicy", tenant.namespace, "forged-namespace");
    expect(stored.status === 404, `the refused AuthPolicy exists anyway (GET: HTTP ${stored.status})`);
  });
  await report.check(`${tenant.name} admin's AuthPolicy with a plain identity from a request header next to its key rule is refused`, async (detail) => {
    expect(refusedByPolicy(await attempt("plain-identity", plain, detail)), "expected the policy to refuse it");
  });
  await report.check(`${tenant.name} admin's own AuthPolicy (the tenant stack's: API keys, identity untouched) is admitted`, async (detail) => {
    const res = await attempt("models", honest, detail);
    expect(res.status === 200 || res.status === 201, `expected it admitted, got ${res.status}`);
  });
  await report.check(`${tenant.name} admin's update of its admitted AuthPolicy to override the identity is refused`, async (detail) => {
    expect(refusedByPolicy(await attempt("models", forged, detail)), "expected the policy to refuse the update");
    const stored = await tenantAdmin.get("kuadrant.io/v1", "AuthPolicy", tenant.namespace, "models");
    expect(!JSON.stringify(stored.body).includes(rivalNamespace), "the override was stored");
  });
}
