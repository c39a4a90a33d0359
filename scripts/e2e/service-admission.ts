// The platform's Service exposure admission policy (components/platform/serviceAdmission.ts,
// docs/threat-model.md B3S) on a real kube-apiserver: accepted by the server, it refuses a tenant
// admin's Service in front of its model pods of type LoadBalancer or NodePort, or with externalIPs,
// and an update of its admitted ClusterIP Service to NodePort; it admits the ClusterIP Service.
// Every request of the checks is the tenant admin's own.
import { serviceAdmissionPolicyName } from "../../components/platform/serviceAdmission";
import type { KubeClient, KubeObject } from "./kube-client";
import { expect, type Report } from "./report";

const service = (namespace: string, name: string, spec: Record<string, unknown>): KubeObject => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name, namespace },
  spec: { selector: { app: "models" }, ports: [{ name: "http", port: 8000, targetPort: 8000, protocol: "TCP" }], ...spec },
});

const refusedByPolicy = (res: { status: number; body: unknown }): boolean =>
  (res.status === 403 || res.status === 422) && JSON.stringify(res.body).includes(`ValidatingAdmissionPolicy '${serviceAdmissionPolicyName}'`);

/** Waits until the API server enforces the policy (informers: a moment after it is created), probing with a dry run as the cluster admin. */
async function waitUntilInForce(admin: KubeClient, namespace: string, timeoutMs = 60_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (let attempts = 1; ; attempts++) {
    const last = await admin.apply(service(namespace, "e2e-admission-probe", { type: "LoadBalancer" }), "e2e-probe", { dryRun: true });
    if (refusedByPolicy(last)) return attempts;
    if (Date.now() > deadline) throw new Error(`policy ${serviceAdmissionPolicyName} not in force after ${timeoutMs / 1000} s: HTTP ${last.status} ${JSON.stringify(last.body).slice(0, 300)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export async function serviceAdmissionChecks(report: Report, admin: KubeClient, tenantAdmin: KubeClient, tenant: { name: string; namespace: string }): Promise<void> {
  await report.check(`Service exposure admission policy ${serviceAdmissionPolicyName} is loaded by the API server (dry-run probe as cluster admin refused)`, async (detail) => {
    detail(`refused on probe ${await waitUntilInForce(admin, tenant.namespace)}`);
  });
  const attempt = async (name: string, spec: Record<string, unknown>, detail: (s: string) => void) => {
    const res = await tenantAdmin.apply(service(tenant.namespace, name, spec), `e2e-${tenant.name}`);
    detail(`${tenant.name} admin applies Service ${tenant.namespace}/${name} ${JSON.stringify(spec)}: HTTP ${res.status} ${JSON.stringify(res.body).slice(0, 400)}`);
    return res;
  };
  const attacks: Record<string, Record<string, unknown>> = {
    LoadBalancer: { type: "LoadBalancer" },
    NodePort: { type: "NodePort" },
    "ClusterIP with externalIPs": { type: "ClusterIP", externalIPs: ["203.0.113.10"] },
  };
  for (const [kind, spec] of Object.entries(attacks)) {
    const name = `direct-${kind.toLowerCase().replace(/[^a-z]+/g, "-")}`;
    await report.check(`${tenant.name} admin's model Service of ${kind} is refused and not stored`, async (detail) => {
      expect(refusedByPolicy(await attempt(name, spec, detail)), "expected the policy to refuse it");
      const stored = await tenantAdmin.get("v1", "Service", tenant.namespace, name);
      expect(stored.status === 404, `the refused Service exists anyway (GET: HTTP ${stored.status})`);
    });
  }
  await report.check(`${tenant.name} admin's ClusterIP model Service is admitted`, async (detail) => {
    const res = await attempt("models", { type: "ClusterIP" }, detail);
    expect(res.status === 200 || res.status === 201, `expected it admitted, got ${res.status}`);
  });
  await report.check(`${tenant.name} admin's update of its admitted ClusterIP Service to NodePort is refused`, async (detail) => {
    expect(refusedByPolicy(await attempt("models", { type: "NodePort" }, detail)), "expected the policy to refuse the update");
    const stored = await tenantAdmin.get("v1", "Service", tenant.namespace, "models");
    expect(JSON.stringify(stored.body).includes('"type":"ClusterIP"'), "the stored Service is no longer ClusterIP");
  });
}
