/**
 * Attack B3 of docs/threat-model.md: a tenant admin labels its API keys with the cheapest tier
 * (or any tier the platform did not sell it). Defences: `platform.tenants[].allowedTiers` (default:
 * the tiers the price book names), exported to tenant stacks, where a key of another tier fails the
 * preview naming the key; and the platform's Gateway AuthPolicy, which denies such a key at the
 * gateway whatever the tenant's own policies say.
 */
import * as path from "node:path";
import { evaluate } from "@marcbachmann/cel-js";
import { describe, expect, it } from "vitest";
import { ALLOWED_TIERS_RULE, allowedTierPredicate, gatewayAuthPolicyName, KEY_IDENTITY_RULE } from "../components/platform/gatewayAuth";
import { TIER_ANNOTATION } from "../components/shared/apiKeyIdentity";
import { readStackConfigFile, render, type K8sObject } from "../scripts/render";
import { createConformanceValidator } from "./support/conformance";
import { findObject, ofKind, platformOutputsFixture, renderConfig, testImage } from "./support/stacks";

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
    // A book with a "*" tier prices every tier: only explicit pins remain.
    const star = { ...BOOK, versions: [{ ...BOOK.versions[0], prices: [...BOOK.versions[0].prices, { tier: "*", model: "*", inputPerMillionTokens: "9.00", outputPerMillionTokens: "9.00", perRequest: "0" }] }] };
    const r2 = await renderConfig("unit-tiers-star", { flavor: "kubernetes", platform: { billing: { image: testImage, priceBook: star }, tenants: [{ name: "a", allowedTiers: ["premium"] }, { name: "b" }] } });
    expect(r2.outputs.tenantAllowedTiers).toEqual({ a: ["premium"] });
  });

  it("a contract tier is allowed for its own tenant only, and another tenant's `*` contract unpins nobody else", async () => {
    const contract = (tenant: string, tier: string) => ({ tenant, tier, model: "*", inputPerMillionTokens: "1.00", outputPerMillionTokens: "2.00", perRequest: "0" });
    const book = { ...BOOK, versions: [{ ...BOOK.versions[0], prices: [...BOOK.versions[0].prices, contract("a", "partner"), contract("a", "*")] }] };
    const r = await renderConfig("unit-tiers-contract", { flavor: "kubernetes", platform: { billing: { image: testImage, priceBook: book }, tenants: [{ name: "a" }, { name: "b" }] } });
    // a's `*` contract prices every tier for a (unpinned); b keeps the list's tiers, without a's "partner".
    expect(r.outputs.tenantAllowedTiers).toEqual({ b: ["enterprise", "free", "premium"] });
    await expect(
      renderConfig("unit-tiers-contract-b", { flavor: "kubernetes", platform: { billing: { image: testImage, priceBook: book }, tenants: [{ name: "a" }, { name: "b", allowedTiers: ["partner"] }] } }),
    ).rejects.toThrow('maas-billing:platform.tenants[1].allowedTiers[0]: tier "partner" has no price of its own in billing.priceBook');
  });

  it("refuses contract prices for a tenant the platform does not know (a typo would bill list prices)", async () => {
    const book = { ...BOOK, versions: [{ ...BOOK.versions[0], prices: [...BOOK.versions[0].prices, { tenant: "acne", tier: "premium", model: "*", inputPerMillionTokens: "1.00", outputPerMillionTokens: "2.00", perRequest: "0" }] }] };
    await expect(
      renderConfig("unit-contract-typo", { flavor: "kubernetes", platform: { billing: { image: testImage, priceBook: book }, tenants: [{ name: "acme" }] } }),
    ).rejects.toThrow('maas-billing:platform.billing.priceBook: contract prices for tenant "acne", which is not in platform.tenants ("acme")');
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
    await expect(renderConfig("dev-pinned", { flavor: config["maas-billing:flavor"], allowImageTags: config["maas-billing:allowImageTags"], platform: pinned, tenants: config["maas-billing:tenants"] })).rejects.toThrow(
      /apiKeys\[0\]\.tier: key "carol" uses tier "enterprise", which the platform does not allow tenant tenant-b/,
    );
  });
});

/** What Authorino puts in `auth.identity` for an API key: the key's Secret. */
const keyIdentity = (namespace: string, tier: string | undefined) => ({
  auth: { identity: { metadata: { namespace, name: "k", annotations: { "kuadrant.io/user-id": "mallory", ...(tier !== undefined ? { [TIER_ANNOTATION]: tier } : {}) } } } },
});

