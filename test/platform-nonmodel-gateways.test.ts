/**
 * Review R12 (session 8): the platform's Gateway AuthPolicy (overrides: an API key's identity, the
 * quota check) targets the shared Gateway, and Kuadrant enforces a Gateway-targeted policy on every
 * route attached to that Gateway and on no other (Kuadrant/kuadrant-operator doc/overviews/auth.md,
 * "Targeting a Gateway networking resource"). Routes without API keys therefore leave it: the
 * platform Grafana gets a Gateway of its own (like the billing API with `platform.billing.host`), and
 * the billing API without a host stays in-cluster on kubernetes.
 *
 * Render shapes: which routes attach where, which policies target what. Attacks by a tenant admin:
 * a model route on the Grafana Gateway (its allowedRoutes evaluated with scripts/e2e/gateway-api.ts
 * against the tenant namespaces' labels), and a route whose parent is any Gateway but the shared
 * one (the route admission policy's rendered CEL run with cel-js; the real kube-apiserver runs it
 * in `npm run e2e`, scripts/e2e/route-admission.ts). Each check is also run with its defence
 * removed, and then admits the attack.
 */
import { evaluate } from "@marcbachmann/cel-js";
import { beforeAll, describe, expect, it } from "vitest";
import { parseStackConfig } from "../components/config";
import { NAMESPACE_NAME_LABEL } from "../components/platform/billingGateway";
import { gatewayAuthPolicyName } from "../components/platform/gatewayAuth";
import { routeAdmissionPolicyName } from "../components/platform/routeAdmission";
import type { K8sObject, RenderResult } from "../scripts/render";
import { attachedListeners, type Listener } from "../scripts/e2e/gateway-api";
import { errorsOf } from "./support/configErrors";
import { createConformanceValidator } from "./support/conformance";
import { findObject, ofKind, renderConfig, testImage, UNDIGESTED_DEFAULTS_OPT_IN } from "./support/stacks";

const SHARED = { name: "external", namespace: "api-gateway" };
const tenants = [
  { name: "tenant-a", namespaces: ["tenant-a-models", "tenant-a-monitoring"], domains: ["tenant-a.apps.example.com"], adminGroup: "tenant-a-admins" },
  { name: "tenant-b", namespaces: ["tenant-b-models"], domains: ["tenant-b.apps.example.com"], adminGroup: "tenant-b-admins" },
];
const kubePlatform = (extra: Record<string, unknown> = {}) => ({
  flavor: "kubernetes",
  allowImageTags: UNDIGESTED_DEFAULTS_OPT_IN,
  platform: {
    billing: { image: testImage, host: "billing.example.com", gateway: { gatewayClassName: "istio" } },
    gateway: SHARED,
    monitoring: { namespace: "maas-monitoring" },
    grafana: { expose: { enabled: true, host: "grafana.platform.example.com" } },
    tenants,
    ...extra,
  },
});

let exposed: RenderResult;
let noHost: RenderResult;
beforeAll(async () => {
  exposed = await renderConfig("unit-nonmodel-gateways", kubePlatform());
  noHost = await renderConfig("unit-nonmodel-no-host", {
    flavor: "kubernetes",
    platform: { billing: { image: testImage }, tenants: [{ name: "acme", namespaces: ["acme-models"], domains: ["acme.example.com"] }] },
  });
}, 300_000);

const parentsOf = (r: RenderResult, name: string) => (findObject(r, "HTTPRoute", name).object as any).spec.parentRefs;
const grafanaListeners = (r: RenderResult): Listener[] => (findObject(r, "Gateway", "maas-grafana").object as any).spec.listeners;
/** Labels a namespace has on the API server: its own (as rendered) plus the name label the API server sets. */
const namespaceLabels = (r: RenderResult, name: string): Record<string, string> => {
  const ns = r.objects.find((o) => o.object.kind === "Namespace" && o.object.metadata.name === name)?.object as any;
  return { ...(ns?.metadata?.labels ?? {}), [NAMESPACE_NAME_LABEL]: name };
};

