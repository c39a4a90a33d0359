// The platform's route admission policy (components/platform/routeAdmission.ts) on a real kube-apiserver:
// accepted by the server, it refuses a tenant admin's HTTPRoute that claims the billing hostname (to
// take POST /v1/events and the senders' bearer tokens by Gateway API precedence) or names no hostname,
// and admits one inside the tenant's configured domains; it also refuses one whose parent is not the
// shared Gateway (the platform's own billing/Grafana Gateways, any other Gateway: review R12). Every
// request of the checks is the tenant admin's own (a user of the token file in the tenant's admin
// groups, never system:masters).
import type { KubeClient, KubeObject } from "./kube-client";
import { expect, type Report } from "./report";

const POLICY = "maas-tenant-route-hostnames";

const httpRoute = (namespace: string, name: string, hostnames: string[] | undefined, gateway: { name: string; namespace: string }): KubeObject => ({
  apiVersion: "gateway.networking.k8s.io/v1",
  kind: "HTTPRoute",
  metadata: { name, namespace },
  spec: {
    parentRefs: [{ group: "gateway.networking.k8s.io", kind: "Gateway", name: gateway.name, namespace: gateway.namespace }],
    ...(hostnames ? { hostnames } : {}),
    rules: [{ matches: [{ path: { type: "Exact", value: "/v1/events" } }], backendRefs: [{ name: "collector", port: 8080 }] }],
  },
});

const refusedByPolicy = (res: { status: number; body: unknown }): boolean =>
  (res.status === 403 || res.status === 422) && JSON.stringify(res.body).includes(`ValidatingAdmissionPolicy '${POLICY}'`);

/**
 * Waits until the API server enforces the policy. The admission plugin learns policies and bindings
 * through informers, so for a moment after `pulumi up` creates them a request is still admitted (seen
 * here: the first route applied right after the platform render got 201, the same request a second
 * later 403). The probe is a dry run as the cluster admin (admission runs, nothing is stored, and a
 * ValidatingAdmissionPolicy binds system:masters as well), so the attack itself is made only once, as
 * the tenant admin, after the policy is known to be loaded; a policy that never loads fails here.
 */
