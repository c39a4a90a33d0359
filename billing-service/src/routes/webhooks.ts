/**
 * Webhook endpoints and the delivery log of a tenant (docs/billing-service.md "Webhooks"):
 *   PUT    /v1/tenants/:tenant/webhooks/:name   create or update (the secret is returned once when generated)
 *   GET    /v1/tenants/:tenant/webhooks         endpoints (never their secrets)
 *   DELETE /v1/tenants/:tenant/webhooks/:name
 *   GET    /v1/tenants/:tenant/webhooks/deliveries   attempts, newest first
 */
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import type { Pool } from "pg";
import { z } from "zod";
import { deleteWebhookEndpoint, listWebhookAttempts, listWebhookEndpoints, putWebhookEndpoint, WEBHOOK_EVENT_TYPES } from "../webhooks/endpoints";
import { errorBody, tenantParams, webhookAttemptListBody, webhookEndpointBody, webhookEndpointListBody } from "../schemas";

const endpointParams = tenantParams.extend({ name: z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, "a lowercase DNS label, e.g. billing-alerts") });

const endpointUrl = z
  .string()
  .max(2048)
  .refine((u) => URL.canParse(u) && ["http:", "https:"].includes(new URL(u).protocol), "expected an http(s) URL, e.g. https://hooks.example.com/maas")
  .refine((u) => !URL.canParse(u) || (new URL(u).username === "" && new URL(u).password === ""), "must not carry credentials: the payload is signed with the endpoint's secret instead");

export const registerWebhookRoutes = (base: FastifyInstance, pool: Pool): void => {
  const app = base.withTypeProvider<ZodTypeProvider>();
  app.put(
    "/v1/tenants/:tenant/webhooks/:name",
    {
      config: { scope: { tenant: "params", action: "webhooks.update" } },
      schema: {
        summary: "Create or update a webhook endpoint of the tenant (Standard Webhooks signing)",
        description: "Without `secret` a new whsec_ secret is generated and returned once, in this answer only; an update without `secret` keeps the old one. `eventTypes` empty = every type.",
        params: endpointParams,
        body: z.object({
          url: endpointUrl,
          secret: z.string().regex(/^whsec_[A-Za-z0-9+/]{32,}={0,2}$/, "expected whsec_ followed by at least 24 base64-encoded bytes").optional(),
          eventTypes: z.array(z.enum(WEBHOOK_EVENT_TYPES)).default([]),
          enabled: z.boolean().default(true),
        }),
        response: { 200: webhookEndpointBody },
      },
    },
    async (request) => putWebhookEndpoint(pool, request.params.tenant, { name: request.params.name, ...request.body }),
  );
  app.get(
    "/v1/tenants/:tenant/webhooks",
    { config: { scope: { tenant: "params", action: "webhooks.read" } }, schema: { summary: "The tenant's webhook endpoints (without secrets)", params: tenantParams, response: { 200: webhookEndpointListBody } } },
    async (request) => ({ endpoints: await listWebhookEndpoints(pool, request.params.tenant) }),
  );
  app.delete(
    "/v1/tenants/:tenant/webhooks/:name",
    { config: { scope: { tenant: "params", action: "webhooks.update" } }, schema: { summary: "Delete a webhook endpoint (and its pending deliveries)", params: endpointParams, response: { 200: webhookEndpointListBody, 404: errorBody } } },
    async (request, reply) => {
      if (!(await deleteWebhookEndpoint(pool, request.params.tenant, request.params.name))) {
        return reply.code(404).send({ error: "not found", message: "no such endpoint: see GET /v1/tenants/{tenant}/webhooks" });
      }
      return { endpoints: await listWebhookEndpoints(pool, request.params.tenant) };
    },
  );
  app.get(
    "/v1/tenants/:tenant/webhooks/deliveries",
    {
      config: { scope: { tenant: "params", action: "webhooks.read" } },
      schema: {
        summary: "Delivery log: the latest attempts to send the tenant's webhooks, newest first",
        params: tenantParams,
        querystring: z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100) }),
        response: { 200: webhookAttemptListBody },
      },
    },
    async (request) => ({ attempts: await listWebhookAttempts(pool, request.params.tenant, request.query.limit) }),
  );
};