describe("attack B3 at the gateway: a key labelled with a tier the platform did not allow", () => {
  const pinned = async () => {
    const { config } = readStackConfigFile(path.join(__dirname, "..", "Pulumi.dev.yaml"));
    const platform = config["maas-billing:platform"] as { tenants: Array<Record<string, unknown>> };
    return renderConfig("dev-pinned-gateway", {
      flavor: config["maas-billing:flavor"],
      allowImageTags: config["maas-billing:allowImageTags"],
      platform: { ...platform, tenants: platform.tenants.map((t) => (t.name === "tenant-a" ? { ...t, allowedTiers: ["premium"] } : t)) },
      tenants: (config["maas-billing:tenants"] as Array<{ name: string; apiKeys: Array<{ tier: string }> }>).map((t) =>
        t.name === "tenant-a" ? { ...t, apiKeys: t.apiKeys.filter((k) => k.tier === "premium") } : t,
      ),
    });
  };
  const rule = (policy: K8sObject) => (policy.spec as any).overrides.rules.authorization[ALLOWED_TIERS_RULE];

  it("the platform renders one Gateway-level AuthPolicy override (merge) holding the rule, accepted by the CRD schema", async () => {
    const policy = findObject(await pinned(), "AuthPolicy", gatewayAuthPolicyName).object;
    expect(policy.metadata.namespace).toBe("openshift-ingress");
    expect((policy.spec as any).targetRef).toEqual({ group: "gateway.networking.k8s.io", kind: "Gateway", name: "maas-default-gateway" });
    expect((policy.spec as any).overrides.strategy).toBe("merge");
    expect(rule(policy)).toBeDefined();
    // The same object also carries #16's quota check: one Gateway AuthPolicy, both rule sets.
    expect(Object.keys((policy.spec as any).overrides.rules.authorization).sort()).toEqual([ALLOWED_TIERS_RULE, KEY_IDENTITY_RULE, "quota"].sort());
    expect((policy.spec as any).overrides.rules.metadata.quota).toBeDefined();
    expect(ofKind(await pinned(), "AuthPolicy").filter((o) => o.object.metadata.name === gatewayAuthPolicyName)).toHaveLength(1);
    expect(await createConformanceValidator().validate(policy)).toEqual([]);
  });

  it("denies the key (the rendered CEL, evaluated): a tenant-a key labelled free when tenant-a may use premium only", async () => {
    const policy = findObject(await pinned(), "AuthPolicy", gatewayAuthPolicyName).object;
    const predicate = rule(policy).patternMatching.patterns[0].predicate as string;
    const when = rule(policy).when[0].predicate as string;
    expect(evaluate(when, keyIdentity("tenant-a-models", "free"))).toBe(true);
    expect(evaluate(predicate, keyIdentity("tenant-a-models", "free"))).toBe(false);
    expect(evaluate(predicate, keyIdentity("tenant-a-models", undefined))).toBe(false);
    // The allowed tier passes; tenant-b is not pinned (the dev book prices every tier with "*").
    expect(evaluate(predicate, keyIdentity("tenant-a-models", "premium"))).toBe(true);
    expect(evaluate(predicate, keyIdentity("tenant-b-models", "enterprise"))).toBe(true);
    // The billed tier is the checked annotation, not a value of the tenant's own AuthPolicy.
    const filter = (policy.spec as any).overrides.rules.response.success.filters.identity.json.properties;
    for (const p of ["groups", "tier", "subscription"]) expect(evaluate(filter[p].expression, keyIdentity("tenant-a-models", "premium"))).toBe("premium");
    expect(evaluate(filter.tenant.expression, keyIdentity("tenant-a-models", "premium"))).toBe("tenant-a");
  });

  it("with several tier sets (each written once, namespaces mapping to their set's index), each namespace is held to its own tenant's set", () => {
    const predicate = allowedTierPredicate({ "a-models": ["premium", "free"], "a-monitoring": ["free", "premium"], "b-models": ["enterprise"], "c-models": ["free", "premium"] });
    // Three namespaces share one set, written once; b's set is the other.
    expect(predicate.match(/'premium'/g)).toHaveLength(1);
    const allowed = (ns: string, tier: string) => evaluate(predicate, keyIdentity(ns, tier));
    expect([allowed("a-models", "free"), allowed("a-models", "premium"), allowed("a-models", "enterprise")]).toEqual([true, true, false]);
    expect([allowed("b-models", "enterprise"), allowed("b-models", "free"), allowed("c-models", "enterprise"), allowed("c-models", "premium")]).toEqual([true, false, false, true]);
    // A namespace of no pinned tenant is not the rule's business.
    expect(allowed("elsewhere", "anything")).toBe(true);
  });

  it("the tenant's own AuthPolicy cannot remove or weaken it: same-named rules lose to the Gateway's override (merge)", async () => {
    const r = await pinned();
    const gateway = (findObject(r, "AuthPolicy", gatewayAuthPolicyName).object.spec as any).overrides.rules;
    const own = ofKind(r, "AuthPolicy").find((o) => o.object.metadata.namespace === "tenant-a-models")!.object.spec as any;
    // The tenant adds a rule of the same name that lets everything through, and its own identity filter.
    const tampered = { ...own.rules.authorization, [ALLOWED_TIERS_RULE]: { patternMatching: { patterns: [{ predicate: "true" }] } } };
    // Kuadrant RFC 0009: merged overrides win by rule name; the route's other rules stay.
    const effective = { ...tampered, ...gateway.authorization };
    expect(effective[ALLOWED_TIERS_RULE]).toEqual(gateway.authorization[ALLOWED_TIERS_RULE]);
    expect(Object.keys(effective)).toContain("own-namespace-keys-only");
    expect(evaluate(effective[ALLOWED_TIERS_RULE].patternMatching.patterns[0].predicate, keyIdentity("tenant-a-models", "free"))).toBe(false);
  });

  it("the check can fail: without a pin (no price book, no allowedTiers) no gateway tier rule exists", async () => {
    // Quota enforcement (#16, on by default) keeps the same Gateway AuthPolicy, without the tier rule.
    const r = await renderConfig("unit-unpinned", { flavor: "kubernetes", platform: { billing: { image: testImage }, tenants: [{ name: "a" }] } });
    const rules = (findObject(r, "AuthPolicy", gatewayAuthPolicyName).object.spec as any).overrides.rules;
    expect(Object.keys(rules.authorization).sort()).toEqual([KEY_IDENTITY_RULE, "quota"].sort());
    expect(rules.response.success).toBeUndefined();
    // With quota enforcement off too, no rule applies and no Gateway AuthPolicy is rendered.
    const off = await renderConfig("unit-unpinned-noquota", {
      flavor: "kubernetes",
      platform: { billing: { image: testImage }, tenants: [{ name: "a" }], quotaEnforcement: { enabled: false } },
    });
    expect(ofKind(off, "AuthPolicy").filter((o) => o.object.metadata.name === gatewayAuthPolicyName)).toEqual([]);
  });
});
