/**
 * Attack B2 of docs/threat-model.md, the billing side: a tenant admin deletes (or neuters) the
 * TokenRateLimitPolicy its billed counter comes from. Model traffic keeps flowing, the Limitador
 * counter stops, the vLLM counters keep growing. Performed with a real Prometheus holding those
 * counters, the real collector, real PostgreSQL and `maas-billing serve` over HTTP: the draft
 * invoice carries the `meteringShortfall` flag with the window and the amount, `finalize` refuses
 * it (API and CLI) until an admin accepts it with a reason, and the acceptance is sealed into the
 * final invoice.
 */
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { useShortfallScenario, WINDOW } from "./support/shortfall-scenario";

const scenario = useShortfallScenario();
const api = (method: string, url: string, body?: unknown) => scenario().api(method, url, body);

describe("attack B2: the tenant switches off the counter it is billed from", () => {
  let number: string;

  it("the draft carries meteringShortfall with the window and the tokens the gateway did not count", async () => {
    const created = await api("POST", "/v1/tenants/acme/invoices", { period: scenario().period });
    expect(created.status).toBe(201);
    number = created.json.number;
    const flag = created.json.flags.meteringShortfall;
    expect(flag).toBeDefined();
    const w2 = new Date(scenario().fromMs + WINDOW).toISOString();
    expect(flag.windows).toEqual([
      expect.objectContaining({ model: "llama", windowStart: w2, gatewayTokens: "0", shortfallTokens: flag.windows[0].modelServerTokens }),
    ]);
    expect(BigInt(flag.shortfallTokens)).toBeGreaterThan(2000n);
    // Window 1 (metered) is not flagged; the gateway tokens of window 1 are billed as before.
    expect(created.json.lines.map((l: { quantity: string; component: string }) => [l.component, l.quantity])).toContainEqual(["requests", expect.any(String)]);
  });

  it("finalize refuses it, over the API and on the CLI", async () => {
    const refused = await api("POST", `/v1/tenants/acme/invoices/${number}/finalize`);
    expect(refused.status).toBe(409);
    expect(refused.json.message).toMatch(/carries meteringShortfall \(1 window\(s\), \d+ tokens the gateway did not count\): not finalized/);
    const cli = await promisify(execFile)(process.execPath, [path.join(__dirname, "..", "bin", "maas-billing.cjs"), "invoice", "finalize", "--tenant", "acme", number], {
      env: { ...process.env, DATABASE_URL: scenario().db.url },
    }).then(
      () => "finalized",
      (e: { stderr: string }) => e.stderr,
    );
    expect(cli).toMatch(/carries meteringShortfall/);
    expect(cli).toContain('--accept-flag meteringShortfall --reason "..."');
    // Accepting without a reason is refused too.
    expect((await api("POST", `/v1/tenants/acme/invoices/${number}/finalize`, { acceptFlags: ["meteringShortfall"], reason: " " })).status).toBe(400);
    expect((await api("GET", `/v1/tenants/acme/invoices/${number}`)).json.status).toBe("draft");
  });

  it("an admin accepts it with a reason: finalized, the acceptance sealed into the invoice", async () => {
    const accepted = await api("POST", `/v1/tenants/acme/invoices/${number}/finalize`, { acceptFlags: ["meteringShortfall"], reason: "policy restored; shortfall billed on a separate contract" });
    expect(accepted.status).toBe(200);
    expect(accepted.json.status).toBe("final");
    expect(accepted.json.flags.acceptedFlags).toEqual([
      expect.objectContaining({ flag: "meteringShortfall", reason: "policy restored; shortfall billed on a separate contract", acceptedBy: "ops" }),
    ]);
    // An adjustment of the same period does not flag the accepted window again.
    const again = await api("POST", "/v1/tenants/acme/invoices", { period: scenario().period });
    expect(again.json).toMatchObject({ created: false });
  });
});
