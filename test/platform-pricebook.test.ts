import * as fs from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";
import { beforeAll, describe, expect, it } from "vitest";
import { priceFor } from "../billing-service/src/pricebook/cost";
import { loadPriceBook, parsePriceBook, versionAt, type PriceBook } from "../billing-service/src/pricebook/pricebook";
import type { RenderResult } from "../scripts/render";
import { findObject, ofKind, renderConfig, repoRoot, testImage } from "./support/stacks";

// `platform.billing.priceBook` under the real program (mock runtime): the ConfigMap, the mount, the env
// the service reads and the checksum that rolls the pods, checked against the service's own parser.
const exampleFile = path.join(repoRoot, "billing-service", "pricebook.example.yaml");
const exampleText = fs.readFileSync(exampleFile, "utf8");
const exampleObject = YAML.parse(exampleText) as Record<string, unknown>;

/** The example book with enterprise's per-request price changed. */
function withEnterprisePerRequest(perRequest: string): Record<string, unknown> {
  const book = structuredClone(exampleObject) as { versions: { prices: { tier: string; perRequest: string }[] }[] };
  book.versions[0].prices.find((p) => p.tier === "enterprise")!.perRequest = perRequest;
  return book;
}

const renderWith = (stack: string, priceBook?: unknown) =>
  renderConfig(stack, { flavor: "kubernetes", platform: { billing: { image: testImage, ...(priceBook !== undefined ? { priceBook } : {}) } } });

const deployment = (r: RenderResult) => findObject(r, "Deployment", "maas-billing-api").object as any;
const priceBookOf = (r: RenderResult) => (findObject(r, "ConfigMap", "maas-billing-api-pricebook").object.data as Record<string, string>)["pricebook.yaml"];
const checksumOf = (r: RenderResult): string | undefined => deployment(r).spec.template.metadata.annotations["maas.opendatahub.io/price-book"];

/** What the service bills (tier, model) with at an instant: per-request, input and output prices as scaled integers. */
function priced(book: PriceBook, tier: string, model: string) {
  const p = priceFor(versionAt(book, new Date("2026-06-01T00:00:00Z"))!, { tenant: "acme", tier, model })!;
  return { input: p.inputPerMillion, output: p.outputPerMillion, perRequest: p.perRequest };
}

let asObject: RenderResult;
let asString: RenderResult;
let repriced: RenderResult;
let baked: RenderResult;
beforeAll(async () => {
  asObject = await renderWith("pricebook-object", exampleObject);
  asString = await renderWith("pricebook-string", exampleText);
  repriced = await renderWith("pricebook-repriced", withEnterprisePerRequest("0.006"));
  baked = await renderWith("pricebook-none");
});

