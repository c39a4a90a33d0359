/**
 * Month-end close with a fake clock on a real PostgreSQL: nothing before the grace period ends;
 * then drafts of the closed month, the clean ones finalized and the flagged one held for review,
 * FOCUS and CSV exports written to the sink, invoice webhooks in the outbox; a second run (two
 * replicas at once, then a restart) changes nothing.
 */
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeAt, runMonthEndClose } from "../src/close/month-end";
import { directorySink } from "../src/close/sink";
import { ingestEvents } from "../src/events/ingest";
import { insertCollectorRow, startBillingDb, testPriceBook, usageEvent, type BillingTestDb } from "./support/billing-db";

let db: BillingTestDb;
let sink: string;
const book = testPriceBook();
const GRACE = 72 * 3_600_000;

beforeAll(async () => {
  db = await startBillingDb();
  sink = await mkdtemp(path.join(os.tmpdir(), "maas-close-"));
});
afterAll(async () => {
  await db?.stop();
  await rm(sink, { recursive: true, force: true });
});

const snapshot = async () => ({
  invoices: (await db.pool.query("select id, number, tenant, status, total_minor::text, content_sha256 from invoices order by id")).rows,
  outbox: (await db.pool.query("select event_id from webhook_outbox order by id")).rows.map((r) => r.event_id),
});

describe("month-end close", () => {
  it("waits for the grace period, then drafts, finalizes the clean ones, exports and announces; a second run changes nothing", async () => {
    await ingestEvents(db.pool, [
      usageEvent({ id: "m1", tenant: "acme", time: "2026-05-10T10:00:00Z", inputTokens: 2_000_000, outputTokens: 100_000 }),
      usageEvent({ id: "m2", tenant: "globex", time: "2026-05-11T10:00:00Z", inputTokens: 1000 }),
      usageEvent({ id: "m3", tenant: "acme", time: "2026-06-01T10:00:00Z", inputTokens: 5 }), // June: not this close
    ] as never);
    // globex's collected usage has a counter reset: a blocking flag, its draft waits for a person.
    await insertCollectorRow(db.pool, { key: "g1", tenant: "globex", windowStart: "2026-05-12T00:00:00Z", input: 10, output: 10, requests: 1, resets: 1 });

    expect((await runMonthEndClose(db.pool, book, { graceMs: GRACE, sink: directorySink(sink), now: new Date("2026-06-03T23:59:59Z") })).status).toBe("not yet");
    expect((await snapshot()).invoices).toEqual([]);

    const at = closeAt("2026-05", GRACE);
    expect(at.toISOString()).toBe("2026-06-04T00:00:00.000Z");
    const report = await runMonthEndClose(db.pool, book, { graceMs: GRACE, sink: directorySink(sink), now: at });
    expect(report.status).toBe("closed");
    expect(report.finalized).toHaveLength(1);
    expect(report.finalized[0]).toMatch(/^INV-2026-05-acme-/);
    expect(report.heldForReview[0]).toMatch(/^INV-2026-05-globex-/);
    const after = await snapshot();
    expect(after.invoices.map((i) => [i.tenant, i.status])).toEqual([
      ["acme", "final"],
      ["globex", "draft"],
    ]);
    expect(after.outbox.map((id) => id.split("/")[0])).toEqual(["invoice.created", "invoice.finalized", "invoice.created", "metering.flagged"]);
    const focus = await readFile(path.join(sink, "2026-05", "focus-1.2.csv"), "utf8");
    expect(focus.split("\n")[0]).toContain("SkuMeter");
    expect(focus).toContain(report.finalized[0]);
    expect(focus).not.toContain("globex"); // drafts are not exported
    const csv = await readFile(path.join(sink, "2026-05", "invoices", "acme.csv"), "utf8");
    expect(csv).toContain(report.finalized[0]);

    // Two replicas at once, then a restart: nothing changes, not even the files.
    const mtime = (await stat(path.join(sink, "2026-05", "focus-1.2.csv"))).mtimeMs;
    const replica = new pg.Pool({ connectionString: db.url, max: 2 });
    replica.on("error", () => {});
    try {
      const later = new Date(at.getTime() + 3_600_000);
      const twice = await Promise.all([
        runMonthEndClose(db.pool, book, { graceMs: GRACE, sink: directorySink(sink), now: later }),
        runMonthEndClose(replica, book, { graceMs: GRACE, sink: directorySink(sink), now: later }),
      ]);
      expect(twice.map((r) => r.status).sort()).toEqual(expect.arrayContaining(["already closed"]));
      expect(twice.every((r) => r.status === "already closed" || r.status === "busy")).toBe(true);
    } finally {
      await replica.end();
    }
    expect((await runMonthEndClose(db.pool, book, { graceMs: GRACE, sink: directorySink(sink), now: new Date("2026-06-20T00:00:00Z") })).status).toBe("already closed");
    expect(await snapshot()).toEqual(after);
    expect((await stat(path.join(sink, "2026-05", "focus-1.2.csv"))).mtimeMs).toBe(mtime);
  });
});
