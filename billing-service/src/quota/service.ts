/**
 * The quota pieces of one replica, wired together: the exact spending checker (batcher.ts), the
 * in-memory view for the request path (view.ts) told about this replica's reservations, and
 * fresh reads for listings (GET quotas, GET /v1/quota/remaining: not on the request path, so they
 * read the database instead of the view).
 */
import type { Pool } from "pg";
import type { PriceBook } from "../pricebook/pricebook";
import { createQuotaChecker, type QuotaChecker, type ReservationTimes } from "./batcher";
import { quotaStates } from "./decide";
import { applicableRules, type TierDefaults } from "./defaults";
import { readQuotaRules, type QuotaState } from "./store";
import { readUsageSnapshot } from "./usage";
import { createQuotaView, type QuotaView } from "./view";
import { createThresholdNotifier, DEFAULT_QUOTA_THRESHOLDS } from "../webhooks/thresholds";

export interface QuotaSettings {
  tierDefaults?: TierDefaults;
  /** How often each replica reloads rules and usage into memory (ms). */
  refreshMs?: number;
  /** Older than this, the in-memory view refuses to answer (ms). */
  maxStaleMs?: number;
  reservations?: ReservationTimes;
  /** The clock (tests pass a fake one). */
  now?: () => Date;
  /** Run the refresh loop (serve: yes; tests call view.refresh() themselves). Default true. */
  autoRefresh?: boolean;
  onError?: (e: unknown) => void;
  /** quota.threshold webhooks at these percentages (default 80 and 100); [] turns them off. */
  thresholds?: readonly number[];
}

export interface QuotaService {
  readonly checker: QuotaChecker;
  readonly view: QuotaView;
  readonly settings: QuotaSettings;
  /** A tenant's quota states now: its rules (and, for a user with a tier, that tier's defaults). */
  states(tenant: string, who?: { user?: string; tier?: string }): Promise<{ quotas: QuotaState[]; unpriced: string[] }>;
  now(): Date;
  close(): Promise<void>;
}

/** A tenant's quota states now, read from the database (listings, the CLI). */
export const readQuotaStates = async (
  pool: Pool,
  book: PriceBook,
  tenant: string,
  options: { defaults?: TierDefaults; user?: string; tier?: string; now?: Date } = {},
): Promise<{ quotas: QuotaState[]; unpriced: string[] }> => {
  const at = options.now ?? new Date();
  const rules = (await readQuotaRules(pool, tenant)).get(tenant) ?? [];
  const usage = await readUsageSnapshot(pool, book, { tenant, now: at });
  const applicable = options.user === undefined ? rules : applicableRules(rules, options.defaults ?? new Map(), options.user, options.tier);
  return { quotas: quotaStates(usage, tenant, applicable, at), unpriced: usage.unpriced };
};

export const createQuotaService = (pool: Pool, priceBook: () => PriceBook, settings: QuotaSettings = {}): QuotaService => {
  const now = settings.now ?? (() => new Date());
  const defaults = settings.tierDefaults ?? new Map();
  const notifier = createThresholdNotifier(pool, settings.thresholds ?? DEFAULT_QUOTA_THRESHOLDS);
  const view = createQuotaView(pool, {
    priceBook,
    tierDefaults: defaults,
    refreshMs: settings.refreshMs,
    maxStaleMs: settings.maxStaleMs,
    now,
    onError: settings.onError,
    // After each refresh: announce the set quotas (tenant-wide and per user) that reached a threshold.
    onRefresh: (rules, usage, at) =>
      notifier.notify([...rules].flatMap(([tenant, list]) => quotaStates(usage, tenant, list, at).map((state) => ({ tenant, state })))).then(() => undefined),
  });
  const checker = createQuotaChecker(pool, {
    priceBook,
    tierDefaults: defaults,
    reservations: settings.reservations,
    onReserved: (tenant, user, amounts) => view.noteReservation(tenant, user, amounts),
  });
  if (settings.autoRefresh ?? true) view.start();
  return {
    checker,
    view,
    settings,
    now,
    states: (tenant, who = {}) => readQuotaStates(pool, priceBook(), tenant, { defaults, ...who, now: now() }),
    close: () => view.stop(),
  };
};