async function waitUntilPolicyInForce(
  admin: KubeClient,
  namespace: string,
  gateway: { name: string; namespace: string },
  timeoutMs = 60_000,
): Promise<{ attempts: number; last: { status: number; body: unknown } }> {
  const deadline = Date.now() + timeoutMs;
  for (let attempts = 1; ; attempts++) {
    const last = await admin.apply(httpRoute(namespace, "e2e-admission-probe", ["probe.invalid"], gateway), "e2e-probe", { dryRun: true });
    if (refusedByPolicy(last)) return { attempts, last };
    if (Date.now() > deadline) {
      throw new Error(`policy ${POLICY} not in force after ${timeoutMs / 1000} s: a dry-run route on probe.invalid in ${namespace} got HTTP ${last.status} ${JSON.stringify(last.body).slice(0, 300)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

export async function routeAdmissionChecks(
  report: Report,
  admin: KubeClient,
  tenantAdmin: KubeClient,
  tenant: { name: string; namespace: string; domains: string[] },
  otherTenantDomains: string[],
  billingHost: string,
  gateway: { name: string; namespace: string },
  /** Gateways other than the shared one (the platform's own for the billing API and Grafana): a tenant route may not attach to them (review R12). */
  otherGateways: Array<{ name: string; namespace: string }> = [],
): Promise<void> {
  const attempt = async (name: string, hostnames: string[] | undefined, detail: (s: string) => void, parent = gateway) => {
    const res = await tenantAdmin.apply(httpRoute(tenant.namespace, name, hostnames, parent), `e2e-${tenant.name}`);
    detail(`${tenant.name} admin applies HTTPRoute ${tenant.namespace}/${name} hostnames ${JSON.stringify(hostnames ?? null)}: HTTP ${res.status} ${JSON.stringify(res.body).slice(0, 400)}`);
    return res;
  };
  // Not a gate: without the policy the attacks below are still made, so the log shows them admitted.
  await report.check(`route admission policy ${POLICY} is loaded by the API server (dry-run probe as cluster admin refused)`, async (detail) => {
    const { attempts, last } = await waitUntilPolicyInForce(admin, tenant.namespace, gateway);
    detail(`refused on probe ${attempts}: ${JSON.stringify(last.body).slice(0, 300)}`);
  });
  await report.check(`${tenant.name} admin's HTTPRoute claiming the billing host ${billingHost} (Exact /v1/events) is refused by the admission policy`, async (detail) => {
    const res = await attempt("hijack-billing", [billingHost], detail);
    expect(res.status === 403 || res.status === 422, `expected a refusal, got ${res.status}`);
    expect(refusedByPolicy(res) && JSON.stringify(res.body).includes("outside this tenant"), "refused, but not by the route admission policy");
    const stored = await tenantAdmin.get("gateway.networking.k8s.io/v1", "HTTPRoute", tenant.namespace, "hijack-billing");
    expect(stored.status === 404, `the refused route exists anyway (GET: HTTP ${stored.status})`);
  });
  for (const domain of otherTenantDomains) {
    await report.check(`${tenant.name} admin's HTTPRoute on another tenant's model host models.${domain} (its API keys) is refused`, async (detail) => {
      const res = await attempt("hijack-models", [`models.${domain}`], detail);
      expect(refusedByPolicy(res) && JSON.stringify(res.body).includes("outside this tenant"), `expected the policy to refuse it, got ${res.status}`);
    });
  }
  await report.check(`${tenant.name} admin's HTTPRoute without hostnames (every host of the Gateway) is refused`, async (detail) => {
    const res = await attempt("no-hostnames", undefined, detail);
    expect(res.status === 403 || res.status === 422, `expected a refusal, got ${res.status}`);
    expect(refusedByPolicy(res) && JSON.stringify(res.body).includes("must name its hostnames"), "refused, but not by the route admission policy");
  });
  // A foreign Gateway in a namespace of its own stands for any other Gateway of the cluster that admits every namespace.
  for (const other of [...otherGateways, { name: "public", namespace: "other-ingress" }]) {
    await report.check(`${tenant.name} admin's HTTPRoute inside its domains on Gateway ${other.namespace}/${other.name} (not the shared one, so out of the platform's Gateway policies) is refused`, async (detail) => {
      const res = await attempt("escape-gateway", [`models.${tenant.domains[0]}`], detail, other);
      expect(refusedByPolicy(res) && JSON.stringify(res.body).includes("may attach to the shared Gateway"), `expected the policy to refuse it, got ${res.status}`);
      const stored = await tenantAdmin.get("gateway.networking.k8s.io/v1", "HTTPRoute", tenant.namespace, "escape-gateway");
      expect(stored.status === 404, `the refused route exists anyway (GET: HTTP ${stored.status})`);
    });
  }
  await report.check(`${tenant.name} admin's HTTPRoute inside its domains (${tenant.domains.join(", ")}) is admitted`, async (detail) => {
    const res = await attempt("models", [`models.${tenant.domains[0]}`, `*.${tenant.domains[0]}`], detail);
    expect(res.status === 200 || res.status === 201, `expected it admitted, got ${res.status}`);
  });
  await report.check(`${tenant.name} admin's update of its admitted route to the billing host ${billingHost} is refused`, async (detail) => {
    const res = await attempt("models", [`models.${tenant.domains[0]}`, billingHost], detail);
    expect(refusedByPolicy(res) && JSON.stringify(res.body).includes("outside this tenant"), `expected the policy to refuse the update, got ${res.status}`);
    const stored = await tenantAdmin.get("gateway.networking.k8s.io/v1", "HTTPRoute", tenant.namespace, "models");
    const hostnames = (stored.body as { spec?: { hostnames?: string[] } }).spec?.hostnames ?? [];
    detail(`stored hostnames after the refused update: ${JSON.stringify(hostnames)}`);
    expect(!hostnames.includes(billingHost), "the billing host was stored on the route");
  });
}
