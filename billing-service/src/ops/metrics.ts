/**
 * Prometheus metrics of the service (names pinned in docs/contract.md). Usage and cost come from
 * the database at scrape time (the hourly rollup, so a scrape is one small aggregate query), which
 * makes them correct across replicas and restarts; request metrics are per process.
 */
import type { Pool } from "pg";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { COST_DENOMINATOR, usageCostNumerator } from "../pricebook/cost";
import { allocate, PRICE_SCALE } from "../pricebook/money";
import { findPrice, versionAt, type Price, type PriceBook } from "../pricebook/pricebook";

export interface ServiceMetrics {
  readonly registry: Registry;
  readonly httpRequests: Counter<"method" | "route" | "status">;
  readonly httpDuration: Histogram<"method" | "route">;
  readonly eventsIngested: Counter<"result">;
  readonly authDenied: Counter<"reason">;
}

interface UsageSnapshot {
  tokens: Array<{ tenant: string; model: string; tier: string; input: bigint; output: bigint; requests: bigint }>;
  monthToDate: Map<string, bigint>;
  allTime: Map<string, bigint>;
  quotas: Array<{ tenant: string; kind: string; period: string; ratio: number }>;
}

/** Cost in minor units per tenant of hourly rows, priced with the version in force at each row's hour (the invoice rule). */
export const costByTenant = (book: PriceBook, rows: Array<{ tenant: string; tier: string; model: string; hour: Date; input: bigint; output: bigint; requests: bigint }>): Map<string, bigint> => {
  const byTenant = new Map<string, bigint[]>();
  for (const r of rows) {
    const version = versionAt(book, r.hour);
    const price = version && findPrice(version, r.tier, r.model);
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

export const createServiceMetrics = (pool: Pool, getBook: () => PriceBook, now: () => Date = () => new Date()): ServiceMetrics => {
  const registry = new Registry();
  let cached: { at: number; snapshot: Promise<UsageSnapshot> } | undefined;

  const load = async (): Promise<UsageSnapshot> => {
    const book = getBook();
    const monthStart = new Date(Date.UTC(now().getUTCFullYear(), now().getUTCMonth(), 1));
    // Rows per (tenant, tier, model, hour) over all time would grow; group by the price version
    // boundaries instead: all hours inside one version price the same.
    const boundaries = book.versions.map((v) => v.effectiveFrom);
    const q = await pool.query(
      `select tenant, tier, model,
              (select max(b) from unnest($1::timestamptz[]) b where b <= hour) as version_start,
              hour >= $2 as this_month,
              sum(input_tokens)::text as i, sum(output_tokens)::text as o, sum(requests)::text as r
         from usage_hourly group by 1, 2, 3, 4, 5`,
      [boundaries, monthStart],
    );
    const rows = q.rows.map((r) => ({
      tenant: r.tenant as string,
      tier: r.tier as string,
      model: r.model as string,
      hour: r.version_start ? new Date(r.version_start) : new Date(0),
      thisMonth: r.this_month as boolean,
      input: BigInt(r.i),
      output: BigInt(r.o),
      requests: BigInt(r.r),
    }));
    const tokens = new Map<string, UsageSnapshot["tokens"][number]>();
    for (const r of rows) {
      const key = JSON.stringify([r.tenant, r.model, r.tier]);
      const t = tokens.get(key) ?? { tenant: r.tenant, model: r.model, tier: r.tier, input: 0n, output: 0n, requests: 0n };
      t.input += r.input;
      t.output += r.output;
      t.requests += r.requests;
      tokens.set(key, t);
    }
    const quotaRows = await pool.query(
      `select tenant, kind, period, limit_value::float8 as lim,
              case when period_start = date_trunc(period, $1::timestamptz at time zone 'UTC') at time zone 'UTC' then used else 0 end::float8 as used
         from quotas where user_key = ''`,
      [now()],
    );
    return {
      tokens: [...tokens.values()],
      monthToDate: costByTenant(book, rows.filter((r) => r.thisMonth)),
      allTime: costByTenant(book, rows),
      quotas: quotaRows.rows.map((r) => ({ tenant: r.tenant, kind: r.kind, period: r.period, ratio: r.lim > 0 ? r.used / r.lim : r.used > 0 ? 1 : 0 })),
    };
  };
  /** One database read per scrape burst (several collectors read the same snapshot). */
  const snapshot = (): Promise<UsageSnapshot> => {
    if (!cached || Date.now() - cached.at > 5_000) cached = { at: Date.now(), snapshot: load() };
    return cached.snapshot;
  };

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
    help: "Cost of all usage in the ledger in minor currency units, priced like invoices (one rounding per tenant)",
    labelNames: ["tenant", "currency"],
    registers: [registry],
    async collect() {
      this.reset();
      for (const [tenant, minor] of (await snapshot()).allTime) this.inc({ tenant, currency: getBook().currency }, Number(minor));
    },
  });
  new Gauge({
    name: "maas_billing_month_to_date_cost_minor",
    help: "Cost of this calendar month (UTC) so far in minor currency units",
    labelNames: ["tenant", "currency"],
    registers: [registry],
    async collect() {
      this.reset();
      for (const [tenant, minor] of (await snapshot()).monthToDate) this.set({ tenant, currency: getBook().currency }, Number(minor));
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
        for (const p of version.prices) emit(p, p.tier, p.model);
        let usage: UsageSnapshot["tokens"] = [];
        try {
          usage = (await snapshot()).tokens;
        } catch {
          return; // database down: the book's own entries are still exported
        }
        for (const u of usage) {
          const price = findPrice(version, u.tier, u.model);
          if (!price) continue;
          emit(price, u.tier, u.model);
          emit(price, u.tier, u.model, u.tenant);
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
  };
};
