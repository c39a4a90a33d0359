/**
 * Prometheus metrics of the service (names pinned in docs/contract.md). Usage and cost come from
 * the database at scrape time (the hourly rollup, so a scrape is one small aggregate query), which
 * makes them correct across restarts. Those database-derived series are exported by ONE replica,
 * the holder of the exporter lock (exporter-lease.ts); the others export none of them, so a sum or
 * a join over replicas never counts the database twice. Request metrics are per process.
 * Cost is priced by the invoice's own code (ledger-cost.ts -> invoices/pricing.ts priceGroups).
 */
import type { Pool } from "pg";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { COST_DENOMINATOR, listPrice, priceFor, usageCostNumerator } from "../pricebook/cost";
import { allocate, PRICE_SCALE } from "../pricebook/money";
import { versionAt, type Price, type PriceBook } from "../pricebook/pricebook";
import { createExporterLease } from "./exporter-lease";
import { currentPeriod, ledgerCosts, type PeriodCost } from "./ledger-cost";
import { periodOf } from "../invoices/periods";
import { UnpricedUsageError } from "../invoices/pricing";
import { costPerRow } from "../usage/cost";
import { quotaStates } from "../quota/decide";
import { readQuotaRules } from "../quota/store";
import { readUsageSnapshot } from "../quota/usage";

export interface ServiceMetrics {
  readonly registry: Registry;
  readonly httpRequests: Counter<"method" | "route" | "status">;
  readonly httpDuration: Histogram<"method" | "route">;
  readonly eventsIngested: Counter<"result">;
  readonly authDenied: Counter<"reason">;
  /** Gives up the exporter lock (shutdown); idempotent. */
  close(): Promise<void>;
}

/**
 * A money amount (integer minor units, bigint) as a Prometheus sample. Samples are float64, exact for
 * integers up to 2^53; past that a panel would show a rounded amount that no longer equals the
 * invoice, so refuse it instead of exporting a wrong number (the invoice stays the money of record).
 */
export const minorUnitsSample = (minor: bigint): number => {
  if (minor > BigInt(Number.MAX_SAFE_INTEGER) || minor < -BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new RangeError(`amount of ${minor} minor units is beyond what a Prometheus sample holds exactly (2^53)`);
  }
  return Number(minor);
};

interface UsageSnapshot {
  tokens: Array<{ tenant: string; model: string; tier: string; input: bigint; output: bigint; requests: bigint }>;
  /** Every (tenant, period) priced like its invoice. */
  periods: readonly PeriodCost[];
  quotas: Array<{ tenant: string; kind: string; period: string; ratio: number }>;
  /** Cost of the current period per tenant and user, priced like the usage API's cost per user. */
  userCosts: Array<{ tenant: string; period: string; user: string; minor: bigint }>;
  /** Billable access-log usage per API key (access_log_key_hourly, migration 061). */
  keys: Array<{ tenant: string; keyId: string; keyName: string; model: string; period: string; input: bigint; output: bigint; requests: bigint }>;
}

/** Cost in minor units per tenant of hourly rows, priced with the version in force at each row's hour (the invoice rule). */
export const costByTenant = (book: PriceBook, rows: Array<{ tenant: string; tier: string; model: string; hour: Date; input: bigint; output: bigint; requests: bigint }>): Map<string, bigint> => {
  const byTenant = new Map<string, bigint[]>();
  for (const r of rows) {
    const version = versionAt(book, r.hour);
    const price = version && priceFor(version, r);
    if (!price) continue; // unpriced usage shows up on the invoice as an error, not as a guessed cost
    const numerator = usageCostNumerator({ inputTokens: r.input, outputTokens: r.output, requests: r.requests }, price, book.minorUnitDigits);
    const list = byTenant.get(r.tenant) ?? [];
    list.push(numerator);
    byTenant.set(r.tenant, list);
  }
  const result = new Map<string, bigint>();
  for (const [tenant, nums] of byTenant) result.set(tenant, allocate(nums, COST_DENOMINATOR).totalMinor);
  return result;
};

const EMPTY: UsageSnapshot = { tokens: [], periods: [], quotas: [], userCosts: [], keys: [] };

