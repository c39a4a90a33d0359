/**
 * The collector's writer stores rows of windows collected for the first time by COPY and skips the
 * zeroing statement when nothing stored goes missing (src/collector/store.ts). These tests hold it
 * to the reference path (`writeChunk(..., { reference: true })`: every row through the upsert
 * statement, the zeroing statement always run) on real PostgreSQL with the full schema (ledger
 * rollup triggers included): random sequences of collections of the same windows, with rows that
 * change, disappear and come back, labels with tabs, newlines, backslashes, quotes and non-ASCII
 * text, attribute labels and reconciliation splits, must leave the same tables, rollups and
 * answers on both paths. And a COPY that meets a stored key falls back to the upsert in the same
 * transaction.
 */
import fc from "fast-check";
import type { Pool } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LedgerRow, Reconciliation } from "../src/collector/reconcile";
import { usageKey, writeChunk, type ChunkWrite } from "../src/collector/store";
import { startMigratedPostgres, type RunningPostgres } from "../testkit/postgres";

const HOUR = 3_600_000;
let fast: RunningPostgres;
let reference: RunningPostgres;

beforeAll(async () => {
  [fast, reference] = await Promise.all([startMigratedPostgres(), startMigratedPostgres()]);
}, 180_000);
afterAll(async () => {
  await Promise.all([fast?.stop(), reference?.stop()]);
}, 60_000);

const write = async (pool: Pool, chunk: ChunkWrite, options: { reference?: boolean }) => {
  const client = await pool.connect();
  try {
    const r = await writeChunk(client, chunk, options);
    const byKey = (a: { source: string; tenant?: string; metric?: string }, b: typeof a) => JSON.stringify(a).localeCompare(JSON.stringify(b));
    return { ...r, newFlags: [...r.newFlags].sort(byKey), newUnattributed: [...r.newUnattributed].sort(byKey) };
  } finally {
    client.release();
  }
};

/** Everything the writes leave in the chunk's range: the collector's tables and the ledger rollups. */
const snapshot = async (pool: Pool, fromMs: number, toMs: number) => {
  const range = [new Date(fromMs), new Date(toMs)];
  const q = async (sql: string) => (await pool.query(sql, range)).rows;
  return {
    usage: await q(`select to_jsonb(u) - 'updated_at' as row from collector_usage u where window_start >= $1 and window_start < $2 order by idempotency_key`),
    reconciliation: await q(`select to_jsonb(r) - 'updated_at' as row from collector_reconciliation r where window_start >= $1 and window_start < $2 order by reconciliation_key`),
    unattributed: await q(`select to_jsonb(n) - 'updated_at' as row from collector_unattributed n where window_start >= $1 and window_start < $2 order by unattributed_key`),
    hourly: await q(`select tenant, user_key, tier, model, hour, sum(input_tokens)::text as i, sum(output_tokens)::text as o, sum(requests)::text as r
      from usage_hourly_current where hour >= $1 and hour < $2 group by 1, 2, 3, 4, 5 having sum(input_tokens) <> 0 or sum(output_tokens) <> 0 or sum(requests) <> 0 order by 1, 2, 3, 4, 5`),
    rollup: await q(`select tenant, hour, tier, model, dimensions, origin, sum(input_tokens)::text as i, sum(output_tokens)::text as o, sum(requests)::text as r, sum(resets)::text as resets, sum(gaps)::text as gaps
      from usage_rollup_current where hour >= $1 and hour < $2 group by 1, 2, 3, 4, 5, 6 having sum(input_tokens) <> 0 or sum(output_tokens) <> 0 or sum(requests) <> 0 or sum(resets) <> 0 or sum(gaps) <> 0 order by 1, 2, 3, 4, 5::text, 6`),
  };
};

