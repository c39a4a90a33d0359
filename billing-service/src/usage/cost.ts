/**
 * Cost of a usage report's rows (per user, model, tier, attribute label...), priced by the invoice
 * code (`priceGroups`: effective-dated versions at each ledger row's own time, token and
 * per-request charges) and rounded the invoice's way: the exact total is rounded once, rows get
 * their share rounded down and the leftover minor units go to the largest remainders. So the rows
 * add up to the total, and over a billing period the total is the draft invoice's.
 */
import type { Pool } from "pg";
import { amountOnlyGroup, priceGroups, UnpricedUsageError, type UsageGroup } from "../invoices/pricing";
import type { PriceBook } from "../pricebook/pricebook";

export interface RowCosts {
  readonly currency: string;
  readonly totalMinor: bigint;
  /** Cost per row, keyed by JSON.stringify of the row's group values (in groupBy order). */
  readonly byRow: ReadonlyMap<string, bigint>;
}

/**
 * `columns` are the SQL expressions of the group-by fields (already validated by the caller).
 * Throws UnpricedUsageError when some usage has no price (as the invoice would).
 */
export const costPerRow = async (pool: Pool, book: PriceBook, tenant: string, from: Date, to: Date, columns: readonly string[]): Promise<RowCosts> => {
  const starts = book.versions.map((v) => v.effectiveFrom);
  const keys = columns.map((c, i) => `${c} as g${i}`);
  const groupCount = columns.length + 3;
  const q = await pool.query(
    `select ${[...keys, "tier", "model", "(select count(*) from unnest($4::timestamptz[]) b where b <= window_start)::int as version"].join(", ")},
            sum(input_tokens)::text as i, sum(output_tokens)::text as o, sum(requests)::text as r
       from usage_ledger where tenant = $1 and window_start >= $2 and window_start < $3
      group by ${Array.from({ length: groupCount }, (_, i) => i + 1).join(", ")}
      order by ${Array.from({ length: groupCount }, (_, i) => i + 1).join(", ")}`,
    [tenant, from, to, starts],
  );
  const groups: UsageGroup[] = [];
  for (const r of q.rows) {
    if (r.version === 0) throw new UnpricedUsageError(`usage at or after ${from.toISOString()} is before the first price book version`);
    const rowKey = JSON.stringify(columns.map((_, i) => r[`g${i}`]));
    groups.push(
      amountOnlyGroup({
        tier: r.tier,
        model: r.model,
        // The row's key rides in `dimensions`, so every priced line says which row it belongs to.
        dimensions: { row: rowKey },
        priceVersionId: book.versions[r.version - 1]!.id,
        inputTokens: BigInt(r.i),
        outputTokens: BigInt(r.o),
        requests: BigInt(r.r),
      }),
    );
  }
  const priced = priceGroups(book, tenant, groups);
  const byRow = new Map<string, bigint>();
  for (const l of priced.lines) byRow.set(l.dimensions.row!, (byRow.get(l.dimensions.row!) ?? 0n) + l.amountMinor);
  return { currency: book.currency, totalMinor: priced.totalMinor, byRow };
};
