/**
 * The price book's change points, stored for the rollup fold (migration 073): usage_user_daily
 * cuts each UTC day at every version start off midnight in price_change_points, so each of its
 * rows is priced by one version and the quota refresh reads it alone (quota/usage.ts). serve
 * stores its book's points at start, before it serves a quota check; a point new to the table
 * re-cuts the days it falls in from the ledger in the same transaction (a version whose start lies
 * in usage already folded: the book may be edited with a past date), so a reader sees each day cut
 * the old way or the new way. Points are only added: a cut at a point no book has any more splits
 * a piece that one version prices anyway.
 */
import type { Pool, PoolClient } from "pg";
import type { PriceBook } from "../pricebook/pricebook";

/** Stores the book's change points; the points new to the table (their days re-cut). */
export const storePriceChangePoints = async (pool: Pick<Pool | PoolClient, "query">, book: PriceBook): Promise<number> =>
  (await pool.query<{ n: number }>("select price_change_points_add($1::timestamptz[]) as n", [book.versions.map((v) => v.effectiveFrom)])).rows[0].n;