/** Label values a tenant admin controls, with what COPY's text format must escape. */
const label = fc.constantFrom("acme", "t\tab", "new\nline", "cr\rlf", "back\\slash", 'quo"te', "\\N", "ünïcødé ☕", "");
interface Dims {
  readonly source: "gateway" | "model-server";
  readonly tenant: string;
  readonly user: string | null;
  readonly tier: string | null;
  readonly model: string | null;
  readonly attributes: Record<string, string>;
}
const dimension: fc.Arbitrary<Dims> = fc.record({
  source: fc.constantFrom("gateway" as const, "model-server" as const),
  tenant: label.filter((t) => t !== ""),
  user: fc.option(label, { nil: null }),
  tier: fc.option(fc.constantFrom("free", "premium"), { nil: null }),
  model: fc.option(label, { nil: null }),
  attributes: fc.constantFrom<Record<string, string>>({}, {}, { organization_id: "org\t1" }, { organization_id: 'o"2\\' }),
});
interface Figures {
  readonly input: number;
  readonly output: number;
  readonly requests: number;
  readonly limited: number;
  readonly resets: number;
  readonly gaps: number;
  readonly split: boolean;
}
const figures: fc.Arbitrary<Figures> = fc.record({
  input: fc.nat({ max: 5_000_000 }),
  output: fc.nat({ max: 5_000_000 }),
  requests: fc.nat({ max: 1_000 }),
  limited: fc.nat({ max: 50 }),
  resets: fc.nat({ max: 2 }),
  gaps: fc.nat({ max: 2 }),
  split: fc.boolean(),
});
/** A slot is one dimension in one of the chunk's two windows. */
interface Slot {
  readonly dims: Dims;
  readonly window: 0 | 1;
}
/** One collection of the chunk: per slot no row (undefined) or the row's figures. */
const collection = (slots: number) => fc.array(fc.option(figures, { nil: undefined, freq: 3 }), { minLength: slots, maxLength: slots });

const chunkOf = (fromMs: number, slots: readonly Slot[], collected: ReadonlyArray<Figures | undefined>): ChunkWrite => {
  const ledger: LedgerRow[] = [];
  const reconciliations = new Map<string, Reconciliation>();
  collected.forEach((q, i) => {
    if (!q) return;
    const d = slots[i].dims;
    const windowStartMs = fromMs + slots[i].window * HOUR;
    const recKey = q.split ? `${d.tenant}|${d.model ?? ""}|${new Date(windowStartMs).toISOString()}` : null;
    if (recKey && !reconciliations.has(recKey)) {
      reconciliations.set(recKey, {
        tenant: d.tenant, model: d.model, windowStartMs, windowEndMs: windowStartMs + HOUR,
        gatewayTokens: q.input + q.output, modelInputTokens: q.input, modelOutputTokens: q.output, diffTokens: 0, diffRatio: 0,
        flagged: false, splitBasis: "model", apportionedInputTokens: q.input, apportionedOutputTokens: q.output,
      });
    }
    ledger.push({
      row: { ...d, windowStartMs, windowEndMs: windowStartMs + HOUR, quantities: {}, resets: q.resets, gaps: q.gaps, samples: 240, series: 1 },
      billable: d.source === "gateway",
      inputTokens: q.input,
      outputTokens: q.output,
      totalTokens: q.input + q.output,
      requests: q.requests,
      limitedRequests: q.limited,
      reconciliationKey: recKey,
    });
  });
  return { fromMs, toMs: fromMs + 2 * HOUR, ledger, reconciliations: [...reconciliations.values()], unattributed: [], sources: ["gateway", "model-server"] };
};

/** Distinct dimensions (one row per dimension and window, as the aggregator makes them) and 1-4 collections of them. */
const history = fc
  .uniqueArray(dimension, { minLength: 1, maxLength: 6, selector: (d) => usageKey({ ...d, windowStartMs: 0, windowEndMs: HOUR, quantities: {}, resets: 0, gaps: 0, samples: 0, series: 0 }) })
  .chain((dims) => {
    const slots: Slot[] = dims.flatMap((d) => [0, 1].map((window) => ({ dims: d, window: window as 0 | 1 })));
    return fc.tuple(fc.constant(slots), fc.array(collection(slots.length), { minLength: 1, maxLength: 4 }));
  });

