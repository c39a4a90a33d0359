/**
 * Attack B2 of docs/threat-model.md, the billing side, with the platform option to bill
 * max(gateway, model server) (`platform.billing.shortfallBilling`, collector setting
 * `shortfallBilling`): the tenant admin deletes the TokenRateLimitPolicy its billed counter comes
 * from, the Limitador counter stops, the vLLM counters keep growing. Same real parts as
 * attack-metering-shortfall.test.ts (real Prometheus, the real collector, PostgreSQL, `serve` over
 * HTTP): the invoice bills the model server's count in that window, at the configured tier, and
 * lists the window in flag `meteringShortfallBilled`; nothing is left to accept, so it finalizes.
 */
import { describe, expect, it } from "vitest";
import { useShortfallScenario, WINDOW } from "./support/shortfall-scenario";

const scenario = useShortfallScenario({ shortfallBilling: { tier: "premium" } });
const api = (method: string, url: string, body?: unknown) => scenario().api(method, url, body);

describe("attack B2 with shortfallBilling: the invoice bills max(gateway, model server)", () => {
  it("bills the model server's count per direction in the window the gateway missed, records the window, and finalizes without an acceptance", async () => {
    const created = await api("POST", "/v1/tenants/acme/invoices", { period: scenario().period });
    expect(created.status).toBe(201);
    const flags = created.json.flags;
    expect(flags.meteringShortfall).toBeUndefined();
    const w2 = new Date(scenario().fromMs + WINDOW).toISOString();
    expect(flags.meteringShortfallBilled.windows).toEqual([
      expect.objectContaining({ model: "llama", tier: "premium", windowStart: w2, gatewayTokens: "0", billedTokens: flags.meteringShortfallBilled.windows[0].modelServerTokens }),
    ]);
    expect(BigInt(flags.meteringShortfallBilled.billedTokens)).toBeGreaterThan(2000n);

    // Billed tokens = the model server's, per direction, over both windows (window 1 metered, window 2 not).
    const model = (await scenario().db.pool.query("select sum(model_input_tokens)::text as i, sum(model_output_tokens)::text as o from collector_reconciliation where tenant = 'acme' and model = 'llama'")).rows[0];
    const quantity = (component: string) =>
      created.json.lines.filter((l: { component: string; tier: string; model: string }) => l.component === component && l.tier === "premium" && l.model === "llama").reduce((a: bigint, l: { quantity: string }) => a + BigInt(l.quantity), 0n);
    expect(quantity("input_tokens").toString()).toBe(model.i);
    expect(quantity("output_tokens").toString()).toBe(model.o);

    const finalized = await api("POST", `/v1/tenants/acme/invoices/${created.json.number}/finalize`);
    expect(finalized.status).toBe(200);
    expect(finalized.json.status).toBe("final");
    expect(finalized.json.flags.meteringShortfallBilled.billedTokens).toBe(flags.meteringShortfallBilled.billedTokens);
  });
});
