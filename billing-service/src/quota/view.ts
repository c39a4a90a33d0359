/**
 * The request-path check (POST /v1/quota/authorize, what the gateway calls): answered from
 * memory, never from the database.
 *
 * Each replica holds every tenant's rules and usage (usage.ts: ledger of the day and month + open
 * reservations) and reloads them every `refreshMs` (default 1 s). Its own reservations are added
 * at once (onReserved). Staleness is bounded: an answer reflects the ledger and the other
 * replicas' reservations as of at most refreshMs + one refresh ago, so all replicas agree within
 * that bound. If no refresh has succeeded for `maxStaleMs` (default 15 s: the database is down)
 * the view refuses to answer (StaleQuotaViewError, the API answers 503) and the gateway's
 * fail-open/fail-closed setting decides.
 */
import type { Pool } from "pg";
import type { PriceBook } from "../pricebook/pricebook";
import { decideCheck, type QuotaCheckRequest } from "./decide";
import { applicableRules, type TierDefaults } from "./defaults";
import { readQuotaRules, type QuotaCheck, type QuotaRule } from "./store";
import { addReserved, readUsageSnapshot, type Amounts, type UsageSnapshot } from "./usage";

export interface QuotaViewOptions {
  priceBook: () => PriceBook;
  tierDefaults?: TierDefaults;
  refreshMs?: number;
  maxStaleMs?: number;
  now?: () => Date;
  /** Called with a refresh error (the view keeps its last state until maxStaleMs). */
  onError?: (e: unknown) => void;
  /** Called after each successful refresh with what was loaded (threshold webhooks). */
  onRefresh?: (rules: Map<string, QuotaRule[]>, usage: UsageSnapshot, at: Date) => Promise<void>;
}

export class StaleQuotaViewError extends Error {}

export interface QuotaView {
  /** Reloads rules and usage now (the loop calls it; tests call it to be deterministic). */
  refresh(): Promise<void>;
  /** Would one more request (1 token, 1 request, 1 minor unit) fit? Answered from memory. */
  authorize(req: { tenant: string; user?: string; tier?: string }): QuotaCheck;
  noteReservation(tenant: string, user: string, amounts: Amounts): void;
  /** Age of the state answers come from, in ms (undefined before the first refresh). */
  ageMs(): number | undefined;
  start(): void;
  stop(): Promise<void>;
}

export const DEFAULT_REFRESH_MS = 1000;
export const DEFAULT_MAX_STALE_MS = 15_000;

export const createQuotaView = (pool: Pool, options: QuotaViewOptions): QuotaView => {
  const refreshMs = options.refreshMs ?? DEFAULT_REFRESH_MS;
  const maxStaleMs = options.maxStaleMs ?? DEFAULT_MAX_STALE_MS;
  const clock = options.now ?? (() => new Date());
  const defaults = options.tierDefaults ?? new Map();
  let state: { at: number; rules: Map<string, QuotaRule[]>; usage: UsageSnapshot } | undefined;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> | undefined;
  let stopped = false;

  const refresh = (): Promise<void> =>
    (inFlight ??= (async () => {
      try {
        const at = clock();
        // Rules and usage in one read-only snapshot, so a quota set and its usage agree.
        const client = await pool.connect();
        try {
          await client.query("begin isolation level repeatable read read only");
          const rules = await readQuotaRules(client);
          const usage = await readUsageSnapshot(client, options.priceBook(), { now: at });
          await client.query("commit");
          state = { at: at.getTime(), rules, usage };
        } catch (e) {
          await client.query("rollback").catch(() => {});
          throw e;
        } finally {
          client.release();
        }
        if (options.onRefresh && state) await options.onRefresh(state.rules, state.usage, new Date(state.at)).catch((e) => options.onError?.(e));
      } finally {
        inFlight = undefined;
      }
    })());

  const loop = (): void => {
    if (stopped) return;
    timer = setTimeout(() => {
      refresh()
        .catch((e) => options.onError?.(e))
        .finally(loop);
    }, refreshMs);
    timer.unref();
  };

  return {
    refresh,
    authorize(req) {
      const now = clock();
      if (!state || now.getTime() - state.at > maxStaleMs) {
        throw new StaleQuotaViewError(
          state ? `quota state is ${now.getTime() - state.at} ms old (limit ${maxStaleMs} ms): the database is not answering` : "quota state not loaded yet",
        );
      }
      const rules = applicableRules(state.rules.get(req.tenant) ?? [], defaults, req.user, req.tier);
      const probe: QuotaCheckRequest = { ...req, tokens: 1n, requests: 1n, costMinor: 1n };
      const result = decideCheck(state.usage, rules, probe, now, false);
      return { ...result, spent: false };
    },
    noteReservation(tenant, user, amounts) {
      if (state) addReserved(state.usage, tenant, user, amounts);
    },
    ageMs: () => (state ? clock().getTime() - state.at : undefined),
    start() {
      stopped = false;
      void refresh()
        .catch((e) => options.onError?.(e))
        .finally(loop);
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await inFlight?.catch(() => {});
    },
  };
};