describe("R12: routes without API keys are not on the Gateway the platform's AuthPolicy targets (kubernetes)", () => {
  it("the Gateway AuthPolicy targets the shared Gateway, whole, and nothing else", () => {
    const policies = ofKind(exposed, "AuthPolicy").map((o) => o.object as any);
    expect(policies.map((p) => `${p.metadata.namespace}/${p.metadata.name}`)).toEqual([`api-gateway/${gatewayAuthPolicyName}`]);
    expect(policies[0].spec.targetRef).toEqual({ group: "gateway.networking.k8s.io", kind: "Gateway", name: "external" });
    expect(policies[0].spec.overrides.rules.authorization).toHaveProperty("maas-billing-api-key-identity");
  });

  it("the exposed platform Grafana has a Gateway of its own: the Grafana host, TLS, HTTPRoutes from the monitoring namespace only", async () => {
    const gateway = findObject(exposed, "Gateway", "maas-grafana").object as any;
    expect(gateway.metadata).toMatchObject({ name: "maas-grafana", namespace: "api-gateway" });
    // Not Grafana's pod labels: Gateway controllers copy a Gateway's labels to the pods they run for it.
    expect(gateway.metadata.labels["app.kubernetes.io/name"]).toBe("maas-grafana-gateway");
    expect(gateway.spec).toEqual({
      // Defaults to the billing Gateway's class.
      gatewayClassName: "istio",
      listeners: [
        {
          name: "maas-grafana",
          hostname: "grafana.platform.example.com",
          port: 443,
          protocol: "HTTPS",
          tls: { mode: "Terminate", certificateRefs: [{ group: "", kind: "Secret", name: "maas-grafana-tls" }] },
          allowedRoutes: {
            namespaces: { from: "Selector", selector: { matchLabels: { [NAMESPACE_NAME_LABEL]: "maas-monitoring" } } },
            kinds: [{ group: "gateway.networking.k8s.io", kind: "HTTPRoute" }],
          },
        },
      ],
    });
    expect(await createConformanceValidator().validate(gateway)).toEqual([]);
  });

  it("Grafana's HTTPRoute attaches to its Gateway's listener (which admits it), the billing API's to the billing Gateway: no platform route is on the shared Gateway", () => {
    const grafana = findObject(exposed, "HTTPRoute", "maas-grafana").object as any;
    expect(grafana.spec.parentRefs).toEqual([{ group: "gateway.networking.k8s.io", kind: "Gateway", name: "maas-grafana", namespace: "api-gateway", sectionName: "maas-grafana" }]);
    const attached = attachedListeners(grafanaListeners(exposed), "api-gateway", grafana.spec.parentRefs[0], {
      namespace: grafana.metadata.namespace,
      namespaceLabels: namespaceLabels(exposed, grafana.metadata.namespace),
    });
    expect(attached.map((l) => l.name)).toEqual(["maas-grafana"]);
    expect(parentsOf(exposed, "maas-billing-api")[0]).toMatchObject({ name: "maas-billing", sectionName: "maas-billing" });
    const onShared = ofKind(exposed, "HTTPRoute").filter((o) => (o.object as any).spec.parentRefs.some((p: any) => p.name === SHARED.name && p.namespace === SHARED.namespace));
    expect(onShared.map((o) => o.object.metadata.name)).toEqual([]);
    // The Gateways the platform creates: the billing API's and Grafana's; the shared Gateway is not touched.
    expect(ofKind(exposed, "Gateway").map((o) => `${o.object.metadata.namespace}/${o.object.metadata.name}${o.patch ? " (patch)" : ""}`).sort()).toEqual([
      "api-gateway/maas-billing",
      "api-gateway/maas-grafana",
    ]);
  });

  it("the billing API without platform.billing.host stays in-cluster on kubernetes: no HTTPRoute (the shared Gateway's policy would refuse it), no portal URL", () => {
    expect(ofKind(noHost, "HTTPRoute")).toEqual([]);
    expect(ofKind(noHost, "Gateway")).toEqual([]);
    // The Gateway AuthPolicy is rendered in that stack (quota enforcement is on by default).
    expect(findObject(noHost, "AuthPolicy", gatewayAuthPolicyName).object.metadata.namespace).toBe("openshift-ingress");
    expect(findObject(noHost, "Service", "maas-billing-api").object.metadata.namespace).toBe("maas-billing");
  });

  it("attack: a tenant admin's model route on the Grafana Gateway (naming its listener, or not) is not admitted by the listener, from any tenant namespace", () => {
    const listeners = grafanaListeners(exposed);
    for (const ns of tenants.flatMap((t) => t.namespaces)) {
      findObject(exposed, "Namespace", ns);
      const hijack = { namespace: ns, namespaceLabels: namespaceLabels(exposed, ns) };
      expect(attachedListeners(listeners, "api-gateway", { sectionName: "maas-grafana" }, hijack), ns).toEqual([]);
      expect(attachedListeners(listeners, "api-gateway", {}, hijack), ns).toEqual([]);
    }
    // The check can fail: with the restriction removed the tenant route is attached.
    const open: Listener[] = listeners.map((l) => ({ ...l, allowedRoutes: { namespaces: { from: "All" } } }));
    const hijack = { namespace: "tenant-a-models", namespaceLabels: namespaceLabels(exposed, "tenant-a-models") };
    expect(attachedListeners(open, "api-gateway", {}, hijack).map((l) => l.name)).toEqual(["maas-grafana"]);
  });
});

