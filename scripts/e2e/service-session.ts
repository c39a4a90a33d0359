// One short session against a running billing service, the same in the image and TimescaleDB stages:
// health and readiness, two usage events (docs/billing-service.md's example session), one invoice
// whose total was computed by hand there (0.95 USD with the shipped example price book).
import { expect } from "./report";

const EVENTS = {
  events: [
    { id: "evt-1", source: "//gateway/maas", time: "2026-11-02T09:15:00Z", tenant: "acme", user: "alice", tier: "premium", model: "llama-3-8b", inputTokens: 120000, outputTokens: 30000, requests: 40 },
    { id: "evt-2", source: "//gateway/maas", time: "2026-11-02T10:15:00Z", tenant: "acme", user: "bob", tier: "free", model: "llama-3-8b", inputTokens: 5000, outputTokens: 2500, requests: 10 },
  ],
};
/** docs/billing-service.md: free 1+4+1 cents, premium 36+45+8 cents, plus the largest-remainder cent. */
const EXPECTED_TOTAL = "0.95";

export async function serviceSession(baseUrl: string, adminToken: string, detail: (line: string) => void): Promise<void> {
  const auth = { authorization: `Bearer ${adminToken}`, "content-type": "application/json" };
  const healthz = await fetch(`${baseUrl}/healthz`);
  const readyz = await fetch(`${baseUrl}/readyz`);
  detail(`/healthz ${healthz.status}, /readyz ${readyz.status} ${await readyz.text()}`);
  expect(healthz.status === 200 && readyz.status === 200, "health or readiness is not 200");
  const unauthenticated = await fetch(`${baseUrl}/v1/tenants/acme/invoices`);
  expect(unauthenticated.status === 401, `a request without a token answered ${unauthenticated.status}`);
  const events = await fetch(`${baseUrl}/v1/events`, { method: "POST", headers: auth, body: JSON.stringify(EVENTS) });
  const eventsBody = await events.text();
  detail(`POST /v1/events ${events.status} ${eventsBody}`);
  expect(events.status === 200 && JSON.parse(eventsBody).accepted === 2, "the events were not accepted");
  const invoice = await fetch(`${baseUrl}/v1/tenants/acme/invoices`, { method: "POST", headers: auth, body: JSON.stringify({ period: "2026-11" }) });
  const body = (await invoice.json()) as { number?: string; total?: string; currency?: string };
  detail(`POST /v1/tenants/acme/invoices ${invoice.status}: ${body.number} total ${body.total} ${body.currency}`);
  expect(invoice.status < 300 && body.total === EXPECTED_TOTAL && body.currency === "USD", `invoice total ${body.total} ${body.currency}, expected ${EXPECTED_TOTAL} USD`);
}

/** Polls `url` until it answers 200 (the service migrates before it listens). */
export async function waitForHttp(url: string, timeoutMs: number, alive: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!alive()) throw new Error(`the service exited before ${url} answered`);
    const ok = await fetch(url).then((r) => r.status === 200, () => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs / 1000} s`);
}

/** A tokens file (MAAS_BILLING_TOKENS_FILE) from `maas-billing token create` output: its entries under `tokens:`. */
export function tokensFile(tokenCreateStdout: string): string {
  return `tokens:\n${tokenCreateStdout.trimEnd().split("\n").map((l) => `  ${l}`).join("\n")}\n`;
}
