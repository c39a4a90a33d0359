import * as fs from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import type { RenderResult } from "../scripts/render";
import { checkConfigFileSecrets, checkSecurityInvariants, type InvariantViolation } from "./support/invariants";
import { exampleStacks, findObject, renderExample } from "./support/stacks";

const rules = (v: InvariantViolation[]) => [...new Set(v.map((x) => x.rule))].sort();

describe("every example stack satisfies the security invariants", () => {
  it.each(exampleStacks())("%s: render", async (stack) => {
    expect(checkSecurityInvariants(await renderExample(stack))).toEqual([]);
  });
  it.each(exampleStacks())("%s: config file", (stack) => {
    expect(checkConfigFileSecrets(fs.readFileSync(`Pulumi.${stack}.yaml`, "utf8"), `Pulumi.${stack}.yaml`)).toEqual([]);
  });
});

describe("each check can fail", () => {
  let base: RenderResult;
  beforeAll(async () => {
    base = await renderExample("platform-kubernetes");
  });

  /** A copy of the render with one Deployment's first container (or pod) changed. */
  const mutate = (change: (pod: any, container: any) => void): RenderResult => {
    const copy = structuredClone(base);
    const dep = findObject(copy, "Deployment", "maas-billing-api").object as any;
    change(dep.spec.template.spec, dep.spec.template.spec.containers[0]);
    return copy;
  };

  it.each([
    ["non-root", (_p: any, c: any) => { c.securityContext.runAsNonRoot = false; }],
    ["non-root", (p: any, c: any) => { c.securityContext.runAsUser = 0; p.securityContext.runAsUser = 0; }],
    ["no-privilege-escalation", (_p: any, c: any) => { delete c.securityContext.allowPrivilegeEscalation; }],
    ["no-privilege-escalation", (_p: any, c: any) => { c.securityContext.privileged = true; }],
    ["drop-all-capabilities", (_p: any, c: any) => { c.securityContext.capabilities = { drop: ["NET_RAW"] }; }],
    ["drop-all-capabilities", (_p: any, c: any) => { c.securityContext.capabilities.add = ["SYS_ADMIN"]; }],
    ["seccomp", (p: any, c: any) => { delete c.securityContext.seccompProfile; delete p.securityContext.seccompProfile; }],
    ["resources", (_p: any, c: any) => { delete c.resources.limits; }],
    ["image-pinned", (_p: any, c: any) => { c.image = "quay.io/other/thing:latest"; }],
    ["image-pinned", (_p: any, c: any) => { c.image = "quay.io/other/thing"; }],
    ["own-image-digest", (_p: any, c: any) => { c.image = "quay.io/maas-billing/maas-billing:v1.0.0"; }],
    ["no-plaintext-secret", (_p: any, c: any) => { c.env.push({ name: "DB_PASSWORD", value: "hunter2-hunter2" }); }],
    ["no-plaintext-secret", (_p: any, c: any) => { c.env.push({ name: "API_TOKEN", value: "t0k3n" }); }],
    ["host-namespaces", (p: any) => { p.hostNetwork = true; }],
  ])("%s", (rule, change) => {
    const violations = checkSecurityInvariants(mutate(change));
    expect(rules(violations)).toEqual([rule]);
    expect(violations[0].where).toBe("Deployment/maas-billing/maas-billing-api");
  });

  it("catches a generated secret outside a Secret", () => {
    const leaked = mutate((_p, c) => c.env.push({ name: "DEBUG", value: `url=${base.secretValues[0]}` }));
    const env = (findObject(leaked, "Deployment", "maas-billing-api").object as any).spec.template.spec.containers[0].env;
    expect(checkSecurityInvariants(leaked)).toEqual([
      {
        rule: "no-plaintext-secret",
        where: "Deployment/maas-billing/maas-billing-api",
        message: `spec.template.spec.containers[0].env[${env.length - 1}].value holds a generated secret in plain text`,
      },
    ]);
  });

  it("catches a generated secret in a plain output, not in a secret one", () => {
    const copy = structuredClone(base);
    copy.outputs.leak = { dsn: base.secretValues[0] };
    expect(rules(checkSecurityInvariants(copy))).toEqual(["no-plaintext-secret"]);
    copy.secretOutputs = ["leak"];
    expect(checkSecurityInvariants(copy)).toEqual([]);
  });

  it("catches a default password in a Secret, in stringData and in base64 data", () => {
    const copy = structuredClone(base);
    const secret = findObject(copy, "Secret", "maas-billing-db").object as any;
    secret.stringData.password = "changeme-please";
    expect(rules(checkSecurityInvariants(copy))).toEqual(["no-default-password"]);
    delete secret.stringData.password;
    secret.data = { password: Buffer.from("admin").toString("base64") };
    expect(rules(checkSecurityInvariants(copy))).toEqual(["no-default-password"]);
  });

  it("catches RandomString used for credentials", () => {
    const copy = structuredClone(base);
    copy.resources.push({ type: "random:index/randomString:RandomString", name: "pw", inputs: { length: 16 }, protect: false, custom: true });
    expect(rules(checkSecurityInvariants(copy))).toEqual(["random-password"]);
  });

  it("catches a Prometheus that may run as root", () => {
    const copy = structuredClone(base);
    (findObject(copy, "Prometheus", "maas-prometheus").object as any).spec.securityContext.runAsNonRoot = false;
    expect(rules(checkSecurityInvariants(copy))).toEqual(["non-root"]);
  });

  it("catches plaintext credentials in a stack config file", () => {
    const text = [
      "config:",
      "  maas-billing:flavor: openshift",
      "  maas-billing:grafanaPassword: changeme-please",
      "  maas-billing:apiToken:",
      "    secure: AAABAKx1",
      "  maas-billing:platform:",
      "    database:",
      "      password: hunter2",
      "    billing:",
      "      priceBook:",
      "        versions:",
      '          - prices: [{ tier: free, model: "*", inputPerMillionTokens: "3.00", outputPerMillionTokens: "15.00", perRequest: "0.001" }]',
      "      billingToken: plain-but-named-a-token",
    ].join("\n");
    expect(checkConfigFileSecrets(text, "Pulumi.x.yaml")).toEqual([
      { rule: "no-plaintext-secret", where: "Pulumi.x.yaml", message: "maas-billing:grafanaPassword is a plaintext credential; use pulumi config set --secret" },
      { rule: "no-default-password", where: "Pulumi.x.yaml", message: "maas-billing:grafanaPassword is a default password" },
      { rule: "no-plaintext-secret", where: "Pulumi.x.yaml", message: "maas-billing:platform.database.password is a plaintext credential; use pulumi config set --secret" },
      // Prices per million tokens are quantities; a key naming a token is still a credential.
      { rule: "no-plaintext-secret", where: "Pulumi.x.yaml", message: "maas-billing:platform.billing.billingToken is a plaintext credential; use pulumi config set --secret" },
    ]);
  });
});
