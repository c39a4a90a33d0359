/**
 * Attack B4 of docs/threat-model.md on a real PostgreSQL: the billing service (a bug, a compromised
 * pod, an operator holding its credentials) tries to rewrite history: change a final invoice,
 * disable the immutability trigger, skip triggers with session_replication_role, drop or truncate a
 * table, delete or edit ledger rows. The service's connection is the one `serve` gets from
 * openDatabase on the embedded default (the app role of db/roles.ts); every attempt is refused,
 * while the service's own work (events, invoices, finalize, retention) still runs with it.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type OpenedDatabase } from "../src/db/open";
import { ingestEvents } from "../src/events/ingest";
import { createInvoice, finalizeInvoice } from "../src/invoices/store";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { startBillingDb, testPriceBook, usageEvent } from "./support/billing-db";
import { postEvents, startService } from "../testkit/service";

let dataDir: string;
let db: OpenedDatabase;
let finalNumber: string;

/** The message of the error `sql` fails with on the service's connection, or "" when it succeeds. */
const refusal = async (sql: string): Promise<string> => {
  const client = await db.pool.connect();
  try {
    await client.query(sql);
    return "";
  } catch (e) {
    return (e as Error).message;
  } finally {
    client.release();
  }
};

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), "maas-attack-roles-"));
  db = await openDatabase({ dataDir, database: {} });
  await db.migrate();
  // The service's own work, as the service does it, on its own connection.
  await ingestEvents(db.pool, [usageEvent({ id: "r1", tenant: "acme", time: "2026-05-02T00:00:00Z", inputTokens: 1_000_000, outputTokens: 0 })]);
  const created = await createInvoice(db.pool, testPriceBook(), "acme", "2026-05");
  if (!created.created) throw new Error(created.reason);
  const finalized = await finalizeInvoice(db.pool, "acme", created.invoice.number);
  finalNumber = finalized.number;
}, 180_000);

afterAll(async () => {
  await db?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
}, 60_000);

describe("attack B4: the service rewrites its own history", () => {
  it("runs as a login role that owns nothing and is no superuser", async () => {
    const me = (await db.pool.query("select current_user as u, rolsuper, rolcreaterole, rolbypassrls from pg_roles where rolname = current_user")).rows[0];
    expect(me).toMatchObject({ u: "maas_billing_app", rolsuper: false, rolcreaterole: false, rolbypassrls: false });
    const owned = await db.pool.query("select count(*)::int as n from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'public' and pg_get_userbyid(c.relowner) = current_user");
    expect(owned.rows[0].n).toBe(0);
  });

  it("cannot change or delete a final invoice", async () => {
    expect(await refusal(`update invoices set total_minor = 0 where number = '${finalNumber}'`)).toMatch(/is final and cannot be changed/);
    expect(await refusal(`delete from invoices where number = '${finalNumber}'`)).toMatch(/is final and cannot be changed/);
    expect(await refusal(`update invoice_lines set amount_minor = 0`)).toMatch(/is final/);
  });

  it("cannot disable the immutability trigger, or skip triggers", async () => {
    expect(await refusal("alter table invoices disable trigger invoices_immutable")).toMatch(/must be owner/);
    expect(await refusal("alter table invoices disable trigger all")).toMatch(/must be owner/);
    expect(await refusal("set session_replication_role = replica")).toMatch(/permission denied/);
    expect(await refusal("drop function invoices_immutable() cascade")).toMatch(/must be owner/);
  });

  it("cannot drop, truncate or alter tables, nor create its own", async () => {
    expect(await refusal("drop table invoices cascade")).toMatch(/must be owner/);
    expect(await refusal("truncate usage_events")).toMatch(/permission denied/);
    expect(await refusal("alter table usage_events drop constraint usage_events_pkey")).toMatch(/must be owner/);
    expect(await refusal("create table shadow_invoices (id int)")).toMatch(/permission denied/);
    expect(await refusal("insert into schema_migrations (id, name) values (999, 'forged')")).toMatch(/permission denied/);
  });

  it("cannot delete or edit ledger event rows (insert only), while retention still runs", async () => {
    expect(await refusal("delete from usage_events")).toMatch(/permission denied/);
    expect(await refusal("update usage_events set input_tokens = 0")).toMatch(/permission denied/);
    // Retention (SECURITY DEFINER of the owner, migration 011) works from the service's connection.
    expect(await refusal("select maas_billing_apply_retention(36)")).toBe("");
    expect(Number((await db.pool.query("select sum(input_tokens) as n from usage_events")).rows[0].n)).toBe(1_000_000);
    const invoice = await db.pool.query("select status, total_minor from invoices where number = $1", [finalNumber]);
    expect(invoice.rows[0]).toEqual({ status: "final", total_minor: "250" });
  });

  it("`migrate` as the app role refuses pending migrations with a readable hint instead of half-applying them", async () => {
    const url = new URL((db.pool as unknown as { options: { connectionString: string } }).options.connectionString);
    const app = new pg.Pool({ connectionString: url.toString(), max: 1 });
    app.on("error", () => {});
    try {
      const { migrate } = await import("../src/db/migrate");
      const result = await migrate(app);
      expect(result.applied).toEqual([]);
      await expect(migrate(app, [...(await import("../src/db/migrations")).MIGRATIONS, { id: 19, name: "probe", sql: "create table probe (id int)" }])).rejects.toThrow(
        "migrations are pending and role maas_billing_app may not change the schema (the service's app role): run `maas-billing migrate` with the owner role's DATABASE_URL",
      );
    } finally {
      await app.end();
    }
  });
});

describe("the platform's wiring: `migrate` as the owner creates the app role, `serve` runs as it", () => {
  it("works as the init container and the service container of the billing pod do", async () => {
    const server = await startBillingDb();
    const dir = await mkdtemp(path.join(os.tmpdir(), "maas-attack-roles-k8s-"));
    try {
      const password = "app-password-0123456789abcdef";
      const bin = path.join(__dirname, "..", "bin", "maas-billing.cjs");
      // The init container: DATABASE_URL of the owner, the app role's name and password from its Secret.
      await promisify(execFile)(process.execPath, [bin, "migrate"], {
        env: { ...process.env, DATABASE_URL: server.url, MAAS_BILLING_APP_DB_ROLE: "billing_app", MAAS_BILLING_APP_DB_PASSWORD: password, MAAS_BILLING_DATA_DIR: dir },
      });
      const appUrl = new URL(server.url);
      appUrl.username = "billing_app";
      appUrl.password = password;
      // The service container: only the app role's URL.
      // With the collector loop on, as in the cluster (its Prometheus is unreachable here: the loop only logs).
      const service = await startService({ databaseUrl: appUrl.toString(), dataDir: dir, env: { MAAS_BILLING_PROMETHEUS_URL: "http://127.0.0.1:9" } });
      try {
        expect((await fetch(`${service.url}/readyz`)).status).toBe(200);
        await service.waitForLog("collector: started");
        expect(await postEvents(service, [usageEvent({ id: "k1", tenant: "acme", inputTokens: 7 })])).toMatchObject({ status: 200, body: { accepted: 1 } });
        const app = new pg.Pool({ connectionString: appUrl.toString(), max: 1 });
        app.on("error", () => {});
        try {
          await expect(app.query("alter table invoices disable trigger invoices_immutable")).rejects.toThrow(/must be owner/);
        } finally {
          await app.end();
        }
      } finally {
        await service.kill("SIGTERM");
      }
    } finally {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
