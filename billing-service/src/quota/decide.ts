/**
 * Decides one check against its rules and a usage snapshot. Pure: the caller holds whatever lock
 * makes the snapshot current (batcher.ts) or accepts its staleness (view.ts), and records the
 * reservation of an allowed spending check (addReserved) before deciding the next one.
 *
 * A check fits when, for every applicable rule, used + the check's amount <= limit, where used is
 * the ledger usage of the rule's period plus open reservations, and the amount is the check's
 * tokens, requests or cost for the rule's kind.
 */
import type { QuotaCheck, QuotaRule, QuotaState } from "./store";
import { amountOf, consumedOf, periodEndOf, periodStartOf, type Amounts, type UsageSnapshot } from "./usage";

export interface QuotaCheckRequest {
  tenant: string;
  user?: string;
  tier?: string;
  tokens: bigint;
  requests: bigint;
  costMinor: bigint;
  dryRun?: boolean;
  /** Idempotency: a retried check with the same id reuses its reservation. Default: a random id. */
  requestId?: string;
  now?: Date;
}

export const quotaStates = (snapshot: UsageSnapshot, tenant: string, rules: readonly QuotaRule[], now: Date, extra: Amounts | undefined = undefined): QuotaState[] => {
  const t = snapshot.tenants.get(tenant);
  return rules.map((rule) => {
    const c = rule.userKey === "" ? t?.total : t?.users.get(rule.userKey);
    const consumed = consumedOf(snapshot, c, rule.kind, rule.period, now);
    const used = consumed.used + (extra ? amountOf(extra, rule.kind) : 0n);
    return {
      user: rule.userKey === "" ? null : rule.userKey,
      kind: rule.kind,
      period: rule.period,
      limit: rule.limit.toString(),
      used: used.toString(),
      remaining: (rule.limit > used ? rule.limit - used : 0n).toString(),
      reserved: (consumed.reserved + (extra ? amountOf(extra, rule.kind) : 0n)).toString(),
      periodStart: periodStartOf(rule.period, now).toISOString(),
      resetsAt: periodEndOf(rule.period, now).toISOString(),
      source: rule.source,
    };
  });
};

/**
 * The index of the first rule that `amounts` would exceed (used + amount > limit), -1 when they fit
 * every rule: THE decision of both checks. Builds no QuotaState (no strings, no dates): the gateway's
 * request-path check runs it once per request and reports only the refusing quota.
 */
export const firstExceeded = (snapshot: UsageSnapshot, tenant: string, rules: readonly QuotaRule[], amounts: Amounts, now: Date): number => {
  const t = snapshot.tenants.get(tenant);
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i];
    const c = rule.userKey === "" ? t?.total : t?.users.get(rule.userKey);
    if (consumedOf(snapshot, c, rule.kind, rule.period, now).used + amountOf(amounts, rule.kind) > rule.limit) return i;
  }
  return -1;
};

/** Whether `amounts` fit every rule; `spend` only says what the answer reports as spent. */
export const decideCheck = (snapshot: UsageSnapshot, rules: readonly QuotaRule[], req: QuotaCheckRequest, now: Date, spend: boolean): QuotaCheck => {
  const before = quotaStates(snapshot, req.tenant, rules, now);
  const exceededIndex = firstExceeded(snapshot, req.tenant, rules, req, now);
  const allowed = exceededIndex < 0;
  const spent = allowed && spend;
  return {
    allowed,
    spent,
    quotas: spent ? quotaStates(snapshot, req.tenant, rules, now, req) : before,
    ...(allowed ? {} : { exceeded: before[exceededIndex] }),
  };
};

/** The message a refused caller reads (the gateway's 429 body): which quota, and when it resets. */
export const refusalMessage = (s: QuotaState): string =>
  `${s.user === null ? "tenant" : "user"} ${s.kind} quota per ${s.period} exhausted: ${s.used} of ${s.limit} used; resets at ${s.resetsAt}`;
