/**
 * Per-tenant webhook endpoints: where a tenant's events go, signed with the endpoint's secret
 * (Standard Webhooks `whsec_<base64>`). The secret is returned once, when the endpoint is created
 * without one; listings never show it.
 */
import { randomBytes } from "node:crypto";
import type { Pool } from "pg";

export const WEBHOOK_EVENT_TYPES = ["quota.threshold", "invoice.created", "invoice.finalized", "metering.flagged"] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

export interface WebhookEndpoint {
  name: string;
  url: string;
  eventTypes: string[];
  enabled: boolean;
  createdAt: string;
  updatedAt: string;
}

/** A new signing secret in the Standard Webhooks format (24 random bytes). */
export const newWebhookSecret = (): string => `whsec_${randomBytes(24).toString("base64")}`;

/** An endpoint's columns, named as WebhookEndpoint's fields (the times still Dates). */
const ENDPOINT_COLUMNS = `name, url, event_types as "eventTypes", enabled, created_at as "createdAt", updated_at as "updatedAt"`;
type EndpointRow = Omit<WebhookEndpoint, "createdAt" | "updatedAt"> & { createdAt: Date; updatedAt: Date };

const toEndpoint = ({ name, url, eventTypes, enabled, createdAt, updatedAt }: EndpointRow): WebhookEndpoint => ({
  name,
  url,
  eventTypes,
  enabled,
  createdAt: createdAt.toISOString(),
  updatedAt: updatedAt.toISOString(),
});

/** Creates or updates an endpoint; returns the secret only when this call generated it. */
export const putWebhookEndpoint = async (
  pool: Pool,
  tenant: string,
  e: { name: string; url: string; secret?: string; eventTypes: string[]; enabled: boolean },
): Promise<{ endpoint: WebhookEndpoint; secret?: string }> => {
  const generated = e.secret === undefined ? newWebhookSecret() : undefined;
  const r = await pool.query<EndpointRow & { inserted: boolean }>(
    `insert into webhook_endpoints (tenant, name, url, secret, event_types, enabled) values ($1, $2, $3, $4, $5, $6)
     on conflict (tenant, name) do update set url = excluded.url, event_types = excluded.event_types, enabled = excluded.enabled,
       secret = case when $7 then webhook_endpoints.secret else excluded.secret end, updated_at = now()
     returning ${ENDPOINT_COLUMNS}, (xmax = 0) as inserted`,
    [tenant, e.name, e.url, e.secret ?? generated, e.eventTypes, e.enabled, e.secret === undefined],
  );
  const row = r.rows[0];
  // An update without a secret keeps the old one: nothing new to return.
  return { endpoint: toEndpoint(row), ...(generated && row.inserted ? { secret: generated } : {}) };
};

export const listWebhookEndpoints = async (pool: Pool, tenant: string): Promise<WebhookEndpoint[]> =>
  (await pool.query<EndpointRow>(`select ${ENDPOINT_COLUMNS} from webhook_endpoints where tenant = $1 order by name`, [tenant])).rows.map(toEndpoint);

export const deleteWebhookEndpoint = async (pool: Pool, tenant: string, name: string): Promise<boolean> =>
  ((await pool.query("delete from webhook_endpoints where tenant = $1 and name = $2", [tenant, name])).rowCount ?? 0) > 0;

/** The delivery log: the latest attempts of a tenant's messages, newest first. */
export const listWebhookAttempts = async (pool: Pool, tenant: string, limit: number) =>
  (
    await pool.query(
      `select a.id, o.event_id, o.event_type, a.endpoint, a.attempt, a.attempted_at, a.status, a.error, a.duration_ms,
              d.delivered_at, d.next_attempt_at
         from webhook_attempts a join webhook_outbox o on o.id = a.outbox_id
         left join webhook_deliveries d on d.outbox_id = a.outbox_id and d.endpoint = a.endpoint
        where a.tenant = $1 order by a.id desc limit $2`,
      [tenant, limit],
    )
  ).rows.map((r) => ({
    eventId: r.event_id,
    eventType: r.event_type,
    endpoint: r.endpoint,
    attempt: r.attempt,
    attemptedAt: new Date(r.attempted_at).toISOString(),
    status: r.status,
    error: r.error,
    durationMs: r.duration_ms,
    delivered: r.delivered_at !== null,
    nextAttemptAt: r.delivered_at === null && r.next_attempt_at ? new Date(r.next_attempt_at).toISOString() : null,
  }));
