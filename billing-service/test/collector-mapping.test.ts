/**
 * Tenant mapping, label handling and reconciliation, as pure functions.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { createTenantResolver } from "../src/collector/tenant-map";
import { attributeSeries } from "../src/collector/meters";
import { reconcile } from "../src/collector/reconcile";
import type { UsageRow } from "../src/collector/aggregate";
import { parseCollectorSettings } from "../src/contract";
import { parseTenantMapFlag } from "../src/config";

const tenants = createTenantResolver({ tenants: [{ name: "acme", namespaces: ["acme-models", "acme-dev"] }] });
const strict = createTenantResolver({ tenants: [{ name: "acme", namespaces: ["acme-models"] }], strict: true });

describe("tenant mapping", () => {
  it.each<[string, "gateway" | "model-server", Record<string, string>, unknown]>([
    ["route namespace in the map", "gateway", { limitador_namespace: "acme-dev/chat", user: "alice", tier: "free", model: "m" }, { kind: "tenant", tenant: "acme", user: "alice", tier: "free", model: "m", attributes: {} }],
    ["namespace outside the map is its own tenant", "gateway", { limitador_namespace: "globex/api", subscription: "gold" }, { kind: "tenant", tenant: "globex", user: null, tier: "gold", model: null, attributes: {} }],
    ["tier wins over subscription when both are set", "gateway", { limitador_namespace: "globex/api", tier: "free", subscription: "gold" }, { kind: "tenant", tenant: "globex", user: null, tier: "free", model: null, attributes: {} }],
    ["empty user label is no user", "gateway", { limitador_namespace: "globex/api", user: "" }, { kind: "tenant", tenant: "globex", user: null, tier: null, model: null, attributes: {} }],
    ["model server by namespace", "model-server", { namespace: "acme-models", model_name: "llama" }, { kind: "tenant", tenant: "acme", user: null, tier: null, model: "llama", attributes: {} }],
    ["attribute labels (MaaS subscription metadata) when configured", "gateway", { limitador_namespace: "acme-models/chat", subscription: "gold", organization_id: "org-1", cost_center: "cc-9", team: "x" }, { kind: "tenant", tenant: "acme", user: null, tier: "gold", model: null, attributes: { cost_center: "cc-9", organization_id: "org-1" } }],
    ["older Limitador value without a route", "gateway", { limitador_namespace: "llm" }, { kind: "unattributed", reason: 'limitador_namespace "llm" is not "<namespace>/<route>"' }],
    ["no limitador_namespace", "gateway", { user: "x" }, { kind: "unattributed", reason: "series has no limitador_namespace label" }],
    ["model series without namespace", "model-server", { model_name: "llama" }, { kind: "unattributed", reason: "series has no namespace label" }],
  ])("%s", (_n, source, labels, want) => expect(attributeSeries(source, labels, tenants, ["organization_id", "cost_center"])).toEqual(want));

  it("with strict set, only mapped namespaces are billed", () => {
    expect(strict.byNamespace("globex")).toEqual({ kind: "unattributed", reason: 'namespace "globex" is not in the tenant map' });
    expect(strict.byLimitadorNamespace("acme-models/chat")).toEqual({ kind: "tenant", tenant: "acme", namespace: "acme-models" });
  });

  it("refuses a namespace listed under two tenants", () => {
    expect(() => createTenantResolver({ tenants: [{ name: "a", namespaces: ["x"] }, { name: "b", namespaces: ["x"] }] })).toThrow(
      'tenant map: namespace "x" is listed under both "a" and "b"',
    );
  });

  it("parses the --tenant-map flag and names a malformed part", () => {
    expect(parseTenantMapFlag("acme=acme-models, acme-dev;globex=globex-llm")).toEqual([
      { name: "acme", namespaces: ["acme-models", "acme-dev"] },
      { name: "globex", namespaces: ["globex-llm"] },
    ]);
    expect(() => parseTenantMapFlag("acme")).toThrow('--tenant-map: expected "tenant=ns1,ns2;other=ns3", got "acme"');
  });
});

describe("settings", () => {
  it.each([
    [{ window: "ten minutes" }, 'collector.window: expected a duration such as "30s", "5m" or "1h"'],
    [{ vllmFamily: "both" }, "collector.vllmFamily"],
    [{ anchorLookback: "30s" }, "collector.anchorLookback: must be longer than the gap threshold (45s)"],
    [{ windo: "1h" }, "collector.(root)"],
  ])("rejects %j", (raw, message) => expect(() => parseCollectorSettings(raw)).toThrow(message));

  it("derives the defaults", () => {
    expect(parseCollectorSettings({ scrapeInterval: "30s", window: "15m" })).toMatchObject({ gapThreshold: 90_000, windowsPerQuery: 8, offset: 300_000 });
  });
});

const row = (source: UsageRow["source"], user: string | null, tier: string | null, model: string | null, q: UsageRow["quantities"], windowStartMs = 0): UsageRow => ({
  source, tenant: "acme", user, tier, model, attributes: {}, windowStartMs, windowEndMs: windowStartMs + 3_600_000, quantities: q, resets: 0, gaps: 0, samples: 1, series: 1,
});

describe("reconcile", () => {
  it("apportions the model server's split onto gateway rows, remainders by (user, tier)", () => {
    const { ledger, reconciliations } = reconcile(
      [
        row("gateway", "bob", "free", "m", { tokens: 101 }),
        row("gateway", "alice", "premium", "m", { tokens: 100 }),
        row("model-server", null, null, "m", { input_tokens: 50, output_tokens: 150 }),
      ],
      0.05,
    );
    // 201 gateway tokens at the model's 50:150 -> input 50.25, output 150.75 -> floors 50 and 150,
    // the spare unit to output (larger remainder): input 50. Over alice 100 and bob 101 tokens:
    // 24.88 and 25.12 -> floors 24 and 25, the spare unit to alice -> 25 and 25.
    const byUser = Object.fromEntries(ledger.filter((l) => l.billable).map((l) => [l.row.user, [l.inputTokens, l.outputTokens]]));
    expect(byUser).toEqual({ alice: [25, 75], bob: [25, 76] });
    expect(reconciliations).toEqual([
      expect.objectContaining({ gatewayTokens: 201, modelInputTokens: 50, modelOutputTokens: 150, diffTokens: 1, flagged: false, splitBasis: "model", apportionedInputTokens: 50 }),
    ]);
  });

  it("flags a difference beyond the tolerance and reports model-server usage the gateway never saw", () => {
    const { reconciliations } = reconcile(
      [row("gateway", "a", "free", "m", { tokens: 100 }), row("model-server", null, null, "m", { input_tokens: 60, output_tokens: 60 }), row("model-server", null, null, "other", { input_tokens: 5, output_tokens: 5 })],
      0.1,
    );
    expect(reconciliations.map((r) => [r.model, r.diffTokens, r.flagged])).toEqual([
      ["m", -20, true],
      ["other", -10, true],
    ]);
  });

  it("without model-server data books all tokens as input and says so", () => {
    const { ledger, reconciliations } = reconcile([row("gateway", "a", "free", "m", { tokens: 10 })], 0.05);
    expect(ledger[0]).toMatchObject({ inputTokens: 10, outputTokens: 0 });
    expect(reconciliations[0].splitBasis).toBe("none");
  });

  it("the split does not depend on the order of the rows, and rows add up", () => {
    const users = ["a", "b", "c", "d", "e"];
    fc.assert(
      fc.property(
        fc.array(fc.nat(10_000), { minLength: 5, maxLength: 5 }),
        fc.nat(5000),
        fc.nat(5000),
        fc.array(fc.nat(4), { minLength: 5, maxLength: 5 }),
        (tokens, input, output, perm) => {
          const rows = users.map((u, i) => row("gateway", u, "free", "m", { tokens: tokens[i] + 1 }));
          const shuffled = [...rows].sort((x, y) => perm[users.indexOf(x.user!)] - perm[users.indexOf(y.user!)]);
          const ms = row("model-server", null, null, "m", { input_tokens: input, output_tokens: output });
          const split = (rs: UsageRow[]) =>
            Object.fromEntries(reconcile([...rs, ms], 0.05).ledger.filter((l) => l.billable).map((l) => [l.row.user, l.inputTokens]));
          expect(split(shuffled)).toEqual(split(rows));
          const { ledger, reconciliations } = reconcile([...rows, ms], 0.05);
          const gateway = ledger.filter((l) => l.billable);
          expect(gateway.reduce((a, l) => a + l.inputTokens, 0)).toBe(reconciliations[0].apportionedInputTokens);
          for (const l of gateway) expect(l.inputTokens + l.outputTokens).toBe(l.totalTokens);
        },
      ),
    );
  });
});
