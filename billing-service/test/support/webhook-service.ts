/**
 * A real `maas-billing serve` set up for webhook tests (webhook-ssrf, tenant-webhooks): one price
 * for everything, tier `free` and model `llama` in the vocabulary, a fast dispatcher, and the given
 * egress allow-list; plus the one way those tests make it send: usage, then a draft invoice
 * (invoice.created).
 */
import { mkdtemp, writeFile } from "node:fs/promises";
import path from "node:path";
import { expect } from "vitest";
import type { StaticTokenEntry } from "../../src/auth/static";
import { postEvents, startService, type ServiceProcess } from "../../testkit/service";

const PRICE_BOOK = `
currency: USD
minorUnitDigits: 2
versions:
  - effectiveFrom: "2020-01-01T00:00:00Z"
    prices:
      - { tier: "*", model: "*", inputPerMillionTokens: "1.00", outputPerMillionTokens: "2.00", perRequest: "0" }
`;

export const startWebhookService = async (o: { work: string; databaseUrl: string; allow: string; tokens?: readonly StaticTokenEntry[] }): Promise<ServiceProcess> => {
  const book = path.join(o.work, "pricebook.yaml");
  await writeFile(book, PRICE_BOOK);
  return startService({
    databaseUrl: o.databaseUrl,
    dataDir: await mkdtemp(path.join(o.work, "data-")),
    tokens: o.tokens ?? [],
    env: {
      MAAS_BILLING_PRICE_BOOK: book,
      MAAS_BILLING_TIERS: "free",
      MAAS_BILLING_MODELS: "llama",
      MAAS_BILLING_WEBHOOK_INTERVAL_MS: "200",
      MAAS_BILLING_WEBHOOK_ALLOW: o.allow,
      LOG_LEVEL: "warn",
    },
  });
};

/** Usage of `tenant` a minute ago, then the platform admin drafts this month's invoice: invoice.created goes out. */
export const draftInvoiceNow = async (service: ServiceProcess, tenant: string): Promise<void> => {
  const posted = await postEvents(service, [
    { id: `e-${tenant}`, source: "//webhook-tests", time: new Date(Date.now() - 60_000).toISOString(), tenant, tier: "free", model: "llama", inputTokens: 1000, outputTokens: 100, requests: 1 },
  ]);
  expect(posted.status, JSON.stringify(posted.body)).toBe(200);
  const now = new Date();
  const invoice = await fetch(`${service.url}/v1/tenants/${tenant}/invoices`, {
    method: "POST",
    headers: { authorization: `Bearer ${service.token}`, "content-type": "application/json" },
    body: JSON.stringify({ period: `${now.getUTCFullYear()}-${String(now.getUTCMonth() + 1).padStart(2, "0")}` }),
  });
  expect(invoice.status).toBe(201);
};
