/**
 * Issue #14 hole 4, the gateway part: the billing API on a Gateway of its own, so tenant HTTPRoutes
 * cannot attach to it. The platform-kubernetes example renders a whole Gateway `maas-billing` in the
 * shared Gateway's namespace (class from `platform.billing.gateway.gatewayClassName`) with one listener:
 * hostname = the billing host, allowedRoutes = HTTPRoutes from the billing namespace only. The shared
 * Gateway is not touched. The attack: each tenant's admin parentRefs the billing Gateway (naming its
 * listener, or not) from the tenant's namespaces; the rendered allowedRoutes are evaluated
 * (scripts/e2e/gateway-api.ts, written from the Gateway API definitions) against the labels those
 * namespaces have on the API server. The same evaluation with the restriction removed admits the tenant
 * route: the check can fail.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { NAMESPACE_NAME_LABEL } from "../components/platform/billingGateway";
import type { RenderResult } from "../scripts/render";
import { attachedListeners, listenerAdmits, listenerForHost, type Listener } from "../scripts/e2e/gateway-api";
import { errorsOf } from "./support/configErrors";
import { createConformanceValidator } from "./support/conformance";
import { findObject, renderConfig, renderExample, testImage, UNDIGESTED_DEFAULTS_OPT_IN } from "./support/stacks";

let kubernetes: RenderResult;
let openshift: RenderResult;

beforeAll(async () => {
  kubernetes = await renderExample("platform-kubernetes");
  openshift = await renderExample("platform-openshift");
}, 300_000);

const billingGateway = (r: RenderResult) => findObject(r, "Gateway", "maas-billing").object as any;
const listeners = (r: RenderResult): Listener[] => billingGateway(r).spec.listeners;
const tenantNamespaces = ["tenant-a-models", "tenant-a-monitoring", "tenant-b-models", "tenant-b-monitoring"];

/** Labels a namespace has on the API server: its own (as rendered) plus the name label the API server sets. */
const namespaceLabels = (r: RenderResult, name: string): Record<string, string> => {
  const ns = r.objects.find((o) => o.object.kind === "Namespace" && o.object.metadata.name === name)?.object as any;
  return { ...(ns?.metadata?.labels ?? {}), [NAMESPACE_NAME_LABEL]: name };
};