describe("platform.billing.priceBook", () => {
  it("renders the book into a ConfigMap in the billing namespace that the service parses to the example's prices", () => {
    const cm = findObject(asObject, "ConfigMap", "maas-billing-api-pricebook").object;
    expect(cm.metadata.namespace).toBe("maas-billing");
    const rendered = parsePriceBook(priceBookOf(asObject), "rendered");
    const example = loadPriceBook(exampleFile);
    expect(rendered.currency).toBe("USD");
    for (const tier of ["free", "premium", "enterprise", "unknown-tier"]) {
      expect(priced(rendered, tier, "any-model")).toEqual(priced(example, tier, "any-model"));
    }
  });

  it("keeps a string price book verbatim, comments included", () => {
    expect(priceBookOf(asString)).toBe(exampleText);
  });

  it("mounts the ConfigMap read-only and points MAAS_BILLING_PRICE_BOOK at the mounted file", () => {
    const pod = deployment(asObject).spec.template.spec;
    const container = pod.containers[0];
    expect(container.env).toContainEqual({ name: "MAAS_BILLING_PRICE_BOOK", value: "/etc/maas-billing-pricebook/pricebook.yaml" });
    expect(container.volumeMounts).toContainEqual({ name: "pricebook", mountPath: "/etc/maas-billing-pricebook", readOnly: true });
    expect(pod.volumes).toContainEqual({ name: "pricebook", configMap: { name: "maas-billing-api-pricebook" } });
  });

  it("changes the pod template checksum when a price changes, so the pods roll", () => {
    expect(checksumOf(asObject)).toMatch(/^[0-9a-f]{16}$/);
    expect(checksumOf(repriced)).toMatch(/^[0-9a-f]{16}$/);
    expect(checksumOf(repriced)).not.toBe(checksumOf(asObject));
    expect(priced(parsePriceBook(priceBookOf(repriced)), "enterprise", "m").perRequest).not.toBe(priced(parsePriceBook(priceBookOf(asObject)), "enterprise", "m").perRequest);
  });

  it("leaves the image's baked-in book alone when omitted: no ConfigMap, env, mount or checksum", () => {
    expect(ofKind(baked, "ConfigMap").map((o) => o.object.metadata.name)).not.toContain("maas-billing-api-pricebook");
    const pod = deployment(baked).spec.template.spec;
    expect(pod.containers[0].env.map((e: { name: string }) => e.name)).not.toContain("MAAS_BILLING_PRICE_BOOK");
    expect(pod.volumes.map((v: { name: string }) => v.name)).not.toContain("pricebook");
    expect(checksumOf(baked)).toBeUndefined();
  });

  it("fails with a message naming the key and the bad field when a price is a YAML number", async () => {
    const float = structuredClone(exampleObject) as { versions: { prices: Record<string, unknown>[] }[] };
    float.versions[0].prices[0].inputPerMillionTokens = 3;
    await expect(renderWith("pricebook-float", float)).rejects.toThrow(
      'maas-billing:platform.billing.priceBook: the billing service would refuse it: price book: versions.0.prices.0.inputPerMillionTokens: write prices as quoted decimal strings, e.g. "3.00" (YAML numbers would be floats)',
    );
  });

  it("tells the user to quote an effectiveFrom that Pulumi read as a YAML timestamp", async () => {
    // What the Pulumi CLI hands the program for an unquoted `effectiveFrom: 2025-01-01T00:00:00Z`
    // (seen in the first real engine run).
    const unquoted = structuredClone(exampleObject) as { versions: Record<string, unknown>[] };
    unquoted.versions[0].effectiveFrom = "2025-01-01 00:00:00 +0000 UTC";
    await expect(renderWith("pricebook-timestamp", unquoted)).rejects.toThrow(
      'maas-billing:platform.billing.priceBook: the billing service would refuse it: price book: versions.0.effectiveFrom: got "2025-01-01 00:00:00 +0000 UTC", which is how Pulumi passes an unquoted YAML timestamp: quote the date in Pulumi.<stack>.yaml, e.g. effectiveFrom: "2026-01-01T00:00:00Z"',
    );
  });

  it("fails on rules only the service's parser knows: a (tier, model) priced twice in one version", async () => {
    const twice = structuredClone(exampleObject) as { versions: { prices: unknown[] }[] };
    twice.versions[0].prices.push(twice.versions[0].prices[0]);
    await expect(renderWith("pricebook-twice", twice)).rejects.toThrow(
      "maas-billing:platform.billing.priceBook: the billing service would refuse it: price book: version 2025-01-01T00:00:00Z: free/* priced twice",
    );
  });

  it("fails on a string that is not YAML of a price book", async () => {
    await expect(renderWith("pricebook-garbage", "currency: dollars\nversions: []\n")).rejects.toThrow(/maas-billing:platform\.billing\.priceBook: .*currency: expected an ISO 4217 code like USD/);
  });
});

describe("Pulumi.dev.yaml", () => {
  it("carries the seeds' example prices, the same as billing-service/pricebook.example.yaml", () => {
    const dev = YAML.parse(fs.readFileSync(path.join(repoRoot, "Pulumi.dev.yaml"), "utf8"));
    const book = parsePriceBook(YAML.stringify(dev.config["maas-billing:platform"].billing.priceBook), "Pulumi.dev.yaml");
    const example = loadPriceBook(exampleFile);
    expect(book.versions.map((v) => v.effectiveFrom)).toEqual(example.versions.map((v) => v.effectiveFrom));
    expect(book.versions[0].prices.map((p) => p.text)).toEqual(example.versions[0].prices.map((p) => p.text));
  });
});

describe("platform.billing.models", () => {
  it("closes the model field of a `*`-only price book: the rendered MAAS_BILLING_MODELS, read by the service's config loader, refuses an invented model", async () => {
    const { loadConfig } = await import("../billing-service/src/config");
    const { vocabularyOf, unknownValues } = await import("../billing-service/src/events/vocabulary");
    const book = loadPriceBook(exampleFile);
    const envOf = (r: RenderResult) => Object.fromEntries((deployment(r).spec.template.spec.containers[0].env as Array<{ name: string; value?: string }>).filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]));
    const closed = await renderConfig("models-listed", { flavor: "kubernetes", platform: { billing: { image: testImage, models: ["granite-3-8b", "llama-3-70b"] } } });
    expect(envOf(closed).MAAS_BILLING_MODELS).toBe("granite-3-8b,llama-3-70b");
    const models = loadConfig({}, { MAAS_BILLING_MODELS: envOf(closed).MAAS_BILLING_MODELS }).events.models;
    const events = [{ tier: "premium", model: "granite-3-8b" }, { tier: "premium", model: "x".repeat(200) }];
    expect(unknownValues(vocabularyOf(book, { models }), events, true).map((i) => `${i.index}.${i.field}`)).toEqual(["1.model"]);
    // The check can fail: without the key the example book (model "*" only) leaves the field open.
    expect(envOf(baked).MAAS_BILLING_MODELS).toBeUndefined();
    expect(unknownValues(vocabularyOf(book, {}), events, true)).toEqual([]);
  });
});
