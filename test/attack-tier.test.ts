/**
 * Attack B3 of docs/threat-model.md: a tenant admin labels its API keys with the cheapest tier
 * (or any tier the platform did not sell it). Defences: `platform.tenants[].allowedTiers` (default:
 * the tiers the price book names), exported to tenant stacks, where a key of another tier fails the
 * preview naming the key; and the platform's Gateway AuthPolicy, which denies such a key at the
 * gateway whatever the tenant's own policies say.
 */
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { readStackConfigFile, render } from "../scripts/render";
import { platformOutputsFixture, renderConfig, testImage } from "./support/stacks";

const BOOK = {
  currency: "USD",
  minorUnitDigits: 2,
  versions: [
    {
      effectiveFrom: "2025-01-01T00:00:00Z",
      prices: [
        { tier: "free", model: "*", inputPerMillionTokens: "0.10", outputPerMillionTokens: "0.20", perRequest: "0" },
        { tier: "premium", model: "*", inputPerMillionTokens: "3.00", outputPerMillionTokens: "15.00", perRequest: "0" },
        { tier: "enterprise", model: "*", inputPerMillionTokens: "5.00", outputPerMillionTokens: "20.00", perRequest: "0" },
      ],
    },
  ],
};

/**
 * tenant-b's own stack (Pulumi.tenant-b.yaml: key "carol" on tier basic, "dave" on unlimited-requests)
 * against a platform that pins its tiers (undefined: a platform without the output).
 */
const renderTenantB = (allowed: Record<string, string[]> | undefined) => {
  const { config, secretKeys } = readStackConfigFile(path.join(__dirname, "..", "Pulumi.tenant-b.yaml"));
  const { tenantAllowedTiers: _none, ...older } = platformOutputsFixture();
  const outputs = allowed ? { ...older, tenantAllowedTiers: allowed } : older;
  return render({ stack: "tenant-b", config, secretKeys, stackReferenceOutputs: { [String(config["maas-billing:platformStack"])]: outputs } });
};

describe("attack B3: the tenant picks its own price tier", () => {
  it("the platform exports each tenant's allowed tiers: explicit, else every tier the price book names", async () => {
    const r = await renderConfig("unit-tiers", {
      flavor: "kubernetes",
      platform: { billing: { image: testImage, priceBook: BOOK }, tenants: [{ name: "a", allowedTiers: ["premium"] }, { name: "b" }] },
    });
    expect(r.outputs.tenantAllowedTiers).toEqual({ a: ["premium"], b: ["enterprise", "free", "premium"] });
  });

  it("refuses an allowed tier the price book does not price", async () => {
    await expect(
      renderConfig("unit-tiers-bad", { flavor: "kubernetes", platform: { billing: { image: testImage, priceBook: BOOK }, tenants: [{ name: "a", allowedTiers: ["gold"] }] } }),
    ).rejects.toThrow('maas-billing:platform.tenants[0].allowedTiers[0]: tier "gold" has no price of its own in billing.priceBook (it prices "enterprise", "free", "premium")');
  });

  it("a tenant stack whose key uses a tier the platform does not allow fails at preview, naming the key", async () => {
    // The platform sold tenant-b "unlimited-requests" only; carol's key is labelled "basic".
    await expect(renderTenantB({ "tenant-b": ["unlimited-requests"] })).rejects.toThrow(
      /tenant tenant-b:\n {2}apiKeys\[0\]\.tier: key "carol" uses tier "basic", which the platform does not allow tenant tenant-b \(platform.tenants\[\]\.allowedTiers: unlimited-requests\)/,
    );
  });

  it("the same stack with an allowed tier, or against a platform without a pin (older platforms), renders", async () => {
    expect((await renderTenantB({ "tenant-b": ["basic", "unlimited-requests"] })).objects.length).toBeGreaterThan(0);
    expect((await renderTenantB(undefined)).objects.length).toBeGreaterThan(0);
  });

  it("in the all-in-one stack too: the dev platform pinning tenant-b to premium refuses carol's enterprise key", async () => {
    const { config } = readStackConfigFile(path.join(__dirname, "..", "Pulumi.dev.yaml"));
    const platform = config["maas-billing:platform"] as { tenants: Array<Record<string, unknown>> };
    const pinned = { ...platform, tenants: platform.tenants.map((t) => (t.name === "tenant-b" ? { ...t, allowedTiers: ["premium"] } : t)) };
    await expect(renderConfig("dev-pinned", { flavor: config["maas-billing:flavor"], platform: pinned, tenants: config["maas-billing:tenants"] })).rejects.toThrow(
      /apiKeys\[0\]\.tier: key "carol" uses tier "enterprise", which the platform does not allow tenant tenant-b/,
    );
  });
});
