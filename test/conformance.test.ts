import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import type { K8sObject } from "../scripts/render";
import { createConformanceValidator, crdsDir, goPattern, loadCrds, toJsonSchema, type ConformanceValidator } from "./support/conformance";
import { exampleStacks, findObject, renderExample } from "./support/stacks";

let validator: ConformanceValidator;
beforeAll(() => {
  // Fails (never skips) when ../shared/crds (or MAAS_CRDS_DIR) is missing.
  validator = createConformanceValidator();
});

describe("every example stack conforms to the upstream CRDs and the Kubernetes API schema", () => {
  const stacks = exampleStacks();
  it("has example stacks of both flavors", () => {
    const flavors = stacks.map((s) => fs.readFileSync(`Pulumi.${s}.yaml`, "utf8").match(/maas-billing:flavor:\s*(\S+)/)?.[1]);
    expect(new Set(flavors)).toEqual(new Set(["openshift", "kubernetes"]));
  });
  it.each(stacks)("%s", async (stack) => {
    const result = await renderExample(stack);
    expect(result.objects.length).toBeGreaterThan(0);
    expect(await validator.validateAll(result.objects)).toEqual([]);
  });
});

describe("the check can fail", () => {
  const serviceMonitor = (): K8sObject => ({
    apiVersion: "monitoring.coreos.com/v1",
    kind: "ServiceMonitor",
    metadata: { name: "sm", namespace: "ns" },
    spec: { selector: { matchLabels: { a: "b" } }, endpoints: [{ port: "http", interval: "30s" }] },
  });

  it("accepts a well-formed custom resource", async () => {
    expect(await validator.validate(serviceMonitor())).toEqual([]);
  });

  it("catches a wrong type in a custom resource", async () => {
    const bad = serviceMonitor();
    (bad.spec as any).endpoints = "http";
    expect(await validator.validate(bad)).toEqual(["/spec/endpoints must be array"]);
  });

  it("catches an unknown field in a custom resource (a typo the API server would drop)", async () => {
    const bad = serviceMonitor();
    (bad.spec as any).endpoints[0].intervall = "30s";
    expect(await validator.validate(bad)).toEqual(['/spec/endpoints/0 must NOT have additional properties (unknown field "intervall")']);
  });

  it("catches a missing required field, but not in a patch", async () => {
    const bad: K8sObject = { apiVersion: "route.openshift.io/v1", kind: "Route", metadata: { name: "r", namespace: "ns" }, spec: { host: "a.example.com" } };
    expect(await validator.validate(bad)).toEqual(["/spec must have required property 'to'"]);
    expect(await validator.validate(bad, { patch: true })).toEqual([]);
  });

  it("catches a CEL-free enum/pattern violation from the CRD (TRLP window)", async () => {
    const trlp: K8sObject = {
      apiVersion: "kuadrant.io/v1alpha1",
      kind: "TokenRateLimitPolicy",
      metadata: { name: "t", namespace: "ns" },
      spec: {
        targetRef: { group: "gateway.networking.k8s.io", kind: "HTTPRoute", name: "r" },
        limits: { free: { rates: [{ limit: 100, window: "1 minute" }] } },
      },
    };
    const errors = await validator.validate(trlp);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^\/spec\/limits\/free\/rates\/0\/window must match pattern/);
  });

  it("catches a wrong type in a built-in kind", async () => {
    const result = await renderExample("platform-kubernetes");
    const dep = structuredClone(findObject(result, "Deployment", "maas-billing-api").object) as any;
    expect(await validator.validate(dep)).toEqual([]);
    dep.spec.template.spec.containers[0].ports[0].containerPort = "eighty";
    expect(await validator.validate(dep)).toEqual(["/spec/template/spec/containers/0/ports/0/containerPort must be integer"]);
  });

  it("catches a missing required field in a built-in kind", async () => {
    const bad: K8sObject = { apiVersion: "rbac.authorization.k8s.io/v1", kind: "RoleBinding", metadata: { name: "rb", namespace: "ns" }, subjects: [] };
    expect(await validator.validate(bad)).toEqual(["/ must have required property roleRef"]);
  });

  it("treats a kind no schema covers as an error", async () => {
    const unknown: K8sObject = { apiVersion: "example.com/v1", kind: "Widget", metadata: { name: "w" } };
    const errors = await validator.validate(unknown);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^no schema covers example\.com\/v1 Widget/);
    // A known kind at a version the CRDs do not serve is just as unknown.
    expect(await validator.validate({ ...serviceMonitor(), apiVersion: "monitoring.coreos.com/v9" })).toEqual([
      expect.stringMatching(/^no schema covers monitoring\.coreos\.com\/v9 ServiceMonitor/),
    ]);
  });

  it("catches names the API server refuses", async () => {
    const bad = serviceMonitor();
    bad.metadata.name = "Not_A_Name";
    expect(await validator.validate(bad)).toEqual(['metadata.name "Not_A_Name" is not a DNS subdomain']);
  });
});