describe("the billing API's own Gateway (kubernetes)", () => {
  it("is a whole Gateway in the shared Gateway's namespace with one listener: the billing host, TLS, HTTPRoutes from the billing namespace only", async () => {
    const gateway = billingGateway(kubernetes);
    expect(gateway.metadata).toMatchObject({ name: "maas-billing", namespace: "api-gateway" });
    // Not the billing API's pod labels: Gateway controllers copy a Gateway's labels to the pods they run for it.
    expect(gateway.metadata.labels["app.kubernetes.io/name"]).toBe("maas-billing-gateway");
    expect(gateway.spec).toEqual({
      gatewayClassName: "istio",
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
    // Against the Gateway API CRD schema (its CEL rules run in the e2e render and engine stages, on a real API server).
    expect(await createConformanceValidator().validate(gateway)).toEqual([]);
  });

  it("the shared Gateway is not touched: no Gateway patch, and the only Gateway is the billing one", () => {
    expect(kubernetes.objects.filter((o) => o.object.kind === "Gateway").map((o) => `${o.object.metadata.namespace}/${o.object.metadata.name}${o.patch ? " (patch)" : ""}`)).toEqual(["api-gateway/maas-billing"]);
  });

  it("the billing HTTPRoute attaches to that Gateway's listener by sectionName, and the listener admits it", () => {
    const route = findObject(kubernetes, "HTTPRoute", "maas-billing-api").object as any;
    expect(route.spec.parentRefs).toEqual([{ group: "gateway.networking.k8s.io", kind: "Gateway", name: "maas-billing", namespace: "api-gateway", sectionName: "maas-billing" }]);
    expect(route.spec.hostnames).toEqual(["billing.example.com"]);
    const attached = attachedListeners(listeners(kubernetes), "api-gateway", route.spec.parentRefs[0], {
      namespace: route.metadata.namespace,
      namespaceLabels: namespaceLabels(kubernetes, route.metadata.namespace),
    });
    expect(attached.map((l) => l.name)).toEqual(["maas-billing"]);
  });

  it("attack: a tenant HTTPRoute that parentRefs the billing Gateway, from each tenant namespace, with or without sectionName, is not admitted", () => {
    for (const ns of tenantNamespaces) findObject(kubernetes, "Namespace", ns);
    for (const ns of tenantNamespaces) {
      const hijack = { namespace: ns, namespaceLabels: namespaceLabels(kubernetes, ns) };
      for (const l of listeners(kubernetes)) expect(listenerAdmits(l, "api-gateway", hijack), ns).toBe(false);
      expect(attachedListeners(listeners(kubernetes), "api-gateway", { sectionName: "maas-billing" }, hijack), ns).toEqual([]);
      expect(attachedListeners(listeners(kubernetes), "api-gateway", {}, hijack), ns).toEqual([]);
      // A label the tenant could add to its namespace (it cannot: namespaces are cluster-scoped) would not help either.
      const relabelled = { namespace: ns, namespaceLabels: { ...hijack.namespaceLabels, "maas-billing": "true" } };
      expect(attachedListeners(listeners(kubernetes), "api-gateway", {}, relabelled), ns).toEqual([]);
    }
  });

  it("the check can fail: with the restriction removed (from All, or the Gateway API default Same with the route in the Gateway's namespace) the tenant route is admitted", () => {
    const open: Listener[] = listeners(kubernetes).map((l) => ({ ...l, allowedRoutes: { namespaces: { from: "All" } } }));
    const hijack = { namespace: "tenant-a-models", namespaceLabels: namespaceLabels(kubernetes, "tenant-a-models") };
    expect(attachedListeners(open, "api-gateway", {}, hijack).map((l) => l.name)).toEqual(["maas-billing"]);
    const defaulted: Listener = { name: "maas-billing", hostname: "billing.example.com" };
    expect(listenerAdmits(defaulted, "api-gateway", { namespace: "api-gateway", namespaceLabels: {} })).toBe(true);
  });

  it("the billing Gateway serves the billing host only: a request for any other host matches none of its listeners", () => {
    expect(listenerForHost(listeners(kubernetes), "billing.example.com")?.name).toBe("maas-billing");
    expect(listenerForHost(listeners(kubernetes), "models.tenant-a.apps.example.com")).toBeUndefined();
  });

  it("no billing Gateway without a billing host (the API then stays in-cluster: review R12), and none on openshift (Routes)", async () => {
    const noHost = await renderConfig("unit-billing-no-host", { flavor: "kubernetes", platform: { billing: { image: testImage } } });
    expect(noHost.objects.filter((o) => o.object.kind === "Gateway")).toEqual([]);
    expect(noHost.objects.filter((o) => o.object.kind === "HTTPRoute")).toEqual([]);
    expect(openshift.objects.filter((o) => o.object.kind === "Gateway")).toEqual([]);
  });
});

describe("platform.billing.gateway config", () => {
  const kube = (billing: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    flavor: "kubernetes",
    allowImageTags: UNDIGESTED_DEFAULTS_OPT_IN,
    platform: { billing: { image: testImage, host: "billing.example.com", ...billing }, ...extra },
  });

  it("gatewayClassName is required on kubernetes with a billing host, naming the key and how to find the class", () => {
    const issues = errorsOf(kube({})).join("\n");
    expect(issues).toContain("maas-billing:platform.billing.gateway.gatewayClassName");
    expect(issues).toContain("required on flavor kubernetes when platform.billing.host is set");
    expect(issues).toContain("kubectl get gateway maas-default-gateway -n openshift-ingress -o jsonpath='{.spec.gatewayClassName}'");
  });

  it("is refused on openshift (Routes, no Gateway)", () => {
    const issues = errorsOf({ ...kube({ gateway: { gatewayClassName: "istio" } }), flavor: "openshift" }).join("\n");
    expect(issues).toContain("maas-billing:platform.billing.gateway.gatewayClassName");
    expect(issues).toContain('only for flavor "kubernetes"');
  });

  it("the billing Gateway may not take the shared Gateway's name (it is created in the same namespace)", () => {
    const issues = errorsOf(kube({ gateway: { gatewayClassName: "istio", name: "external" } }, { gateway: { name: "external", namespace: "api-gateway" } })).join("\n");
    expect(issues).toContain("maas-billing:platform.billing.gateway.name");
    expect(issues).toContain('"external" is platform.gateway.name');
  });
});
