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
import { withTransaction } from "../db/transaction";
import type { PriceBook } from "../pricebook/pricebook";
import { firstExceeded, quotaStates } from "./decide";
import { applicableRules, type TierDefaults } from "./defaults";
import { readQuotaRules, type QuotaRule, type QuotaState } from "./store";
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

export interface QuotaDecision {
  readonly allowed: boolean;
  /** The first quota that refuses the request (allowed=false). */
  readonly exceeded?: QuotaState;
}

/** What the request path checks: one more request, token and minor unit (view.authorize). */
const ONE: Amounts = { tokens: 1n, requests: 1n, costMinor: 1n };
const ALLOWED: QuotaDecision = Object.freeze({ allowed: true });

/**
 * Applicable rules kept per (tenant, user, tier) for one state (a refresh starts a new memo): the
 * gateway asks for the same identities again and again, and applicableRules filters and sorts.
 * Past this many identities in one refresh interval the rules are computed per request again
 * (memory stays bounded whatever identities the gateway forwards).
 */
const MAX_MEMO_IDENTITIES = 100_000;

export interface QuotaView {
  /** Reloads rules and usage now (the loop calls it; tests call it to be deterministic). */
  refresh(): Promise<void>;
  /**
   * Would one more request (1 token, 1 request, 1 minor unit) fit? Answered from memory, with the
   * first quota that refuses it (the decision of decideCheck, without the other quotas' states).
   */
  authorize(req: { tenant: string; user?: string; tier?: string }): QuotaDecision;
  noteReservation(tenant: string, user: string, amounts: Amounts): void;
  /** Age of the state answers come from, in ms (undefined before the first refresh). */
  ageMs(): number | undefined;
  start(): void;
  stop(): Promise<void>;
}

/**
 * The request path's answer: decideCheck's allowed and exceeded for one more request, token and
 * minor unit (test/property-quota-decision.test.ts holds them equal), with no state built for the
 * quotas that fit.
 */
export const authorizeFrom = (usage: UsageSnapshot, rules: readonly QuotaRule[], tenant: string, now: Date): QuotaDecision => {
  const i = firstExceeded(usage, tenant, rules, ONE, now);
  return i < 0 ? ALLOWED : { allowed: false, exceeded: quotaStates(usage, tenant, [rules[i]], now)[0] };
};

export const DEFAULT_REFRESH_MS = 1000;
export const DEFAULT_MAX_STALE_MS = 15_000;

export const createQuotaView = (pool: Pool, options: QuotaViewOptions): QuotaView => {
  const refreshMs = options.refreshMs ?? DEFAULT_REFRESH_MS;
  const maxStaleMs = options.maxStaleMs ?? DEFAULT_MAX_STALE_MS;
  const clock = options.now ?? (() => new Date());
  const defaults = options.tierDefaults ?? new Map();
  let state: { at: number; rules: Map<string, QuotaRule[]>; usage: UsageSnapshot; applicable: Map<string, QuotaRule[]> } | undefined;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> | undefined;
  let stopped = false;

  const refresh = (): Promise<void> =>
    (inFlight ??= (async () => {
      try {
        const at = clock();
        // Rules and usage in one read-only snapshot, so a quota set and its usage agree.
        const { rules, usage } = await withTransaction(
          pool,
          async (client) => ({ rules: await readQuotaRules(client), usage: await readUsageSnapshot(client, options.priceBook(), { now: at }) }),
          { readOnlySnapshot: true },
        );
        state = { at: at.getTime(), rules, usage, applicable: new Map() };
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
      const key = `${req.tenant}\u0000${req.user ?? ""}\u0000${req.tier ?? ""}`;
      let rules = state.applicable.get(key);
      if (rules === undefined) {
        rules = applicableRules(state.rules.get(req.tenant) ?? [], defaults, req.user, req.tier);
        if (state.applicable.size < MAX_MEMO_IDENTITIES) state.applicable.set(key, rules);
      }
      return authorizeFrom(state.usage, rules, req.tenant, now);
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