describe("Kubernetes schema extensions", () => {
  it("x-kubernetes-int-or-string accepts integers and strings, nothing else", () => {
    const schema = toJsonSchema({ type: "object", properties: { port: { "x-kubernetes-int-or-string": true } } }, { partial: false });
    expect(schema).toEqual({ type: "object", additionalProperties: false, properties: { port: { anyOf: [{ type: "integer" }, { type: "string" }] } } });
  });

  it("x-kubernetes-preserve-unknown-fields keeps unknown fields", () => {
    const schema = toJsonSchema({ type: "object", properties: { a: { type: "string" } }, "x-kubernetes-preserve-unknown-fields": true }, { partial: false });
    expect(schema.additionalProperties).toBeUndefined();
  });

  it("x-kubernetes-embedded-resource admits apiVersion, kind and metadata", () => {
    const schema = toJsonSchema({ type: "object", properties: { spec: { type: "object" } }, "x-kubernetes-embedded-resource": true }, { partial: false });
    expect(Object.keys(schema.properties as object).sort()).toEqual(["apiVersion", "kind", "metadata", "spec"]);
  });

  it("validates int-or-string fields of a real CRD both ways", async () => {
    const sm = (port: unknown): K8sObject => ({
      apiVersion: "monitoring.coreos.com/v1",
      kind: "ServiceMonitor",
      metadata: { name: "sm", namespace: "ns" },
      spec: { selector: {}, endpoints: [{ targetPort: port }] },
    });
    expect(await validator.validate(sm(8080))).toEqual([]);
    expect(await validator.validate(sm("http"))).toEqual([]);
    expect(await validator.validate(sm(true))).not.toEqual([]);
  });
});

describe("Go (RE2) patterns of the CRDs", () => {
  const rule = (strategy: string): K8sObject => ({
    apiVersion: "monitoring.coreos.com/v1",
    kind: "PrometheusRule",
    metadata: { name: "r", namespace: "ns" },
    spec: { groups: [{ name: "g", partial_response_strategy: strategy, rules: [{ record: "a:b:rate5m", expr: "rate(b[5m])" }] }] },
  });

  it("checks every pattern of the upstream CRDs: none is left untranslated", () => {
    // The one Go-only pattern (PrometheusRule partial_response_strategy `^(?i)(abort|warn)?$`) is translated, not dropped.
    expect(validator.untranslatedPatterns).toEqual([]);
  });

  it("translates a leading (?i) into a case-insensitive RegExp, as Go reads it", async () => {
    expect(goPattern("^(?i)(abort|warn)?$")).toEqual({ go: "^(?i)(abort|warn)?$", source: "^(abort|warn)?$", flags: "iu" });
    for (const ok of ["abort", "Abort", "WARN", ""]) expect(await validator.validate(rule(ok)), ok).toEqual([]);
    expect(await validator.validate(rule("drop"))).toEqual(['/spec/groups/0/partial_response_strategy must match pattern "^(?i)(abort|warn)?$"']);
  });

  it("records (never silently drops) a Go pattern it cannot translate", () => {
    const untranslated: string[] = [];
    // (?P<name>...) is RE2's named group; JavaScript has no such syntax and a mid-pattern (?i) is not one flag.
    const schema = toJsonSchema(
      { type: "object", properties: { a: { type: "string", pattern: "^(?P<x>a)$" }, b: { type: "string", pattern: "a(?i)b" }, c: { type: "string", pattern: "^[a-z]+$" } } },
      { partial: false, untranslated },
    );
    expect(untranslated).toEqual(["^(?P<x>a)$", "a(?i)b"]);
    expect(schema.properties).toEqual({ a: { type: "string" }, b: { type: "string" }, c: { type: "string", pattern: "^[a-z]+$" } });
    expect(goPattern("a(?i)b")).toBeUndefined();
  });
});

describe("the CRD directory", () => {
  it("defaults to ../shared/crds and honours MAAS_CRDS_DIR", () => {
    const saved = process.env.MAAS_CRDS_DIR;
    try {
      delete process.env.MAAS_CRDS_DIR;
      expect(crdsDir()).toBe(path.resolve(__dirname, "..", "..", "shared", "crds"));
      process.env.MAAS_CRDS_DIR = "/somewhere/else";
      expect(crdsDir()).toBe("/somewhere/else");
    } finally {
      if (saved === undefined) delete process.env.MAAS_CRDS_DIR;
      else process.env.MAAS_CRDS_DIR = saved;
    }
  });

  it("fails loudly when missing or empty", () => {
    expect(() => createConformanceValidator("/nonexistent/crds")).toThrow("CRD directory /nonexistent/crds does not exist");
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), "crds-"));
    try {
      expect(() => loadCrds(empty)).toThrow(`CRD directory ${empty} holds no CustomResourceDefinition`);
    } finally {
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });

  it("holds every kind the render uses", () => {
    expect(validator.customKinds).toEqual(
      expect.arrayContaining([
        "monitoring.coreos.com/v1/ServiceMonitor",
        "monitoring.coreos.com/v1/Prometheus",
        "route.openshift.io/v1/Route",
        "gateway.networking.k8s.io/v1/HTTPRoute",
        "extensions.kuadrant.io/v1alpha1/TelemetryPolicy",
        "limitador.kuadrant.io/v1alpha1/Limitador",
        "monitoring.coreos.com/v1/PrometheusRule",
      ]),
    );
  });
});
