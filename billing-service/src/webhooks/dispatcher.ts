/**
 * Sends the outbox (migration 31) to the tenants' endpoints, signed per the Standard Webhooks
 * spec with the `standardwebhooks` library (headers webhook-id, webhook-timestamp,
 * webhook-signature; the id is the message's idempotency id, the same on every retry).
 *
 * Per (tenant, endpoint), messages go out in outbox order and only the head is ever in flight:
 * a failed head is retried with exponential backoff (baseMs * 2^(attempts-1), at most maxMs) and
 * nothing behind it is sent before it succeeds, so a receiver sees each event at least once and
 * in order. Several replicas may run the dispatcher: a session advisory lock per (tenant,
 * endpoint) lets one send at a time. `runOnce(now)` does one pass and is what tests drive; serve
 * runs it every `intervalMs`. Destinations pass the egress check of net/egress.ts at every attempt
 * (no private, loopback, link-local or metadata address unless allow-listed; the checked address is
 * the one connected to).
 */
import http from "node:http";
import https from "node:https";
import type { Pool } from "pg";
import { Webhook } from "standardwebhooks";
import { DENY_ALL_PRIVATE, EgressRefused, pinDestination, pinnedLookup, systemResolve, type EgressPolicy, type PinnedAddress, type Resolve } from "../net/egress";

export interface DispatcherOptions {
  now?: () => Date;
  backoff?: { baseMs: number; maxMs: number };
  /** Per request. */
  timeoutMs?: number;
  /** In-cluster receivers allowed besides public addresses (MAAS_BILLING_WEBHOOK_ALLOW); default none. */
  egress?: EgressPolicy;
  /** Host name resolver (tests); default the system resolver. */
  resolve?: Resolve;
  onError?: (e: unknown) => void;
}

export interface DispatchReport {
  delivered: number;
  failed: number;
}

/** Advisory lock namespace of the dispatcher ("whks" as ASCII). */
const WEBHOOK_LOCK = 0x77686b73;

export const backoffMs = (attempts: number, b: { baseMs: number; maxMs: number }): number => Math.min(b.maxMs, b.baseMs * 2 ** Math.max(0, attempts - 1));

