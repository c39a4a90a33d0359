/*
 * The platform outputs contract (components/contract.ts): a tenant stack reads each output of its
 * platform stack through one reader, and an output that is missing or of the wrong shape stops the
 * program with the output's name instead of rendering a tenant from half a contract.
 */
import { describe, expect, it } from "vitest";
import { PLATFORM_OUTPUT_NAMES, parsePlatformOutput, tenantFederation } from "../components/contract";
import { platformOutputsFixture, renderConfig, renderExample } from "./support/stacks";

const stack = "acme/maas-billing/platform-openshift";
const fixture = platformOutputsFixture();

describe("parsePlatformOutput", () => {
  it("accepts every output of the example platform stack as rendered", async () => {
    const platform = await renderExample("platform-openshift");
    for (const name of PLATFORM_OUTPUT_NAMES) {
      expect(parsePlatformOutput(stack, name, platform.outputs[name])).toEqual(platform.outputs[name]);
    }
    // The contract names exactly what the Platform exports, no more and no less.
    expect(Object.keys(platform.outputs).sort()).toEqual([...PLATFORM_OUTPUT_NAMES].sort());
  });

  it("takes what older platforms lack: no tierLabel (the TelemetryPolicy default), no billingUrl, no billingPortalUrl", () => {
    expect(parsePlatformOutput(stack, "tierLabel", undefined)).toBe("tier");
    expect(parsePlatformOutput(stack, "billingPortalUrl", undefined)).toBeUndefined();
    const old = { "tenant-a": { url: "http://a:8080", gatewayUrl: "http://g:8080" } };
    expect(parsePlatformOutput(stack, "federation", old)).toEqual(old);
  });

  it.each([
    ["a missing output", "billingApiUrl", undefined, `platform stack ${stack}: required output "billingApiUrl" does not exist`],
    ["an unknown vLLM family", "vllmMetricFamily", "tgi", `platform stack ${stack}: output "vllmMetricFamily" is not what tenant stacks expect`],
    ["a federation entry without its gateway proxy", "federation", { "tenant-a": { url: "http://a:8080" } }, 'federation.tenant-a.gatewayUrl:'],
    ["a proxy URL that is no http(s) URL", "federation", { "tenant-a": { url: "file:///etc/passwd", gatewayUrl: "http://g:8080" } }, "federation.tenant-a.url: expected an http(s) URL"],
    ["namespaces that are not a list", "tenantNamespaces", { "tenant-a": "tenant-a-models" }, "tenantNamespaces.tenant-a:"],
    ["an unknown tier label", "tierLabel", "plan", 'output "tierLabel"'],
    ["a portal URL that is no URL", "billingPortalUrl", "billing portal", 'output "billingPortalUrl"'],
  ] as const)("names the output on %s", (_case, name, value, message) => {
    expect(() => parsePlatformOutput(stack, name, value)).toThrow(message);
  });
});

describe("a tenant-only stack reads its platform through the contract", () => {
  const platformStack = "acme/maas-billing/platform-openshift";
  const tenant = { flavor: "openshift", platformStack, tenant: { name: "tenant-a" } };

  it("renders from the fixture", async () => {
    const r = await renderConfig("tenant-contract", tenant, { [platformStack]: fixture });
    expect(r.objects.length).toBeGreaterThan(0);
    // The tenant's dashboards link to its own pages of the platform's billing portal.
    expect(JSON.stringify(r.objects)).toContain("https://billing.apps.example.com/portal/t/tenant-a/");
  });

  it("stops on a platform stack without billingApiUrl, naming it", async () => {
    const { billingApiUrl: _dropped, ...withoutUrl } = fixture;
    await expect(renderConfig("tenant-contract", tenant, { [platformStack]: withoutUrl })).rejects.toThrow(
      `platform stack ${platformStack}: required output "billingApiUrl" does not exist`,
    );
  });

  it("stops on a federation output of the wrong shape, naming the field", async () => {
    const broken = { ...fixture, federation: { "tenant-a": { url: 42, gatewayUrl: "http://g:8080" } } };
    await expect(renderConfig("tenant-contract", tenant, { [platformStack]: broken })).rejects.toThrow("federation.tenant-a.url");
  });
});

describe("tenantFederation", () => {
  it("returns the tenant's endpoints, and in direct mode none are needed", () => {
    expect(tenantFederation(fixture.federation, "tenant-a", "federated")).toEqual(fixture.federation["tenant-a"]);
    expect(tenantFederation({}, "tenant-a", "direct")).toEqual({ url: "", gatewayUrl: "" });
  });

  it("the check can fail: a tenant the platform does not know, in federated mode", () => {
    expect(() => tenantFederation(fixture.federation, "tenant-z", "federated")).toThrow(
      'tenant tenant-z: the platform exports no federation endpoints for this tenant; add { name: "tenant-z" } to platform.tenants in the platform stack',
    );
  });
});