describe("R12 attack: a tenant route whose parent is not the shared Gateway is refused by the route admission policy (cel-js on the rendered CEL)", () => {
  const policy = () => findObject(exposed, "ValidatingAdmissionPolicy", routeAdmissionPolicyName).object.spec as any;
  const namespaceObject = (name: string) => findObject(exposed, "Namespace", name).object;

  /** What the API server's admission decides with `spec`: variables bound first, then every validation must be true. */
  const admitted = (spec: any, object: K8sObject): boolean => {
    const namespace = namespaceObject(object.metadata.namespace!);
    const variables: Record<string, unknown> = {};
    for (const v of spec.variables) variables[v.name] = evaluate(v.expression, { object, namespaceObject: namespace, variables });
    return spec.validations.every((v: { expression: string }) => evaluate(v.expression, { object, namespaceObject: namespace, variables }) === true);
  };
  const messages = (spec: any, object: K8sObject): string[] => {
    const namespace = namespaceObject(object.metadata.namespace!);
    const variables: Record<string, unknown> = {};
    for (const v of spec.variables) variables[v.name] = evaluate(v.expression, { object, namespaceObject: namespace, variables });
    return spec.validations
      .filter((v: { expression: string }) => evaluate(v.expression, { object, namespaceObject: namespace, variables }) !== true)
      .map((v: { messageExpression: string }) => String(evaluate(v.messageExpression, { object, namespaceObject: namespace, variables })));
  };

  /** tenant-a's model route inside its own domain, to its own model Service, with `parentRefs`. */
  const route = (parentRefs: unknown[]): K8sObject => ({
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: { name: "granite", namespace: "tenant-a-models" },
    spec: { parentRefs, hostnames: ["models.tenant-a.apps.example.com"], rules: [{ backendRefs: [{ name: "granite-predictor", port: 8080 }] }] },
  });
  const gw = (name: string, namespace?: string, extra: Record<string, unknown> = {}) => ({ group: "gateway.networking.k8s.io", kind: "Gateway", name, ...(namespace ? { namespace } : {}), ...extra });

  const attacks: Array<[string, unknown[]]> = [
    ["the Grafana Gateway's listener", [gw("maas-grafana", "api-gateway", { sectionName: "maas-grafana" })]],
    ["the billing Gateway", [gw("maas-billing", "api-gateway")]],
    ["another Gateway of the cluster that admits every namespace", [gw("public", "other-ingress")]],
    ["the shared Gateway's name without a namespace (a Gateway in the tenant's own namespace)", [gw("external")]],
    ["the shared Gateway and, next to it, the Grafana Gateway", [gw("external", "api-gateway"), gw("maas-grafana", "api-gateway")]],
    ["a mesh Service as parent (GAMMA)", [{ group: "", kind: "Service", name: "granite", namespace: "tenant-a-models" }]],
    ["the shared Gateway's name in another API group", [{ group: "example.com", kind: "Gateway", name: "external", namespace: "api-gateway" }]],
  ];

  it("admits the honest route: the shared Gateway, with or without a listener, group and kind left to their defaults or not", () => {
    expect(admitted(policy(), route([gw("external", "api-gateway")]))).toBe(true);
    expect(admitted(policy(), route([{ name: "external", namespace: "api-gateway", sectionName: "https" }]))).toBe(true);
  });

  it.each(attacks)("refuses a route on %s, naming the shared Gateway", (_what, parentRefs) => {
    expect(admitted(policy(), route(parentRefs))).toBe(false);
    expect(messages(policy(), route(parentRefs)).join("\n")).toContain("a tenant route may attach to the shared Gateway api-gateway/external only");
  });

  it("the check can fail: without the parentRefs validation each attack is admitted", () => {
    const spec = policy();
    const weakened = { ...spec, validations: spec.validations.filter((v: { expression: string }) => !v.expression.includes("variables.parents")) };
    expect(weakened.validations.length).toBe(spec.validations.length - 1);
    for (const [what, parentRefs] of attacks) expect(admitted(weakened, route(parentRefs)), what).toBe(true);
  });
});

describe("platform.grafana.gateway config", () => {
  it("a GatewayClass is required on kubernetes when the platform Grafana is exposed, unless the billing Gateway has one", () => {
    const raw = kubePlatform({ billing: { image: testImage } });
    const issues = errorsOf(raw).join("\n");
    expect(issues).toContain("maas-billing:platform.grafana.gateway.gatewayClassName: required on flavor kubernetes when platform.grafana.expose.enabled is true");
    expect(issues).toContain("kubectl get gateway external -n api-gateway -o jsonpath='{.spec.gatewayClassName}'");
    const own = kubePlatform({ billing: { image: testImage }, grafana: { expose: { enabled: true, host: "grafana.platform.example.com" }, gateway: { gatewayClassName: "eg" } } });
    expect(() => parseStackConfig(own)).not.toThrow();
    expect(() => parseStackConfig(kubePlatform())).not.toThrow();
  });

  it("may not take the shared or the billing Gateway's name", () => {
    for (const [name, key] of [
      ["external", "platform.gateway.name"],
      ["maas-billing", "platform.billing.gateway.name"],
    ]) {
      const issues = errorsOf(kubePlatform({ grafana: { expose: { enabled: true, host: "grafana.platform.example.com" }, gateway: { name } } })).join("\n");
      expect(issues).toContain("maas-billing:platform.grafana.gateway.name");
      expect(issues).toContain(`"${name}" is ${key}`);
    }
  });

  it("its gatewayClassName is refused on openshift (Routes, no Gateway)", () => {
    const issues = errorsOf({ flavor: "openshift", platform: { billing: { image: testImage }, grafana: { gateway: { gatewayClassName: "istio" } } } }).join("\n");
    expect(issues).toContain("maas-billing:platform.grafana.gateway.gatewayClassName");
    expect(issues).toContain('only for flavor "kubernetes"');
  });
});
