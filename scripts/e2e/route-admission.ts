// The platform's route admission policy (components/platform/routeAdmission.ts) on a real kube-apiserver:
// accepted by the server, it refuses a tenant admin's HTTPRoute that claims the billing hostname (to
// take POST /v1/events and the senders' bearer tokens by Gateway API precedence) or names no hostname,
// and admits one inside the tenant's configured domains. Every request is the tenant admin's own.
import type { KubeClient, KubeObject } from "./kube-client";
import { expect, type Report } from "./report";

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

export async function routeAdmissionChecks(
  report: Report,
  tenantAdmin: KubeClient,
  tenant: { name: string; namespace: string; domains: string[] },
  billingHost: string,
  gateway: { name: string; namespace: string },
): Promise<void> {
  const attempt = async (name: string, hostnames: string[] | undefined, detail: (s: string) => void) => {
    const res = await tenantAdmin.apply(httpRoute(tenant.namespace, name, hostnames, gateway), `e2e-${tenant.name}`);
    detail(`${tenant.name} admin applies HTTPRoute ${tenant.namespace}/${name} hostnames ${JSON.stringify(hostnames ?? null)}: HTTP ${res.status} ${JSON.stringify(res.body).slice(0, 400)}`);
    return res;
  };
  await report.check(`${tenant.name} admin's HTTPRoute claiming the billing host ${billingHost} (Exact /v1/events) is refused by the admission policy`, async (detail) => {
    const res = await attempt("hijack-billing", [billingHost], detail);
    expect(res.status === 403 || res.status === 422, `expected a refusal, got ${res.status}`);
    expect(JSON.stringify(res.body).includes("maas-tenant-route-hostnames") && JSON.stringify(res.body).includes("outside this tenant"), "refused, but not by the route admission policy");
  });
  await report.check(`${tenant.name} admin's HTTPRoute without hostnames (every host of the Gateway) is refused`, async (detail) => {
    const res = await attempt("no-hostnames", undefined, detail);
    expect(res.status === 403 || res.status === 422, `expected a refusal, got ${res.status}`);
    expect(JSON.stringify(res.body).includes("must name its hostnames"), "refused, but not by the route admission policy");
  });
  await report.check(`${tenant.name} admin's HTTPRoute inside its domains (${tenant.domains.join(", ")}) is admitted`, async (detail) => {
    const res = await attempt("models", [`models.${tenant.domains[0]}`, `*.${tenant.domains[0]}`], detail);
    expect(res.status === 200 || res.status === 201, `expected it admitted, got ${res.status}`);
  });
}
