/**
 * The zod building blocks of the HTTP API and of the usage event, written once: every text that
 * reaches PostgreSQL refuses NUL (PostgreSQL text cannot hold it: a 400 here instead of a failed
 * insert, a 500, or a spooled batch that could never be replayed), counts are safe integers, and
 * the path parameters of the tenant routes have one shape.
 */
import { z } from "zod";

/** Non-empty text without NUL, at most `max` characters. */
export const pgText = (max = 256) => z.string().min(1).max(max).regex(/^[^\u0000]*$/, "must not contain NUL characters");

/**
 * The body fast paths' test for a pgText() value (routes/authorize-body.ts, routes/events-body.ts):
 * a subset of what the schema accepts. zod counts code points; at most 256 UTF-16 units is a
 * subset (a longer string of surrogate pairs goes to zod, which answers).
 */
export const isPlainPgText = (x: unknown): x is string => typeof x === "string" && x.length >= 1 && x.length <= 256 && !x.includes("\u0000");

/** A whole number 0..2^53-1 (tokens, requests, minor units). */
export const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/** A billing period (calendar month, UTC). */
export const period = z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/, "expected YYYY-MM");

/** `/v1/tenants/:tenant/...` */
export const tenantParams = z.object({ tenant: pgText() });

/** `/v1/tenants/:tenant/invoices/:invoice...` */
export const invoiceParams = tenantParams.extend({ invoice: pgText(200).describe("invoice id or number") });

/**
 * The body of POST /v1/quota/authorize (the gateway's per-request check): the tenant, or the
 * namespace of the API key's Secret, which the service maps to its tenant with the platform's
 * tenant registry (routes/quotas.ts; the platform's gateway sends the namespace, so its AuthPolicy
 * needs no namespace -> tenant map: docs/scaling.md). Exactly one of the two. The gateway sends ""
 * for an identity without a user or tier annotation: that is "none", never a reason to fail the
 * call (which a fail-open gateway would let through). routes/authorize-body.ts checks the common
 * case without a zod parse and must agree with this schema.
 */
export const quotaAuthorizeRequest = z
  .object({
    tenant: pgText().optional(),
    // "" is the gateway's "no namespace" (an identity that is no namespaced object): answered allowed=false like an unknown namespace.
    namespace: z.union([pgText(), z.literal("")]).optional().describe("namespace of the API key's Secret (instead of tenant): mapped to its tenant by the tenant registry; one it does not list, or \"\", is answered allowed=false"),
    user: z.union([pgText(), z.literal("")]).optional(),
    tier: z.union([pgText(), z.literal("")]).optional(),
  })
  .refine((b) => (b.tenant === undefined) !== (b.namespace === undefined), { path: ["tenant"], message: "send exactly one of tenant and namespace (the API key's namespace, mapped to its tenant by the tenant registry)" });

// Response bodies: fastify serializes answers through them (a field not listed is dropped) and
// they document /openapi.json. Amounts and counters are decimal strings (bigint on the server).
const decimal = z.string().regex(/^-?\d+(\.\d+)?$/);

/** An error answer: `error` names the kind, `message` says what to do. */
export const errorBody = z.looseObject({ error: z.string(), message: z.string().optional() });

export const usageReportBody = z.object({
  tenant: z.string(),
  from: z.string(),
  to: z.string(),
  groupBy: z.array(z.string()),
  inputTokens: decimal,
  outputTokens: decimal,
  totalTokens: decimal,
  requests: decimal,
  costMinor: decimal.optional().describe("cost of the range in minor units, priced and rounded like an invoice"),
  currency: z.string().optional(),
  rows: z.array(
    z
      .object({
        user: z.string().optional(),
        model: z.string().optional(),
        tier: z.string().optional(),
        inputTokens: decimal,
        outputTokens: decimal,
        totalTokens: decimal,
        requests: decimal,
        ledgerRows: z.number().int(),
        costMinor: decimal.optional().describe("the row's share of costMinor (rows add up to it)"),
      })
      // Attribute labels grouped by (organization_id, cost_center, ...), as strings.
      .catchall(z.unknown()),
  ),
});

export const invoiceBody = z.object({
  id: z.string(),
  number: z.string(),
  tenant: z.string(),
  period: z.string(),
  periodStart: z.string(),
  periodEnd: z.string(),
  kind: z.enum(["standard", "adjustment"]),
  status: z.enum(["draft", "final"]),
  currency: z.string(),
  minorUnitDigits: z.number().int(),
  totalMinor: decimal.describe("total in minor units"),
  total: decimal,
  ledgerRows: z.number().int(),
  roundingRule: z.string(),
  flags: z.record(z.string(), z.unknown()),
  contentSha256: z.string().nullable().describe("set when final: SHA-256 of the invoice content"),
  createdAt: z.string(),
  finalizedAt: z.string().nullable(),
  lines: z.array(
    z.object({
      lineNo: z.number().int(),
      tier: z.string(),
      model: z.string(),
      component: z.string(),
      priceVersionId: z.string(),
      quantity: decimal,
      unit: z.string(),
      unitPrice: decimal,
      amountMinor: decimal,
      amount: decimal,
      dimensions: z.record(z.string(), z.string()).describe("attribute labels of the usage behind the line (e.g. organization_id, cost_center); {} when none"),
      lineage: z.record(z.string(), z.unknown()),
      /** Attribute labels the line is split by (FOCUS Tags); {} when none. */
    }),
  ),
});

export const invoiceListBody = z.object({ invoices: z.array(invoiceBody.omit({ lines: true })) });

const quotaState = z.object({
  user: z.string().nullable(),
  kind: z.enum(["tokens", "requests", "cost"]),
  period: z.enum(["day", "month"]),
  limit: decimal,
  used: decimal,
  remaining: decimal,
  reserved: decimal,
  periodStart: z.string(),
  resetsAt: z.string(),
  source: z.enum(["set", "tier-default"]),
});

export const quotaListBody = z.object({ quotas: z.array(quotaState) });

export const quotaCheckBody = z.object({
  allowed: z.boolean(),
  spent: z.boolean(),
  quotas: z.array(quotaState),
  exceeded: quotaState.optional(),
  message: z.string().optional(),
  requestId: z.string().optional(),
  tokens: decimal,
  costMinor: decimal,
});

export const quotaAuthorizeBody = z.object({
  allowed: z.boolean(),
  exceeded: quotaState.optional(),
  message: z.string().optional(),
  stateAgeMs: z.number().optional(),
});

export const quotaRemainingBody = z.object({
  tenant: z.string(),
  user: z.string().nullable(),
  quotas: z.array(quotaState),
  unpricedUsage: z.array(z.array(z.string())).optional(),
});

const webhookEndpoint = z.object({ name: z.string(), url: z.string(), eventTypes: z.array(z.string()), enabled: z.boolean(), createdAt: z.string(), updatedAt: z.string() });
export const webhookEndpointBody = z.object({ endpoint: webhookEndpoint, secret: z.string().optional() });
export const webhookEndpointListBody = z.object({ endpoints: z.array(webhookEndpoint) });
export const webhookAttemptListBody = z.object({
  attempts: z.array(
    z.object({
      eventId: z.string(),
      eventType: z.string(),
      endpoint: z.string(),
      attempt: z.number(),
      attemptedAt: z.string(),
      status: z.number().nullable(),
      error: z.string().nullable(),
      durationMs: z.number(),
      delivered: z.boolean(),
      nextAttemptAt: z.string().nullable(),
    }),
  ),
});
