/**
 * The billing tests' database (one migrated embedded PostgreSQL per test file, from the test kit)
 * and their fixtures: the test price book, events and collector rows.
 */
import type pg from "pg";
import { startMigratedPostgres, type RunningPostgres } from "../../testkit/postgres";
import { BASE_PRICES, RAISED_PRICES, priceBookYaml } from "../../testkit/pricebook";
import { parsePriceBook, type PriceBook } from "../../src/pricebook/pricebook";

export type BillingTestDb = RunningPostgres;

export const startBillingDb = (options: { poolSize?: number } = {}): Promise<BillingTestDb> => startMigratedPostgres({ poolSize: options.poolSize ?? 8 });

/**
 * The test price book: premium/llama changes price at 2026-05-15T12:00Z, inside May.
 *   until then: input 2.50, output 10.00 per million tokens, 0.002 per request
 *   from then:  input 4.00, output 12.50 per million tokens, 0.003 per request
 */
export const TEST_PRICE_BOOK_YAML = priceBookYaml([
  { effectiveFrom: "2026-01-01T00:00:00Z", prices: BASE_PRICES },
  { effectiveFrom: "2026-05-15T12:00:00Z", prices: RAISED_PRICES },
]);

export const testPriceBook = (): PriceBook => parsePriceBook(TEST_PRICE_BOOK_YAML, "test price book");

export const usageEvent = (over: Partial<{ id: string; source: string; time: string; tenant: string; user: string; model: string; tier: string; inputTokens: number; outputTokens: number; requests: number }>) => ({
  id: "e",
  source: "//test",
  time: "2026-05-01T00:00:00Z",
  tenant: "acme",
  model: "llama",
  tier: "premium",
  inputTokens: 0,
  outputTokens: 0,
  requests: 1,
  ...over,
});

/** A billable collector row, as the collector writes it (columns of migration 050 in src/db/migrations.ts). */
export const insertCollectorRow = async (
  pool: pg.Pool,
  row: { key: string; tenant: string; windowStart: string; input: number; output: number; requests: number; resets?: number; gaps?: number; billable?: boolean },
): Promise<void> => {
  const start = new Date(row.windowStart);
  await pool.query(
    `insert into collector_usage (idempotency_key, source, billable, tenant, user_id, tier, model, window_start, window_end,
       input_tokens, output_tokens, total_tokens, requests, limited_requests, resets, gaps, samples, series, reconciliation_key, lineage, content_hash)
     values ($1, 'gateway', $2, $3, null, 'premium', 'llama', $4, $5, $6::bigint, $7::bigint, $6::bigint + $7::bigint, $8, 0, $9, $10, 240, 1, null, '{}', md5($1 || $6::text || $7::text))`,
    [row.key, row.billable ?? true, row.tenant, start, new Date(start.getTime() + 3_600_000), row.input, row.output, row.requests, row.resets ?? 0, row.gaps ?? 0],
  );
};