/**
 * The current period's cost per (tenant, user) with the usage API's code (usage/cost.ts
 * costPerRow: invoice pricing, the invoice's rounding with largest remainders), so a tenant's users
 * add up to its draft invoice total. Tenants whose usage has no price are left out, as the draft
 * invoice refuses them.
 */
const userCostsOf = async (pool: Pool, book: PriceBook, periods: readonly PeriodCost[], at: Date): Promise<UsageSnapshot["userCosts"]> => {
  const current = periodOf(at);
  const out: UsageSnapshot["userCosts"] = [];
  for (const p of periods) {
    if (p.period !== current.label) continue;
    try {
      const costs = await costPerRow(pool, book, p.tenant, current.start, current.end, ["coalesce(user_id, '')"]);
      for (const [row, minor] of costs.byRow) out.push({ tenant: p.tenant, period: p.period, user: (JSON.parse(row) as string[])[0] ?? "", minor });
    } catch (e) {
      if (!(e instanceof UnpricedUsageError)) throw e;
    }
  }
  return out;
};

export const createServiceMetrics = (pool: Pool, getBook: () => PriceBook, now: () => Date = () => new Date()): ServiceMetrics => {
  const registry = new Registry();
  const lease = createExporterLease(pool);
  let cached: { at: number; snapshot: Promise<UsageSnapshot> } | undefined;
  let leader = false;

  const load = async (): Promise<UsageSnapshot> => {
    leader = await lease.held();
    if (!leader) return EMPTY;
    const book = getBook();
    const q = await pool.query(
      `select tenant, tier, model, sum(input_tokens)::text as i, sum(output_tokens)::text as o, sum(requests)::text as r
         from usage_hourly_current group by 1, 2, 3`,
    );
    const tokens = q.rows.map((r) => ({
      tenant: r.tenant as string,
      tier: r.tier as string,
      model: r.model as string,
      input: BigInt(r.i),
      output: BigInt(r.o),
      requests: BigInt(r.r),
    }));
    // Tenant-wide quotas with what they consumed: ledger usage + open reservations (quota/usage.ts).
    const at = now();
    const rules = await readQuotaRules(pool);
    const usage = rules.size > 0 ? await readUsageSnapshot(pool, book, { now: at }) : undefined;
    const quotaRows = [...rules].flatMap(([tenant, list]) =>
      usage
        ? quotaStates(usage, tenant, list.filter((r) => r.userKey === ""), at).map((s) => ({ tenant, kind: s.kind, period: s.period, lim: Number(s.limit), used: Number(s.used) }))
        : [],
    );
    const keys = (
      await pool.query(
        `select tenant, key_id, key_name, model, to_char($1::timestamptz at time zone 'UTC', 'YYYY-MM') as period,
                sum(input_tokens)::text as i, sum(output_tokens)::text as o, sum(requests)::text as r
           from access_log_key_hourly_current where hour >= date_trunc('month', $1::timestamptz at time zone 'UTC') at time zone 'UTC' group by 1, 2, 3, 4
         -- Keys whose records in the period billed nothing (refused, failed) export no series.
         having sum(input_tokens) + sum(output_tokens) + sum(requests) > 0`,
        [at],
      )
    ).rows.map((r) => ({ tenant: r.tenant as string, keyId: r.key_id as string, keyName: r.key_name as string, model: r.model as string, period: r.period as string, input: BigInt(r.i), output: BigInt(r.o), requests: BigInt(r.r) }));
    const periods = (await ledgerCosts(pool, book)).periods;
    return {
      tokens,
      periods,
      userCosts: await userCostsOf(pool, book, periods, at),
      keys,
      quotas: quotaRows.map((r) => ({ tenant: r.tenant, kind: r.kind, period: r.period, ratio: r.lim > 0 ? r.used / r.lim : r.used > 0 ? 1 : 0 })),
    };
  };
  /** One database read per scrape burst (several collectors read the same snapshot). */
  const snapshot = (): Promise<UsageSnapshot> => {
    if (!cached || Date.now() - cached.at > 5_000) cached = { at: Date.now(), snapshot: load() };
    return cached.snapshot;
  };

  new Gauge({
    name: "maas_billing_exporter_leader",
    help: "1 on the replica that exports the database-derived series (usage, cost, prices, quotas), 0 on the others",
    registers: [registry],
    async collect() {
      await snapshot().catch(() => EMPTY);
      this.set(leader ? 1 : 0);
    },
  });
  new Counter({
    name: "maas_billing_usage_tokens_total",
    help: "Tokens in the usage ledger (events and collector), by tenant, model, tier and direction",
    labelNames: ["tenant", "model", "tier", "direction"],
    registers: [registry],
    async collect() {
      this.reset();
      for (const t of (await snapshot()).tokens) {
        this.inc({ tenant: t.tenant, model: t.model, tier: t.tier, direction: "input" }, Number(t.input));
        this.inc({ tenant: t.tenant, model: t.model, tier: t.tier, direction: "output" }, Number(t.output));
      }
    },
  });
  // Gauges of the open period (like maas_billing_period_cost_minor_total): a panel reads the last
  // value, so a key's usage counts from its first request (a counter first seen at its full value
  // would be lost to increase()).
  new Gauge({
    name: "maas_billing_key_period_tokens",
    help: "Billable tokens of the access logs in the open billing period (calendar month, UTC) per API key (key id and name, never the key itself), by tenant, model and direction",
    labelNames: ["tenant", "key_id", "key_name", "model", "direction", "period"],
    registers: [registry],
    async collect() {
      this.reset();
      for (const k of (await snapshot()).keys) {
        this.set({ tenant: k.tenant, key_id: k.keyId, key_name: k.keyName, model: k.model, direction: "input", period: k.period }, Number(k.input));
        this.set({ tenant: k.tenant, key_id: k.keyId, key_name: k.keyName, model: k.model, direction: "output", period: k.period }, Number(k.output));
      }
    },
  });
  new Gauge({
    name: "maas_billing_key_period_requests",
    help: "Billable (served) requests of the access logs in the open billing period per API key, by tenant and model",
    labelNames: ["tenant", "key_id", "key_name", "model", "period"],
    registers: [registry],
    async collect() {
      this.reset();
      for (const k of (await snapshot()).keys) this.set({ tenant: k.tenant, key_id: k.keyId, key_name: k.keyName, model: k.model, period: k.period }, Number(k.requests));
    },
  });
  new Counter({
    name: "maas_billing_usage_requests_total",
    help: "Requests in the usage ledger, by tenant, model and tier",
    labelNames: ["tenant", "model", "tier"],
    registers: [registry],
    async collect() {
      this.reset();
      for (const t of (await snapshot()).tokens) this.inc({ tenant: t.tenant, model: t.model, tier: t.tier }, Number(t.requests));
    },
  });
  new Counter({
    name: "maas_billing_cost_minor_units_total",
    help: "Cost of all usage in the ledger in minor currency units: the sum over billing periods of each period's invoice total (invoice pricing code)",
    labelNames: ["tenant", "currency"],
    registers: [registry],
    async collect() {
      this.reset();
      const all = new Map<string, bigint>();
      for (const p of (await snapshot()).periods) all.set(p.tenant, (all.get(p.tenant) ?? 0n) + p.totalMinor);
      for (const [tenant, minor] of all) this.inc({ tenant, currency: getBook().currency }, minorUnitsSample(minor));
    },
  });
  new Counter({
    name: "maas_billing_period_cost_minor_total",
    help:
      "Cost of the current billing period (YYYY-MM, UTC) so far by invoice line (tier, model, component), in minor currency units, " +
      "priced by the invoice code: per tenant and period the lines add up to the draft invoice total. A line may move by one minor " +
      "unit to another as the invoice's rounding leftovers move; read it with last_over_time, not rate()",
    labelNames: ["tenant", "currency", "period", "tier", "model", "component"],
    registers: [registry],
    async collect() {
      this.reset();
      const period = currentPeriod(now());
      for (const p of (await snapshot()).periods) {
        if (p.period !== period) continue;
        for (const l of p.lines) {
          this.inc({ tenant: p.tenant, currency: getBook().currency, period, tier: l.tier, model: l.model, component: l.component }, minorUnitsSample(l.amountMinor));
        }
      }
    },
  });
  new Gauge({
    name: "maas_billing_month_to_date_cost_minor",
    help: "Cost of this calendar month (UTC) so far in minor currency units: the draft invoice total of the current period",
    labelNames: ["tenant", "currency"],
    registers: [registry],
    async collect() {
      this.reset();
      const period = currentPeriod(now());
      for (const p of (await snapshot()).periods) if (p.period === period) this.set({ tenant: p.tenant, currency: getBook().currency }, minorUnitsSample(p.totalMinor));
    },
  });
  new Gauge({
    name: "maas_billing_user_period_cost_minor",
    help:
      "Cost of the current billing period (YYYY-MM, UTC) so far per tenant and user (API key owner; \"\" = usage without a user), in minor " +
      "currency units, priced like the usage API's cost per user: per tenant the users add up to the draft invoice total",
    labelNames: ["tenant", "currency", "period", "user"],
    registers: [registry],
    async collect() {
      this.reset();
      for (const c of (await snapshot()).userCosts) this.set({ tenant: c.tenant, currency: getBook().currency, period: c.period, user: c.user }, minorUnitsSample(c.minor));
    },
  });
  new Gauge({
    name: "maas_billing_quota_used_ratio",
    help: "Used share of each tenant-level quota in its current period (1 = exhausted)",
    labelNames: ["tenant", "kind", "period"],
    registers: [registry],
    async collect() {
      this.reset();
      for (const q of (await snapshot()).quotas) this.set({ tenant: q.tenant, kind: q.kind, period: q.period }, q.ratio);
    },
  });
  /**
   * Prices in force now, as gauges: every entry of the book (model "*" and all), plus the price each
   * (tier, model) seen in the ledger resolves to, so a dashboard joining usage
   * `on (tier, model, direction)` finds a price for concrete model names. The resolved prices are
   * also exported once per tenant with a `tenant` label, so a `tenant=`-enforcing federation proxy
   * lets that tenant's copy through (inside one tenant's Prometheus the join stays one-to-one).
   */
  const priceGauge = (name: string, help: string, pick: "tokens" | "request"): void => {
    new Gauge({
      name,
      help,
      labelNames: pick === "request" ? ["tier", "model", "currency", "tenant"] : ["tier", "model", "direction", "currency", "tenant"],
      registers: [registry],
      async collect() {
        this.reset();
        const book = getBook();
        const version = versionAt(book, now());
        if (!version) return;
        const toMinor = (scaled: bigint): number => Number(scaled * 10n ** BigInt(book.minorUnitDigits)) / Number(PRICE_SCALE);
        const emit = (price: Price, tier: string, model: string, tenant?: string): void => {
          const base = { tier, model, currency: book.currency, ...(tenant ? { tenant } : {}) };
          if (pick === "request") this.set(base, toMinor(price.perRequest));
          else {
            this.set({ ...base, direction: "input" }, toMinor(price.inputPerMillion));
            this.set({ ...base, direction: "output" }, toMinor(price.outputPerMillion));
          }
        };
        // Only the exporting replica exports prices: they join database-derived usage one-to-one.
        const usage = (await snapshot()).tokens;
        if (!leader) return;
        // List entries without a tenant label; a contract entry only with its tenant's label, so the
        // billing federation proxy (which enforces `tenant`) shows it to that tenant alone.
        for (const p of version.prices) emit(p, p.tier, p.model, p.tenant);
        for (const u of usage) {
          const list = listPrice(version, u.tier, u.model);
          if (list) emit(list, u.tier, u.model);
          const price = priceFor(version, u);
          if (price) emit(price, u.tier, u.model, u.tenant);
        }
      },
    });
  };
  priceGauge("maas_billing_price_per_million_tokens_minor", "Price book in force now: price per million tokens in minor currency units", "tokens");
  priceGauge("maas_billing_price_per_request_minor", "Price book in force now: price per request in minor currency units", "request");

  return {
    registry,
    httpRequests: new Counter({ name: "maas_billing_http_requests_total", help: "HTTP requests by route and status", labelNames: ["method", "route", "status"], registers: [registry] }),
    httpDuration: new Histogram({ name: "maas_billing_http_request_duration_seconds", help: "HTTP request latency", labelNames: ["method", "route"], registers: [registry] }),
    eventsIngested: new Counter({ name: "maas_billing_events_ingested_total", help: "Usage events received, by result (accepted|duplicate|spooled)", labelNames: ["result"], registers: [registry] }),
    authDenied: new Counter({ name: "maas_billing_auth_denied_total", help: "Denied API calls by reason", labelNames: ["reason"], registers: [registry] }),
    close: () => lease.release(),
  };
};