export const createWebhookDispatcher = (pool: Pool, options: DispatcherOptions = {}) => {
  const clock = options.now ?? (() => new Date());
  const backoff = options.backoff ?? { baseMs: 5_000, maxMs: 3_600_000 };
  const timeoutMs = options.timeoutMs ?? 10_000;

  const egress = options.egress ?? DENY_ALL_PRIVATE;
  const resolve = options.resolve ?? systemResolve;

  const send = async (url: string, secret: string, id: string, body: string, at: Date): Promise<{ status?: number; error?: string }> => {
    const signature = new Webhook(secret).sign(id, at, body);
    try {
      const target = new URL(url);
      // Checked now, at delivery, and the connection goes to exactly the checked address (egress.ts).
      const pinned = await pinDestination(target, egress, resolve);
      const status = await post(target, pinned, body, {
        "content-type": "application/json",
        "webhook-id": id,
        "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
        "webhook-signature": signature,
      });
      // A redirect is a failure, never followed to another host.
      return status >= 200 && status < 300 ? { status } : { status, error: `HTTP ${status}` };
    } catch (e) {
      if (e instanceof EgressRefused) return { error: e.message };
      return { error: (e as Error).cause instanceof Error ? `${(e as Error).message}: ${((e as Error).cause as Error).message}` : (e as Error).message };
    }
  };

  /** One POST over node:http(s) connecting to the pinned address; resolves with the status code. */
  const post = (target: URL, pinned: PinnedAddress, body: string, headers: Record<string, string>): Promise<number> =>
    new Promise((resolvePost, reject) => {
      const request = (target.protocol === "https:" ? https.request : http.request)(
        target,
        {
          method: "POST",
          headers: { ...headers, "content-length": String(Buffer.byteLength(body)) },
          lookup: pinnedLookup(pinned) as unknown as http.RequestOptions["lookup"],
          timeout: timeoutMs,
          agent: false,
        },
        (res) => {
          res.resume();
          res.on("end", () => resolvePost(res.statusCode ?? 0));
          res.on("error", reject);
        },
      );
      request.on("timeout", () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      request.on("error", reject);
      request.end(body);
    });

  const drainEndpoint = async (tenant: string, endpoint: string, report: DispatchReport): Promise<void> => {
    const client = await pool.connect();
    try {
      const locked = await client.query<{ ok: boolean }>("select pg_try_advisory_lock($1, hashtext($2)) as ok", [WEBHOOK_LOCK, `${tenant}/${endpoint}`]);
      if (!locked.rows[0].ok) return;
      try {
        for (;;) {
          const head = (
            await client.query(
              `select d.outbox_id, d.attempts, d.next_attempt_at, o.event_id, o.payload::text as body, e.url, e.secret
                 from webhook_deliveries d
                 join webhook_outbox o on o.id = d.outbox_id
                 join webhook_endpoints e on e.tenant = d.tenant and e.name = d.endpoint
                where d.tenant = $1 and d.endpoint = $2 and d.delivered_at is null
                order by d.outbox_id limit 1`,
              [tenant, endpoint],
            )
          ).rows[0];
          const now = clock();
          if (!head || new Date(head.next_attempt_at).getTime() > now.getTime()) return;
          const started = performance.now();
          // Signed with the wall clock, whatever clock schedules the retries: receivers reject stale timestamps.
          const result = await send(head.url, head.secret, head.event_id, head.body, new Date());
          const attempt = head.attempts + 1;
          await client.query(
            "insert into webhook_attempts (outbox_id, tenant, endpoint, attempt, attempted_at, status, error, duration_ms) values ($1, $2, $3, $4, $5, $6, $7, $8)",
            [head.outbox_id, tenant, endpoint, attempt, now, result.status ?? null, result.error ?? null, Math.round(performance.now() - started)],
          );
          if (!result.error) {
            await client.query("update webhook_deliveries set attempts = $3, delivered_at = $4, last_status = $5, last_error = null where outbox_id = $1 and endpoint = $2", [
              head.outbox_id,
              endpoint,
              attempt,
              now,
              result.status,
            ]);
            report.delivered += 1;
            continue;
          }
          await client.query(
            "update webhook_deliveries set attempts = $3, next_attempt_at = $4, last_status = $5, last_error = $6 where outbox_id = $1 and endpoint = $2",
            [head.outbox_id, endpoint, attempt, new Date(now.getTime() + backoffMs(attempt, backoff)), result.status ?? null, result.error],
          );
          report.failed += 1;
          return; // the head failed: nothing behind it goes out before it does
        }
      } finally {
        await client.query("select pg_advisory_unlock($1, hashtext($2))", [WEBHOOK_LOCK, `${tenant}/${endpoint}`]);
      }
    } finally {
      client.release();
    }
  };

  const runOnce = async (): Promise<DispatchReport> => {
    const report: DispatchReport = { delivered: 0, failed: 0 };
    const pending = (await pool.query("select distinct tenant, endpoint from webhook_deliveries where delivered_at is null order by tenant, endpoint")).rows;
    for (const p of pending) await drainEndpoint(p.tenant, p.endpoint, report);
    return report;
  };

  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;
  let stopped = false;
  return {
    runOnce,
    start(intervalMs: number) {
      const tick = () => {
        if (stopped) return;
        running = runOnce()
          .catch((e) => options.onError?.(e))
          .finally(() => {
            if (!stopped) {
              timer = setTimeout(tick, intervalMs);
              timer.unref();
            }
          });
      };
      stopped = false;
      tick();
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
};

export type WebhookDispatcher = ReturnType<typeof createWebhookDispatcher>;
