// The engine stage's stack configs and its live-state comparisons (scripts/e2e/engine/), without Go:
// the configs the real engine runs must pass the program's own config validation, and the
// comparisons that decide "only that Secret changed" must be able to fail.
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { parseStackConfig } from "../components/config";
import { ADDED_TENANT, platformConfig, tenantConfig, withChangedPrice, withRotatedKey } from "../scripts/e2e/engine/configs";
import { changedKeys, changedResourceLines, differingPaths } from "../scripts/e2e/engine/live";
import { inlineProjectSettings, stringifyForPulumi } from "../scripts/e2e/engine/workspace";

const repoRoot = resolve(__dirname, "..");

describe("engine stage configs", () => {
  it("platform, tenant, rotated-key and changed-price configs pass the program's validation", () => {
    const platform = platformConfig(repoRoot, ["tenant-a", "tenant-b", ADDED_TENANT]);
    expect(parseStackConfig(platform).platform?.tenants.map((t) => t.name)).toEqual(["tenant-a", "tenant-b", ADDED_TENANT]);
    expect(parseStackConfig(platform).platform?.limitador.image).toMatch(/@sha256:/);
    const { config: priced, from, to } = withChangedPrice(platform);
    expect(from).not.toBe(to);
    expect(() => parseStackConfig(priced)).not.toThrow();
    for (const tenant of ["tenant-a", "tenant-b", ADDED_TENANT]) {
      const config = tenantConfig(repoRoot, tenant);
      expect(parseStackConfig(config).platformStack).toBe("organization/maas-billing/platform-kubernetes");
    }
    const rotated = parseStackConfig(withRotatedKey(tenantConfig(repoRoot, "tenant-a"), "alice"));
    const before = parseStackConfig(tenantConfig(repoRoot, "tenant-a"));
    const rotation = (c: typeof before) => c.tenant!.apiKeys.find((k) => k.name === "alice")!.rotation;
    expect(rotation(rotated)).toBe(rotation(before) + 1);
  });
});

describe("engine stage stack files (bugs the first real engine run found)", () => {
  it("quotes strings the Pulumi CLI's YAML reader would turn into timestamps or booleans", () => {
    const text = stringifyForPulumi({ effectiveFrom: "2025-01-01T00:00:00Z", flag: "yes", price: "0.009" });
    expect(text).toContain('effectiveFrom: "2025-01-01T00:00:00Z"');
    expect(text).toContain('flag: "yes"');
    expect(text).toContain('price: "0.009"');
  });

  it("writes the project settings without `main`, which the CLI would stat even for an inline program", () => {
    const settings = inlineProjectSettings(repoRoot);
    expect(settings).toContain("name: maas-billing");
    expect(settings).toContain("runtime:");
    expect(settings).not.toMatch(/^main:/m);
  });
});

describe("engine stage live comparisons (the checker can fail)", () => {
  it("differingPaths names a changed annotation and ignores server bookkeeping", () => {
    const a = { metadata: { resourceVersion: "1", generation: 1 }, spec: { template: { metadata: { annotations: { "checksum/x": "a" } } }, replicas: 2 } };
    const b = { metadata: { resourceVersion: "2", generation: 2 }, spec: { template: { metadata: { annotations: { "checksum/x": "b" } } }, replicas: 2 } };
    expect(differingPaths(a, b)).toEqual(["spec.template.metadata.annotations.checksum/x"]);
    expect(differingPaths(a, { ...b, spec: { ...b.spec, replicas: 3 } })).toHaveLength(2);
  });

  it("changedKeys reports updated, replaced and deleted objects, not unchanged ones", () => {
    const before = new Map<string, { uid: string; resourceVersion: string } | "absent">([
      ["Secret a", { uid: "1", resourceVersion: "1" }],
      ["Secret b", { uid: "2", resourceVersion: "1" }],
      ["Secret c", { uid: "3", resourceVersion: "1" }],
      ["Secret d", { uid: "4", resourceVersion: "1" }],
    ]);
    const after = new Map<string, { uid: string; resourceVersion: string } | "absent">([
      ["Secret a", { uid: "1", resourceVersion: "1" }],
      ["Secret b", { uid: "2", resourceVersion: "2" }],
      ["Secret c", { uid: "9", resourceVersion: "1" }],
      ["Secret d", "absent"],
    ]);
    expect(changedKeys(before, after)).toEqual(["Secret b", "Secret c", "Secret d"]);
  });
});

describe("engine stage diff parsing", () => {
  const diff = [
    "Previewing update (tenant-a):",
    "  pulumi:pulumi:Stack: (same)",
    "    [urn=urn:pulumi:tenant-a::maas-billing::pulumi:pulumi:Stack::maas-billing-tenant-a]",
    "        +-random:index/randomPassword:RandomPassword: (replace)",
    "            [id=none]",
    "            [urn=urn:pulumi:tenant-a::maas-billing::random:index/randomPassword:RandomPassword::tenant-tenant-a-apikey-alice-value]",
    "          ~ keepers: {",
    '              ~ rotation: "0" => "1"',
    "            }",
    "        ~ kubernetes:core/v1:Secret: (update)",
    "            [id=tenant-a-models/tenant-a-apikey-alice]",
    "            [urn=urn:pulumi:tenant-a::maas-billing::kubernetes:core/v1:Secret::tenant-tenant-a-apikey-alice]",
    "Resources:",
    "    ~ 1 to update",
  ].join("\n");

  it("names the changed resources by URN, not the unchanged parents shown for context", () => {
    expect(changedResourceLines(diff)).toEqual([
      "urn:pulumi:tenant-a::maas-billing::random:index/randomPassword:RandomPassword::tenant-tenant-a-apikey-alice-value",
      "urn:pulumi:tenant-a::maas-billing::kubernetes:core/v1:Secret::tenant-tenant-a-apikey-alice",
    ]);
    expect(changedResourceLines(diff.replace(/\(replace\)|\(update\)/g, "(same)"))).toEqual([]);
  });
});
