/*
 * The quota refresh (quota/usage.ts readUsageSnapshot, every second on every replica) on a day
 * with many events and a price change inside it (review R1), for `npm run bench` (scripts/bench.ts
 * row "refresh"): the same ledger, the same run, refreshes interleaved (A, B, C, A, B, C...), with
 * the price book's change at midnight UTC (the baseline: no piece cut inside the day), on a whole
 * hour mid-day, and off the hour (to the second). Before migration 073 the last two read the day's
 * ledger rows (on the hour: the users' rows; off the hour: the whole month, tenants too).
 *
 * Ledger: `events` usage events on one UTC day (2026-05-15) over 10 tenants, 2,000 users and 2
 * models, inserted by SQL (the same trigger and queue as ingest), folded (serve's drain loop), the
 * book's change points stored (serve does at start), statistics current (autovacuum).
 * BENCH_REFRESH_BEFORE=<checkout>: also times that checkout's usage module on the same database
 * (e.g. a main worktree: what the refresh cost before), in the log only.
 */
import os from "node:os";
import path from "node:path";
import { parsePriceBook, type PriceBook } from "../src/pricebook/pricebook";
import { storePriceChangePoints } from "../src/quota/price-points";
import { readUsageSnapshot } from "../src/quota/usage";
import { startMigratedPostgres } from "../testkit/postgres";

export interface RefreshPriceChangeFigures {
  readonly events: number;
  readonly rounds: number;
  readonly loadAverage: number;
  /** Median wall (ms) of one refresh of every tenant, per book (and per checkout for `before`). */
  readonly midnightMs: number;
  readonly hourMs: number;
  readonly offHourMs: number;
  readonly before?: { readonly midnightMs: number; readonly hourMs: number; readonly offHourMs: number };
}

const DAY = "2026-05-15";
const NOW = new Date(`${DAY}T23:30:00Z`);
const CHANGES = { midnight: `${DAY}T00:00:00Z`, hour: `${DAY}T12:00:00Z`, offHour: `${DAY}T12:34:56Z` } as const;

const bookWithChangeAt = (at: string): PriceBook =>
  parsePriceBook(
    JSON.stringify({
      currency: "USD",
      minorUnitDigits: 2,
      versions: [
        { effectiveFrom: "2026-01-01T00:00:00Z", prices: [{ tier: "*", model: "*", inputPerMillionTokens: "1.00", outputPerMillionTokens: "2.00", perRequest: "0.001" }] },
        { effectiveFrom: at, prices: [{ tier: "*", model: "*", inputPerMillionTokens: "1.50", outputPerMillionTokens: "2.50", perRequest: "0.001" }] },
      ],
    }),
    `book with a change at ${at}`,
  );

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

type Read = typeof readUsageSnapshot;

export const benchRefreshPriceChange = async (events: number, rounds: number, log: (s: string) => void): Promise<RefreshPriceChangeFigures> => {
  const beforeDir = process.env.BENCH_REFRESH_BEFORE;
  const beforeRead = beforeDir ? (require(path.join(path.resolve(beforeDir), "billing-service", "src", "quota", "usage")) as { readUsageSnapshot: Read }).readUsageSnapshot : undefined;
  const db = await startMigratedPostgres({ poolSize: 2 });
  try {
    const t0 = Date.now();
    for (let from = 0; from < events; from += 50_000) {
      await db.pool.query(
        `insert into usage_events (source, event_id, tenant, user_id, tier, model, event_time, input_tokens, output_tokens, requests)
         select '//bench', i::text, 'tenant-' || (i % 10), 'user-' || (i % 2000), 'premium', case when i % 2 = 0 then 'llama' else 'granite' end,
                $1::timestamptz + (i::bigint * 86399000 / $3) * interval '1 millisecond', 100 + i % 900, 10 + i % 90, 1
           from generate_series($2::bigint, least($2::bigint + 49999, $3::bigint - 1)) i`,
        [`${DAY}T00:00:00Z`, from, events],
      );
      await db.pool.query("select ledger_rollup_drain(true)");
    }
    const books = { midnight: bookWithChangeAt(CHANGES.midnight), hour: bookWithChangeAt(CHANGES.hour), offHour: bookWithChangeAt(CHANGES.offHour) };
    for (const book of Object.values(books)) await storePriceChangePoints(db.pool, book);
    await db.pool.query("analyze");
    log(`refresh: ${events.toLocaleString("en-US")} events on ${DAY} seeded, folded and points stored in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const variants = (Object.keys(books) as (keyof typeof books)[]).flatMap((k) => [
      { key: k, who: "this", read: readUsageSnapshot as Read, wall: [] as number[] },
      ...(beforeRead ? [{ key: k, who: "before", read: beforeRead, wall: [] as number[] }] : []),
    ]);
    const client = await db.pool.connect();
    try {
      for (const v of variants) await v.read(client, books[v.key], { now: NOW }); // warm-up
      for (let i = 0; i < rounds; i++) {
        for (const v of variants) {
          const s = performance.now();
          await v.read(client, books[v.key], { now: NOW });
          v.wall.push(performance.now() - s);
        }
      }
    } finally {
      client.release();
    }
    const ms = (key: keyof typeof books, who: string) => median(variants.find((v) => v.key === key && v.who === who)!.wall);
    for (const v of variants) log(`  ${v.who}, change ${v.key} (${CHANGES[v.key]}): median ${median(v.wall).toFixed(1)} ms, all ${v.wall.map((x) => x.toFixed(0)).join(" ")}`);
    return {
      events,
      rounds,
      loadAverage: os.loadavg()[0],
      midnightMs: ms("midnight", "this"),
      hourMs: ms("hour", "this"),
      offHourMs: ms("offHour", "this"),
      ...(beforeRead ? { before: { midnightMs: ms("midnight", "before"), hourMs: ms("hour", "before"), offHourMs: ms("offHour", "before") } } : {}),
    };
  } finally {
    await db.stop();
  }
};
