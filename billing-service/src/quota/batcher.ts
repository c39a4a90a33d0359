/**
 * The spending path of POST /v1/quota/check: exact across replicas. Checks of a tenant that
 * arrive while a batch of that tenant is in flight wait in memory; the next batch takes all of
 * them in ONE transaction:
 *   1. a transaction-level advisory lock on the tenant (every replica's batches of a tenant run
 *      one after the other, whether the rules are rows or tier defaults),
 *   2. the tenant's rules and usage (ledger of the day and month + open reservations) read after
 *      the lock, the usage in one statement (usage.ts),
 *   3. the checks decided in arrival order, each allowed one adding its reservation before the
 *      next is decided,
 *   4. the reservations inserted, commit.
 * N checks cost one lock wait, three reads and one commit. A reservation stays open until its real
 * usage arrives (an event with id = requestId, or the gateway collector's watermark passing
 * settle_after) or it expires (migration 30). Errors reject every check of the batch (the API
 * answers 5xx): never fails open.
 */
import { randomUUID } from "node:crypto";
import type { Pool } from "pg";
import { withTransaction } from "../db/transaction";
import type { PriceBook } from "../pricebook/pricebook";
import { decideCheck, type QuotaCheckRequest } from "./decide";
import { applicableRules, type TierDefaults } from "./defaults";
import { readQuotaRules, type QuotaCheck } from "./store";
import { addReserved, readUsageSnapshot, type Amounts } from "./usage";

export interface ReservationTimes {
  /** A reservation not settled by real usage within this time stops counting (default 15 min). */
  ttlMs: number;
  /**
   * The gateway collector settles a reservation once its watermark is this far past the check
   * (default 10 min): the longest a request may run, so its tokens are in the collected windows.
   */
  settleAfterMs: number;
}

export const DEFAULT_RESERVATION_TIMES: ReservationTimes = { ttlMs: 15 * 60_000, settleAfterMs: 10 * 60_000 };

export interface QuotaCheckerOptions {
  priceBook: () => PriceBook;
  tierDefaults?: TierDefaults;
  reservations?: ReservationTimes;
  /** Upper bound of checks decided in one transaction (default 1,000). */
  maxBatch?: number;
  /** Told about each reservation this replica made (the in-memory view counts it at once). */
  onReserved?: (tenant: string, user: string, amounts: Amounts) => void;
}

export interface QuotaChecker {
  check(req: QuotaCheckRequest): Promise<QuotaCheck>;
}

interface Pending {
  req: QuotaCheckRequest;
  now: Date;
  resolve: (r: QuotaCheck) => void;
  reject: (e: unknown) => void;
}

/** Advisory lock namespace of quota checks ("quot" as ASCII). */
const QUOTA_LOCK = 0x71756f74;

const INSERT_SQL = `
insert into quota_reservations (tenant, user_key, request_id, tokens, requests, cost_minor, created_at, settle_after, expires_at)
select $1, v.user_key, v.request_id, v.tokens, v.requests, v.cost_minor, v.created_at,
       v.created_at + make_interval(secs => $8::float8 / 1000), v.created_at + make_interval(secs => $9::float8 / 1000)
  from unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::timestamptz[])
       as v(user_key, request_id, tokens, requests, cost_minor, created_at)`;

export const createQuotaChecker = (pool: Pool, options: QuotaCheckerOptions): QuotaChecker => {
  const maxBatch = options.maxBatch ?? 1000;
  const times = options.reservations ?? DEFAULT_RESERVATION_TIMES;
  const defaults = options.tierDefaults ?? new Map();
  const queues = new Map<string, Pending[]>();
  const running = new Set<string>();

  const runBatch = async (tenant: string, batch: Pending[]): Promise<QuotaCheck[]> => {
    const insert: Array<{ user: string; id: string; req: QuotaCheckRequest; at: Date }> = [];
    // One transaction per batch; a connection that failed mid-transaction is not reused.
    const results = await withTransaction(pool, async (client) => {
      await client.query("select pg_advisory_xact_lock($1, hashtext($2))", [QUOTA_LOCK, tenant]);
      const rules = (await readQuotaRules(client, tenant)).get(tenant) ?? [];
      const snapshot = await readUsageSnapshot(client, options.priceBook(), { tenant, now: batch[0].now });
      const ids = batch.map((p) => p.req.requestId ?? randomUUID());
      const known = new Set(
        (await client.query<{ request_id: string }>("select request_id from quota_reservations where tenant = $1 and request_id = any($2::text[])", [tenant, ids])).rows.map(
          (r) => r.request_id,
        ),
      );
      const decided = batch.map((p, i): QuotaCheck => {
        const rules1 = applicableRules(rules, defaults, p.req.user, p.req.tier);
        if (known.has(ids[i])) {
          // A retry of a check that already holds a reservation: answer without spending twice.
          return { ...decideCheck(snapshot, rules1, { ...p.req, tokens: 0n, requests: 0n, costMinor: 0n }, p.now, false), spent: false, requestId: ids[i] };
        }
        const spend = !p.req.dryRun && rules1.length > 0;
        const result = decideCheck(snapshot, rules1, p.req, p.now, spend);
        if (result.spent) {
          known.add(ids[i]);
          addReserved(snapshot, tenant, p.req.user ?? "", p.req);
          insert.push({ user: p.req.user ?? "", id: ids[i], req: p.req, at: p.now });
          return { ...result, requestId: ids[i] };
        }
        return result;
      });
      if (insert.length > 0) {
        await client.query(INSERT_SQL, [
          tenant,
          insert.map((x) => x.user),
          insert.map((x) => x.id),
          insert.map((x) => x.req.tokens.toString()),
          insert.map((x) => x.req.requests.toString()),
          insert.map((x) => x.req.costMinor.toString()),
          insert.map((x) => x.at),
          times.settleAfterMs,
          times.ttlMs,
        ]);
      }
      return decided;
    });
    // Committed: this replica's in-memory view counts the reservations at once.
    for (const x of insert) options.onReserved?.(tenant, x.user, x.req);
    return results;
  };

  const drain = async (tenant: string): Promise<void> => {
    running.add(tenant);
    try {
      for (;;) {
        const queue = queues.get(tenant);
        if (!queue || queue.length === 0) break;
        const batch = queue.splice(0, maxBatch);
        try {
          const results = await runBatch(tenant, batch);
          batch.forEach((p, i) => p.resolve(results[i]));
        } catch (error) {
          for (const p of batch) p.reject(error);
        }
      }
    } finally {
      queues.delete(tenant);
      running.delete(tenant);
    }
  };

  return {
    check: (req) =>
      new Promise<QuotaCheck>((resolve, reject) => {
        const queue = queues.get(req.tenant) ?? [];
        queues.set(req.tenant, queue);
        queue.push({ req, now: req.now ?? new Date(), resolve, reject });
        if (!running.has(req.tenant)) void drain(req.tenant);
      }),
  };
};
