/**
 * Issue #14 hole 4, the listener part: the billing API on its own listener of the shared Gateway, so
 * tenant HTTPRoutes cannot attach to it. The platform-kubernetes example renders a server-side-apply
 * patch of the Gateway adding listener `maas-billing` (hostname = the billing host, allowedRoutes =
 * HTTPRoutes from the billing namespace only); the billing HTTPRoute names it by sectionName. The
 * attack: each tenant's admin parentRefs that listener from the tenant's namespaces; the rendered
 * allowedRoutes are evaluated (test/support/gatewayApi.ts, written from the Gateway API definitions)
 * against the labels those namespaces have on the API server. The same evaluation with the restriction
 * removed admits the tenant route: the check can fail.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { NAMESPACE_NAME_LABEL } from "../components/platform/billingListener";
import type { RenderResult } from "../scripts/render";
import { attachedListeners, listenerAdmits, listenerForHost, type Listener } from "../scripts/e2e/gateway-api";
import { createConformanceValidator } from "./support/conformance";
import { findObject, renderConfig, renderExample, testImage } from "./support/stacks";

let kubernetes: RenderResult;
let openshift: RenderResult;

beforeAll(async () => {
  kubernetes = await renderExample("platform-kubernetes");
  openshift = await renderExample("platform-openshift");
}, 300_000);

const gatewayPatch = (r: RenderResult) => findObject(r, "Gateway", "external", true).object as any;
const billingListener = (r: RenderResult): Listener => gatewayPatch(r).spec.listeners[0];

/** Labels a namespace has on the API server: its own (as rendered) plus the name label the API server sets. */
const namespaceLabels = (r: RenderResult, name: string): Record<string, string> => {
  const ns = r.objects.find((o) => o.object.kind === "Namespace" && o.object.metadata.name === name)?.object as any;
  return { ...(ns?.metadata?.labels ?? {}), [NAMESPACE_NAME_LABEL]: name };
};

describe("the billing API's own Gateway listener (kubernetes)", () => {
  it("patches the shared Gateway with one listener: the billing host, TLS, HTTPRoutes from the billing namespace only", async () => {
    const patch = gatewayPatch(kubernetes);
    expect(patch.metadata).toEqual({ name: "external", namespace: "api-gateway" });
    expect(patch.spec).toEqual({
      listeners: [
        {
          name: "maas-billing",
          hostname: "billing.example.com",
          port: 443,
          protocol: "HTTPS",
          tls: { mode: "Terminate", certificateRefs: [{ group: "", kind: "Secret", name: "maas-billing-tls" }] },
          allowedRoutes: {
            namespaces: { from: "Selector", selector: { matchLabels: { "kubernetes.io/metadata.name": "maas-billing" } } },
            kinds: [{ group: "gateway.networking.k8s.io", kind: "HTTPRoute" }],
          },
        },
      ],
    });
    // Against the Gateway API CRD schema: as a patch, and merged into a minimal Gateway (the CRD's CEL rules run in the e2e render stage, on a real API server).
    const validator = createConformanceValidator();
    expect(await validator.validate(patch, { patch: true })).toEqual([]);
    expect(await validator.validate({ ...patch, spec: { gatewayClassName: "istio", listeners: [{ name: "http", port: 80, protocol: "HTTP" }, ...patch.spec.listeners] } })).toEqual([]);
  });

  it("the billing HTTPRoute attaches to that listener by sectionName, and the listener admits it", () => {
    const route = findObject(kubernetes, "HTTPRoute", "maas-billing-api").object as any;
    expect(route.spec.parentRefs).toEqual([{ group: "gateway.networking.k8s.io", kind: "Gateway", name: "external", namespace: "api-gateway", sectionName: "maas-billing" }]);
    expect(route.spec.hostnames).toEqual(["billing.example.com"]);
    const attached = attachedListeners([billingListener(kubernetes)], "api-gateway", route.spec.parentRefs[0], {
      namespace: route.metadata.namespace,
      namespaceLabels: namespaceLabels(kubernetes, route.metadata.namespace),
    });
    expect(attached.map((l) => l.name)).toEqual(["maas-billing"]);
  });

  it("attack: a tenant HTTPRoute that parentRefs the billing listener, from each tenant namespace, is not admitted", () => {
    const tenantNamespaces = ["tenant-a-models", "tenant-a-monitoring", "tenant-b-models", "tenant-b-monitoring"];
    for (const ns of tenantNamespaces) findObject(kubernetes, "Namespace", ns);
    for (const ns of tenantNamespaces) {
      const hijack = { namespace: ns, namespaceLabels: namespaceLabels(kubernetes, ns) };
      expect(listenerAdmits(billingListener(kubernetes), "api-gateway", hijack), ns).toBe(false);
      expect(attachedListeners([billingListener(kubernetes)], "api-gateway", { sectionName: "maas-billing" }, hijack), ns).toEqual([]);
      // A label the tenant could add to its namespace (it cannot: namespaces are cluster-scoped) would not help either.
      expect(listenerAdmits(billingListener(kubernetes), "api-gateway", { namespace: ns, namespaceLabels: { ...hijack.namespaceLabels, "maas-billing": "true" } }), ns).toBe(false);
    }
  });

  it("the check can fail: with the restriction removed (from All, or the Gateway API default Same with the route in the Gateway's namespace) the tenant route is admitted", () => {
    const open: Listener = { ...billingListener(kubernetes), allowedRoutes: { namespaces: { from: "All" } } };
    const hijack = { namespace: "tenant-a-models", namespaceLabels: namespaceLabels(kubernetes, "tenant-a-models") };
    expect(listenerAdmits(open, "api-gateway", hijack)).toBe(true);
    const defaulted: Listener = { name: "maas-billing", hostname: "billing.example.com" };
    expect(listenerAdmits(defaulted, "api-gateway", { namespace: "api-gateway", namespaceLabels: {} })).toBe(true);
  });

  it("every request for the billing host goes to the billing listener, not to a shared one where tenant routes live", () => {
    const shared: Listener[] = [
      { name: "https-wildcard", hostname: "*.example.com", allowedRoutes: { namespaces: { from: "All" } } },
      { name: "http-any", allowedRoutes: { namespaces: { from: "All" } } },
    ];
    expect(listenerForHost([...shared, billingListener(kubernetes)], "billing.example.com")?.name).toBe("maas-billing");
    expect(listenerForHost([...shared, billingListener(kubernetes)], "models.tenant-a.apps.example.com")?.name).toBe("https-wildcard");
    // Without the billing listener the same request lands on the shared listener, open to every namespace.
    expect(listenerForHost(shared, "billing.example.com")?.name).toBe("https-wildcard");
  });

  it("no listener without a billing host (the HTTPRoute then matches any host on the shared listener), and none on openshift (Routes)", async () => {
    const noHost = await renderConfig("unit-billing-no-host", { flavor: "kubernetes", platform: { billing: { image: testImage } } });
    expect(noHost.objects.filter((o) => o.object.kind === "Gateway")).toEqual([]);
    expect((findObject(noHost, "HTTPRoute", "maas-billing-api").object as any).spec.parentRefs[0].sectionName).toBeUndefined();
    expect(openshift.objects.filter((o) => o.object.kind === "Gateway")).toEqual([]);
  });
});
