/**
 * A real `maas-billing serve` set up for webhook tests (webhook-ssrf, tenant-webhooks), on the kit's
 * service rig: one price for everything, tier `free` and model `llama` in the vocabulary, a fast
 * dispatcher, and the given egress allow-list; plus the one way those tests make it send: usage,
 * then a draft invoice (invoice.created).
 */
import { expect } from "vitest";
import type { StaticTokenEntry } from "../../src/auth/static";
import { kitPrice, priceBookYaml } from "../../testkit/pricebook";
import { startServiceRig, type ServiceRig } from "../../testkit/rig";
import { postEvents, type ServiceProcess } from "../../testkit/service";

/** The webhook services' settings (their egress allow-list given): `rig.startService({ env })` overrides them. */
export const webhookServiceEnv = (allow: string): Record<string, string> => ({
  MAAS_BILLING_TIERS: "free",
  MAAS_BILLING_MODELS: "llama",
  MAAS_BILLING_WEBHOOK_INTERVAL_MS: "200",
  MAAS_BILLING_WEBHOOK_ALLOW: allow,
  LOG_LEVEL: "warn",
});

export const startWebhookRig = (o: { name: string; allow: string; tokens?: readonly StaticTokenEntry[] }): Promise<ServiceRig> =>
  startServiceRig({
    name: o.name,
    tokens: o.tokens ?? [],
    priceBook: priceBookYaml([{ effectiveFrom: "2020-01-01T00:00:00Z", prices: [kitPrice("*", "*", "1.00", "2.00", "0")] }]),
    env: webhookServiceEnv(o.allow),
  });

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