describe("collector writer: COPY of new rows against the upsert-only reference", () => {
  let run = 0;
  it("leaves the same rows, rollups and answers for any sequence of collections of the same windows", async () => {
    await fc.assert(
      fc.asyncProperty(history, async ([slots, collections]) => {
        // A range of its own per run, so runs never see each other's rows.
        const fromMs = Date.parse("2026-03-01T00:00:00Z") + run++ * 4 * HOUR;
        for (const collected of collections) {
          const chunk = chunkOf(fromMs, slots, collected);
          const [a, b] = await Promise.all([write(fast.pool, chunk, {}), write(reference.pool, chunk, { reference: true })]);
          expect(a).toEqual(b);
          expect(await snapshot(fast.pool, fromMs, fromMs + 2 * HOUR)).toEqual(await snapshot(reference.pool, fromMs, fromMs + 2 * HOUR));
        }
      }),
      { numRuns: 40 },
    );
  }, 600_000);

  it("streams a chunk of thousands of new rows in batches and stores exactly what the reference stores", async () => {
    const fromMs = Date.parse("2026-04-01T00:00:00Z");
    // 1,700 dimensions x 2 windows: several COPY batches, one odd-sized last batch.
    const slots: Slot[] = Array.from({ length: 1_700 }, (_, i) => ({
      dims: { source: i % 2 === 0 ? ("gateway" as const) : ("model-server" as const), tenant: `t${i % 7}\t`, user: `u${i}`, tier: "premium", model: `m${i % 3}`, attributes: {} },
      window: (i % 2) as 0 | 1,
    }));
    const collected = slots.map((_, i) => ({ input: i * 13, output: i * 7, requests: i % 5, limited: i % 2, resets: i % 3 === 0 ? 1 : 0, gaps: 0, split: i % 4 === 0 }));
    const chunk = chunkOf(fromMs, slots, collected);
    const [a, b] = await Promise.all([write(fast.pool, chunk, {}), write(reference.pool, chunk, { reference: true })]);
    expect(a.usageRowsChanged).toBe(1_700); // slot 0 has no usage but a reset: stored too
    expect(a).toEqual(b);
    expect(await snapshot(fast.pool, fromMs, fromMs + 2 * HOUR)).toEqual(await snapshot(reference.pool, fromMs, fromMs + 2 * HOUR));
  }, 120_000);

  it("a COPY that meets a key already stored rolls back to its savepoint and stores the rows by the upsert", async () => {
    const fromMs = Date.parse("2026-06-01T00:00:00Z");
    const slots: Slot[] = ["acme", "globex"].map((tenant) => ({ dims: { source: "gateway", tenant, user: "u1", tier: "premium", model: "llama", attributes: {} }, window: 0 }));
    const q = { input: 100, output: 50, requests: 3, limited: 0, resets: 0, gaps: 0, split: false };
    const chunk = chunkOf(fromMs, slots, [q, q]);
    // A row with acme's key stored where the writer's look at the chunk's windows does not see
    // it (another window_start): its COPY meets the key and fails with unique_violation.
    const key = usageKey(chunk.ledger[0].row);
    await fast.pool.query(
      `insert into collector_usage (idempotency_key, source, billable, tenant, user_id, tier, model, window_start, window_end, input_tokens, output_tokens,
         total_tokens, requests, limited_requests, resets, gaps, samples, series, reconciliation_key, lineage, content_hash)
       values ($1, 'gateway', true, 'acme', 'u1', 'premium', 'llama', $2, $3, 1, 1, 2, 1, 0, 0, 0, 1, 1, null, '{}', 'stale')`,
      [key, new Date(fromMs - 24 * HOUR), new Date(fromMs - 23 * HOUR)],
    );
    const result = await write(fast.pool, chunk, {});
    expect(result.usageRowsChanged).toBe(2);
    const { rows } = await fast.pool.query<{ tenant: string; total_tokens: string; content_hash: string }>(
      `select tenant, total_tokens::text, content_hash from collector_usage where tenant in ('acme', 'globex') and user_id = 'u1' order by tenant`,
    );
    // Both rows stored with the collected figures: acme's stored row updated by the upsert, globex's inserted.
    expect(rows.map((r) => [r.tenant, r.total_tokens])).toEqual([["acme", "150"], ["globex", "150"]]);
    expect(rows.every((r) => r.content_hash !== "stale")).toBe(true);
  }, 120_000);
});
