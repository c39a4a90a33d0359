/**
 * Cost per user (and per any group-by) in the usage API, JSON and CSV: priced by the invoice code
 * and rounded like the invoice, so over a billing period the rows add up to the draft invoice total
 * to the minor unit, across a price change inside the period and with per-request prices.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ingestEvents } from "../src/events/ingest";
import { usageEventSchema } from "../src/events/schema";
import { createInvoice } from "../src/invoices/store";
import { startBillingDb, testPriceBook, usageEvent, type BillingTestDb } from "./support/billing-db";
import { startTestApi, type TestApi } from "./support/billing-app";

let db: BillingTestDb;
let api: TestApi;

// May 2026; the test book changes premium/llama prices at 2026-05-15T12:00Z.
const EVENTS = [
  usageEvent({ id: "u1", user: "alice", time: "2026-05-03T10:00:00Z", inputTokens: 123_457, outputTokens: 45_679, requests: 7 }),
  usageEvent({ id: "u2", user: "alice", time: "2026-05-20T10:00:00Z", inputTokens: 98_765, outputTokens: 54_321, requests: 5 }),
  usageEvent({ id: "u3", user: "bob", time: "2026-05-10T09:30:00Z", inputTokens: 333_333, outputTokens: 11_111, requests: 3 }),
  usageEvent({ id: "u4", user: "bob", time: "2026-05-28T23:59:00Z", model: "mistral", inputTokens: 77_777, outputTokens: 22_222, requests: 9 }),
  usageEvent({ id: "u5", time: "2026-05-15T12:00:00Z", inputTokens: 1_001, outputTokens: 2_002, requests: 1 }),
];

beforeAll(async () => {
  db = await startBillingDb();
  await ingestEvents(db.pool, EVENTS.map((e) => usageEventSchema.parse(e)));
  api = await startTestApi(db);
});
afterAll(async () => {
  await api?.app.close();
  await db?.stop();
});

describe("cost per user in the usage API", () => {
  it("per-user costs (JSON) add up to the draft invoice total of the period, to the minor unit", async () => {
    const res = await api.app.inject({
      url: "/v1/tenants/acme/usage?from=2026-05-01T00:00:00Z&to=2026-06-01T00:00:00Z&groupBy=user",
      headers: { authorization: `Bearer ${api.tokens.acme}` },
    });
    expect(res.statusCode).toBe(200);
    const report = res.json() as { costMinor: string; currency: string; rows: { user: string; costMinor: string }[] };
    const invoice = await createInvoice(db.pool, testPriceBook(), "acme", "2026-05");
    if (!invoice.created) throw new Error(invoice.reason);
    expect(report.currency).toBe("USD");
    expect(report.costMinor).toBe(invoice.invoice.totalMinor);
    expect(report.rows.map((r) => r.user)).toEqual(["", "alice", "bob"]);
    expect(report.rows.reduce((a, r) => a + BigInt(r.costMinor), 0n).toString()).toBe(invoice.invoice.totalMinor);
    // Each user's cost is the exact cost of their usage, rounded: within one minor unit of it.
    // alice: May 3 (first version) 123,457 x 2.50/M + 45,679 x 10.00/M + 7 x 0.002, May 20 (second) 98,765 x 4.00/M + 54,321 x 12.50/M + 5 x 0.003, in cents.
    const alice = (123_457 * 2.5 + 45_679 * 10) / 1e4 + 7 * 0.2 + (98_765 * 4 + 54_321 * 12.5) / 1e4 + 5 * 0.3;
    expect(Math.abs(Number(report.rows[1]!.costMinor) - alice)).toBeLessThan(1);
  });

  it("CSV has the cost column", async () => {
    const res = await api.app.inject({
      url: "/v1/tenants/acme/usage?from=2026-05-01T00:00:00Z&to=2026-06-01T00:00:00Z&groupBy=user&format=csv",
      headers: { authorization: `Bearer ${api.tokens.acme}` },
    });
    const lines = res.body.trim().split("\n");
    expect(lines[0]).toBe("tenant,user,inputTokens,outputTokens,totalTokens,requests,ledgerRows,costMinor,currency");
    const json = (
      await api.app.inject({
        url: "/v1/tenants/acme/usage?from=2026-05-01T00:00:00Z&to=2026-06-01T00:00:00Z&groupBy=user",
        headers: { authorization: `Bearer ${api.tokens.acme}` },
      })
    ).json() as { rows: { costMinor: string }[] };
    expect(lines.slice(1).map((l) => l.split(",").at(-2))).toEqual(json.rows.map((r) => r.costMinor));
  });
});
