/**
 * Per-tenant contract prices (issue #13): price book entries with `tenant` override the list price
 * for that tenant only, effective-dated with their version, through the one lookup (pricebook/cost.ts
 * `priceFor`). Checked on `maas-billing serve` (a real child process over HTTP) on a real PostgreSQL:
 * the draft invoice of the tenant with a contract is priced at the contract, the other tenant's at the
 * list, and the usage API (JSON and CSV), the invoice CSV, /metrics and the portal's usage CSV all
 * equal the invoice to the minor unit. Another tenant's contract is shown to nobody else (portal
 * prices page, price gauges).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApp, type App } from "../src/app";
import { newToken, StaticTokenAuthenticator } from "../src/auth/static";
import { parsePriceBook } from "../src/pricebook/pricebook";
import { FORWARDED_TOKEN_HEADER } from "../src/portal/guard";
import { usageEvent } from "./support/billing-db";
import { startServiceRig, type ServiceRig } from "../testkit/rig";
import { postEvents, type ServiceProcess } from "../testkit/service";

// acme has a contract: premium/llama until the price change, any tier and model after it (a contract
// `*`/`*` beats the list's exact premium/llama entry). Its free/mistral usage before the change has no
// contract entry and pays the list's `*`/`*`. globex has none and pays the list throughout.
const BOOK = `
currency: USD
minorUnitDigits: 2
versions:
  - effectiveFrom: "2026-01-01T00:00:00Z"
    prices:
      - { tier: premium, model: llama, inputPerMillionTokens: "2.50", outputPerMillionTokens: "10.00", perRequest: "0.002" }
      - { tier: "*", model: "*", inputPerMillionTokens: "1.00", outputPerMillionTokens: "2.00", perRequest: "0.0005" }
      - { tenant: acme, tier: premium, model: llama, inputPerMillionTokens: "2.00", outputPerMillionTokens: "8.00", perRequest: "0.0015" }
  - effectiveFrom: "2026-05-15T12:00:00Z"
    prices:
      - { tier: premium, model: llama, inputPerMillionTokens: "4.00", outputPerMillionTokens: "12.50", perRequest: "0.003" }
      - { tier: "*", model: "*", inputPerMillionTokens: "1.10", outputPerMillionTokens: "2.30", perRequest: "0.0007" }
      - { tenant: acme, tier: "*", model: "*", inputPerMillionTokens: "0.90", outputPerMillionTokens: "1.80", perRequest: "0.0004" }
`;

const usageOf = (tenant: string, prefix: string) => [
  usageEvent({ id: `${prefix}-1`, source: "//apps/test", tenant, time: "2026-05-03T10:00:00Z", inputTokens: 1_234_567, outputTokens: 345_679, requests: 1_201 }),
  usageEvent({ id: `${prefix}-2`, source: "//apps/test", tenant, time: "2026-05-20T10:00:00Z", inputTokens: 2_345_671, outputTokens: 456_781, requests: 2_303 }),
  usageEvent({ id: `${prefix}-3`, source: "//apps/test", tenant, time: "2026-05-10T09:30:00Z", tier: "free", model: "mistral", inputTokens: 98_765, outputTokens: 43_211, requests: 777 }),
];

// Worked by hand (USD): acme 2.469134 + 2.765432 + 1.8015 (contract) + 0.098765 + 0.086422 + 0.3885 (list *)
// + 2.1111039 + 0.8222058 + 0.9212 (contract *) = 11.4642627; globex 3.0864175 + 3.45679 + 2.402
// + 0.573687 + 9.382684 + 5.7097625 + 6.909 = 31.520341. Rounded once per invoice, in cents.
const EXPECTED = { acme: "1146", globex: "3152" } as const;

const acme = newToken("tenant-acme", { tenant: "acme" });
const globex = newToken("tenant-globex", { tenant: "globex" });

let rig: ServiceRig;
let service: ServiceProcess;
let portal: App;

const api = async (pathname: string, token: string, init: RequestInit = {}) => {
  const res = await fetch(`${service.url}${pathname}`, { ...init, headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...(init.headers ?? {}) } });
  return { status: res.status, text: await res.text() };
};
const draftOf = async (tenant: string) => {
  const res = await api(`/v1/tenants/${tenant}/invoices`, service.token, { method: "POST", body: JSON.stringify({ period: "2026-05" }) });
  expect(res.status, res.text).toBeLessThan(300);
  return JSON.parse(res.text) as { totalMinor: string; lines: Array<{ tier: string; model: string; component: string; unitPrice: string; amountMinor: string; lineage: { priceEntry: Record<string, string> } }>; id: string };
};
const csvColumn = (csv: string, column: string): string[] => {
  const [head, ...rows] = csv.trim().split("\n");
  const i = head!.split(",").indexOf(column);
  expect(i, `column ${column} in ${head}`).toBeGreaterThanOrEqual(0);
  return rows.map((r) => r.split(",")[i]!);
};
const sum = (values: string[]): string => values.reduce((a, v) => a + BigInt(v), 0n).toString();

beforeAll(async () => {
  rig = await startServiceRig({ name: "maas-contract-prices", tokens: [acme.entry, globex.entry], priceBook: BOOK, env: { MAAS_BILLING_TIERS: "free", MAAS_BILLING_MODELS: "mistral" } });
  service = rig.service;
  for (const [tenant, token] of [["acme", acme.token], ["globex", globex.token]] as const) {
    expect(await postEvents(service, usageOf(tenant, tenant), token)).toMatchObject({ status: 200, body: { accepted: 3 } });
  }
  // The portal of the same service code on the same database and book (signed in through the
  // forwarded-token header, as behind the OAuth proxy).
  const book = parsePriceBook(BOOK, "contract book");
  portal = await buildApp({ pool: rig.db.pool, priceBook: () => book, authenticator: new StaticTokenAuthenticator([acme.entry, globex.entry]), portalTrustsForwardedToken: true });
}, 180_000);

afterAll(async () => {
  await portal?.close();
  await rig?.stop();
}, 60_000);

describe("per-tenant contract prices", () => {
  it("the draft invoice of the tenant with a contract is priced at the contract, the other tenant's at the list; the lineage names the entry", async () => {
    const a = await draftOf("acme");
    const g = await draftOf("globex");
    expect(a.totalMinor).toBe(EXPECTED.acme);
    expect(g.totalMinor).toBe(EXPECTED.globex);
    // Key order normalised: the lineage comes back from a jsonb column.
    const canonical = (e: Readonly<Record<string, string | undefined>>) => JSON.stringify(Object.fromEntries(Object.entries(e).sort(([x], [y]) => x.localeCompare(y))));
    const entries = (inv: typeof a) => [...new Set(inv.lines.map((l) => canonical(l.lineage.priceEntry)))].sort();
    expect(entries(a)).toEqual([{ tenant: "acme", tier: "*", model: "*" }, { tenant: "acme", tier: "premium", model: "llama" }, { tier: "*", model: "*" }].map(canonical).sort());
    expect(entries(g)).toEqual([{ tier: "*", model: "*" }, { tier: "premium", model: "llama" }].map(canonical).sort());
    expect(a.lines.filter((l) => l.component === "input_tokens" && l.tier === "premium").map((l) => l.unitPrice)).toEqual(["2.00", "0.90"]);
  }, 60_000);

  it("usage API (JSON and CSV), invoice CSV, /metrics and the portal's usage CSV equal each invoice to the minor unit", async () => {
    for (const [tenant, token] of [["acme", acme.token], ["globex", globex.token]] as const) {
      const expected = EXPECTED[tenant];
      const range = "from=2026-05-01T00:00:00Z&to=2026-06-01T00:00:00Z&groupBy=model";
      const json = JSON.parse((await api(`/v1/tenants/${tenant}/usage?${range}`, token)).text) as { costMinor: string; rows: Array<{ costMinor: string }> };
      expect(json.costMinor).toBe(expected);
      expect(sum(json.rows.map((r) => r.costMinor))).toBe(expected);
      expect(sum(csvColumn((await api(`/v1/tenants/${tenant}/usage?${range}&format=csv`, token)).text, "costMinor"))).toBe(expected);

      const invoices = JSON.parse((await api(`/v1/tenants/${tenant}/invoices`, token)).text) as { invoices: Array<{ id: string }> };
      const id = invoices.invoices[0]!.id;
      expect(sum(csvColumn((await api(`/v1/tenants/${tenant}/invoices/${id}?format=csv`, token)).text, "amount_minor"))).toBe(expected);
      // FOCUS: billed and contracted cost are the invoice's; under acme's contract the list cost is what the list would have charged.
      const focus = (await api(`/v1/tenants/${tenant}/invoices/${id}?format=focus`, token)).text;
      const cents = (column: string) => sum(csvColumn(focus, column).map((v) => v.replace(".", "")));
      expect(cents("BilledCost")).toBe(expected);
      expect(cents("ContractedCost")).toBe(expected);
      if (tenant === "globex") expect(cents("ListCost")).toBe(expected);
      else expect(Number(cents("ListCost"))).toBeGreaterThan(Number(expected));

      const portalCsv = await portal.inject({ url: `/portal/t/${tenant}/usage.csv?from=2026-05-01&to=2026-05-31&groupBy=model`, headers: { [FORWARDED_TOKEN_HEADER]: token } });
      expect(portalCsv.statusCode).toBe(200);
      expect(sum(csvColumn(portalCsv.body, "costMinor"))).toBe(expected);
    }
    const metrics = await (await fetch(`${service.metricsUrl}/metrics`)).text();
    for (const tenant of ["acme", "globex"] as const) {
      expect(metrics).toMatch(new RegExp(`^maas_billing_cost_minor_units_total\\{tenant="${tenant}",currency="USD"\\} ${EXPECTED[tenant]}$`, "m"));
    }
  }, 120_000);

  it("a contract is shown to its tenant only: portal prices page and price gauges", async () => {
    const page = async (tenant: string, token: string) => (await portal.inject({ url: `/portal/t/${tenant}/prices`, headers: { [FORWARDED_TOKEN_HEADER]: token } })).body;
    const own = await page("acme", acme.token);
    const other = await page("globex", globex.token);
    expect(own).toContain(">Your contract</span>");
    expect(own).toContain("0.90");
    expect(other).not.toContain(">Your contract</span>");
    expect(other).not.toContain("0.90");
    expect(other).toContain("1.10");

    // Gauges of the version in force now: the list's `*` entry without a tenant label, acme's contract
    // only under tenant="acme" (the billing federation proxy passes a tenant its own label only).
    const metrics = await (await fetch(`${service.metricsUrl}/metrics`)).text();
    const gauges = metrics
      .split("\n")
      .filter((l) => l.startsWith("maas_billing_price_per_million_tokens_minor{"))
      .map((l) => {
        const [, labels, value] = /\{(.*)\} (\S+)$/.exec(l)!;
        return { labels: Object.fromEntries([...labels!.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]])), value: Number(value) };
      });
    const gauge = (want: Record<string, string>) =>
      gauges.filter((g) => Object.keys(g.labels).length === Object.keys(want).length && Object.entries(want).every(([k, v]) => g.labels[k] === v)).map((g) => g.value);
    const input = { direction: "input", currency: "USD" };
    expect(gauge({ ...input, tier: "*", model: "*" })).toEqual([110]);
    expect(gauge({ ...input, tier: "*", model: "*", tenant: "acme" })).toEqual([90]);
    expect(gauge({ ...input, tier: "premium", model: "llama", tenant: "acme" })).toEqual([90]);
    expect(gauge({ ...input, tier: "premium", model: "llama", tenant: "globex" })).toEqual([400]);
    expect(gauge({ ...input, tier: "premium", model: "llama" })).toEqual([400]);
    // The contract's values appear under acme's label only.
    expect(gauges.filter((g) => g.labels.tenant !== "acme" && (g.value === 90 || g.value === 180))).toEqual([]);
  }, 60_000);
});
