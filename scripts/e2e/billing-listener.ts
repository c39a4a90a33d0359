// The billing API's own Gateway (components/platform/billingGateway.ts) on a real kube-apiserver: the
// Gateway the platform created (the Gateway CRD's CEL rules ran on it) has exactly one listener, for
// the billing host, which admits the billing HTTPRoute, and a tenant admin's HTTPRoute that parentRefs
// that Gateway is not admitted by it. The API server stores the route (attachment is the Gateway
// controller's decision, which this harness has none of), so the listener's allowedRoutes as the API
// server returns them are evaluated (gateway-api.ts) against the labels the API server gave the
// tenant's namespace, and, as a same-run baseline, with the restriction removed (the tenant route is
// then admitted: the check can fail).
import { listenerAdmits, type Listener } from "./gateway-api";
import type { KubeClient, KubeObject } from "./kube-client";
import { expect, type Report } from "./report";

export async function billingListenerChecks(
  report: Report,
  admin: KubeClient,
  tenantAdmin: KubeClient,
  tenant: { name: string; namespace: string; domain: string },
  billingRoute: KubeObject,
): Promise<void> {
  const parent = (billingRoute.spec as { parentRefs: Array<{ name: string; namespace: string; sectionName?: string }> }).parentRefs[0];
  if (parent.sectionName === undefined) return;
  const gateway = (await admin.get("gateway.networking.k8s.io/v1", "Gateway", parent.namespace, parent.name)).body as { spec: { listeners: Listener[] } };
  const labelsOf = async (ns: string) => ((await admin.get("v1", "Namespace", undefined, ns)).body as { metadata: { labels?: Record<string, string> } }).metadata.labels ?? {};
  const listener = gateway.spec.listeners.find((l) => l.name === parent.sectionName);
  const billingHost = (billingRoute.spec as { hostnames?: string[] }).hostnames?.[0];

  await report.check(`the billing API's own Gateway ${parent.namespace}/${parent.name} has one listener, ${parent.sectionName} for ${billingHost}, that admits the billing HTTPRoute`, async (detail) => {
    detail(`live listeners: ${gateway.spec.listeners.map((l) => `${l.name} (${l.hostname ?? "any host"})`).join(", ")}`);
    expect(listener !== undefined, `no listener ${parent.sectionName}`);
    expect(gateway.spec.listeners.length === 1, "the billing Gateway has listeners besides the billing one");
    expect(listener!.hostname === billingHost, `the listener's hostname is ${listener!.hostname}, not the billing host`);
    expect(listenerAdmits(listener!, parent.namespace, { namespace: billingRoute.metadata.namespace!, namespaceLabels: await labelsOf(billingRoute.metadata.namespace!) }), "the billing listener does not admit the billing HTTPRoute");
  });

  await report.check(`${tenant.name} admin's HTTPRoute on the billing Gateway (sectionName ${parent.sectionName}) is not admitted by it`, async (detail) => {
    const route: KubeObject = {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "HTTPRoute",
      metadata: { name: "attach-billing-listener", namespace: tenant.namespace },
      spec: {
        parentRefs: [{ group: "gateway.networking.k8s.io", kind: "Gateway", name: parent.name, namespace: parent.namespace, sectionName: parent.sectionName }],
        // Inside the tenant's own domain, so the route admission policy lets it through to the Gateway's decision.
        hostnames: [`models.${tenant.domain}`],
        rules: [{ matches: [{ path: { type: "Exact", value: "/v1/events" } }], backendRefs: [{ name: "collector", port: 8080 }] }],
      },
    };
    const res = await tenantAdmin.apply(route, `e2e-${tenant.name}`);
    detail(`stored by the API server: HTTP ${res.status}`);
    const labels = await labelsOf(tenant.namespace);
    detail(`${tenant.namespace} labels on the API server: ${JSON.stringify(labels)}`);
    detail(`billing listener allowedRoutes: ${JSON.stringify(listener?.allowedRoutes)}`);
    expect(listener !== undefined && !listenerAdmits(listener, parent.namespace, { namespace: tenant.namespace, namespaceLabels: labels }), "the billing listener admits the tenant's route");
    const open: Listener = { ...listener!, allowedRoutes: { namespaces: { from: "All" } } };
    expect(listenerAdmits(open, parent.namespace, { namespace: tenant.namespace, namespaceLabels: labels }), "baseline: without the restriction the route should be admitted");
    detail("with allowedRoutes.namespaces.from All (restriction removed) the same route would be admitted");
  });
}
