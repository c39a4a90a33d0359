/**
 * The `maas-billing` binary as an operator runs it (a child process against DATABASE_URL), and
 * the migration runner's guarantees.
 */
import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ingestEvents } from "../src/events/ingest";
import { usageEventSchema } from "../src/events/schema";
import { migrate, SchemaTooNewError } from "../src/db/migrate";
import { MIGRATIONS } from "../src/db/migrations";
import { startBillingDb, usageEvent, type BillingTestDb } from "./support/billing-db";

const run = promisify(execFile);
const BIN = path.join(__dirname, "..", "bin", "maas-billing.cjs");
let db: BillingTestDb;

const cli = async (...args: string[]): Promise<{ stdout: string; stderr: string }> =>
  run(process.execPath, [BIN, ...args], { env: { ...process.env, DATABASE_URL: db.url, LOG_LEVEL: "silent" }, timeout: 60_000 });

beforeAll(async () => {
  db = await startBillingDb();
  await ingestEvents(
    db.pool,
    [
      usageEvent({ id: "c1", time: "2026-03-01T00:00:00Z", user: "alice", tier: "premium", inputTokens: 1000, outputTokens: 10, requests: 1 }),
      usageEvent({ id: "c2", time: "2026-03-02T00:00:00Z", user: "bob", tier: "free", inputTokens: 20, outputTokens: 2, requests: 1 }),
    ].map((e) => usageEventSchema.parse(e)),
  );
});
afterAll(async () => {
  await db?.stop();
});

describe("migrations", () => {
  it("are recorded and not re-applied", async () => {
    expect((await migrate(db.pool)).applied).toEqual([]);
    const ids = (await db.pool.query("select id from schema_migrations order by id")).rows.map((r) => r.id);
    expect(ids).toEqual(MIGRATIONS.map((m) => m.id).sort((a, b) => a - b));
  });

  it("refuse a database migrated by a newer release", async () => {
    await db.pool.query("insert into schema_migrations (id, name) values (48, 'from_the_future')");
    try {
      await expect(migrate(db.pool)).rejects.toBeInstanceOf(SchemaTooNewError);
      const ready = await cli("migrate").catch((e: { stderr: string; code: number }) => e);
      expect("code" in ready && ready.code).toBe(1);
      expect((ready as { stderr: string }).stderr).toContain("migrations 48 that this release does not know");
    } finally {
      await db.pool.query("delete from schema_migrations where id = 48");
    }
  });
});

describe("retention", () => {
  it("deletes ledger events and rollup rows older than the retention, keeps the rest", async () => {
    const old = new Date();
    old.setUTCMonth(old.getUTCMonth() - 40);
    const recent = new Date();
    recent.setUTCMonth(recent.getUTCMonth() - 30);
    await ingestEvents(
      db.pool,
      [usageEvent({ id: "old", tenant: "ret", time: old.toISOString(), inputTokens: 1 }), usageEvent({ id: "recent", tenant: "ret", time: recent.toISOString(), inputTokens: 1 })].map((e) =>
        usageEventSchema.parse(e),
      ),
    );
    const deleted = (await db.pool.query("select maas_billing_apply_retention(36) as n")).rows[0].n;
    // The old event and its rollup rows: usage_hourly's and usage_user_daily's (usage without a user, since migration 073).
    expect(Number(deleted)).toBe(3);
    expect((await db.pool.query("select event_id from usage_events where tenant = 'ret'")).rows.map((r) => r.event_id)).toEqual(["recent"]);
    expect(Number((await db.pool.query("select count(*) as n from usage_hourly where tenant = 'ret'")).rows[0].n)).toBe(1);
  });
});

describe("maas-billing CLI", () => {
  it("usage prints totalTokens, grouped, as JSON and CSV", async () => {
    const { stdout } = await cli("usage", "--tenant", "acme", "--from", "2026-03-01T00:00:00Z", "--to", "2026-04-01T00:00:00Z", "--group-by", "user,tier");
    const report = JSON.parse(stdout);
    expect(report.totalTokens).toBe("1032");
    expect(report.rows.map((r: Record<string, string>) => [r.user, r.tier, r.totalTokens])).toEqual([
      ["alice", "premium", "1010"],
      ["bob", "free", "22"],
    ]);
    const csv = await cli("usage", "--tenant", "acme", "--from", "2026-03-01", "--to", "2026-04-01", "--format", "csv");
    const [header, row, ...rest] = csv.stdout.trim().split("\n");
    expect(header).toBe("tenant,inputTokens,outputTokens,totalTokens,requests,ledgerRows,costMinor,currency");
    expect(row).toMatch(/^acme,1020,12,1032,2,2,\d+,USD$/);
    expect(rest).toEqual([]);
    expect(row!.split(",")[6]).toBe(report.costMinor); // same price book, same range: the JSON's total
  });

  it("invoice create, finalize, show and export", async () => {
    const created = JSON.parse((await cli("invoice", "create", "--tenant", "acme", "--period", "2026-03")).stdout);
    // Example book: premium 1000 in x 3.00/M = 0.3c, 10 out x 15/M = 0.015c, 1 req x 0.002 = 0.2c;
    // free 20 in = 0.006c, 2 out = 0.003c, 1 req x 0.001 = 0.1c -> 0.624c -> total 1 cent
    expect(created).toMatchObject({ status: "draft", kind: "standard", totalMinor: "1", currency: "USD" });
    const final = JSON.parse((await cli("invoice", "finalize", "--tenant", "acme", created.number)).stdout);
    expect(final.status).toBe("final");
    const csv = (await cli("invoice", "show", "--tenant", "acme", String(created.id), "--format", "csv")).stdout.trim().split("\n");
    expect(csv).toHaveLength(1 + created.lines.length);
    const focus = (await cli("export", "--period", "2026-03")).stdout.trim().split("\n");
    expect(focus[0].startsWith("BilledCost,")).toBe(true);
    expect(focus).toHaveLength(1 + created.lines.length);
    const again = await cli("invoice", "create", "--tenant", "acme", "--period", "2026-03");
    expect(again.stderr).toContain("nothing to adjust");
    // Five CLI processes in a row: on a loaded 2-core machine each start takes seconds.
  }, 240_000);

  it("readable errors for bad flags", async () => {
    const bad = await cli("usage", "--tenant", "acme", "--from", "last week", "--to", "2026-04-01").catch((e: { stderr: string }) => e);
    expect((bad as { stderr: string }).stderr).toContain('--from: expected an ISO date or date-time, got "last week"');
    const badPort = await run(process.execPath, [BIN, "serve"], { env: { ...process.env, PORT: "eighty" } }).catch((e: { stderr: string; code: number }) => e);
    expect((badPort as { stderr: string }).stderr).toContain("PORT / --port:");
    expect((badPort as { code: number }).code).toBe(2);
  });

  it("collect refuses --tenant-map with a settings file that names tenantFiles (it would replace only part of the registry)", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "maas-billing-tenant-map-"));
    try {
      const shard = path.join(dir, "tenants-00.yaml");
      await writeFile(shard, "tenants:\n  - { name: globex, namespaces: [globex-models, globex-dev] }\n");
      await writeFile(path.join(dir, "collector.yaml"), `strictTenants: true\ntenantFiles: [${shard}]\n`);
      // An unreachable Prometheus: a config that passes goes on to fail there, with another message.
      const args = ["collect", "--once", "--prometheus-url", "http://127.0.0.1:9/", "--config", path.join(dir, "collector.yaml"), "--tenant-map", "acme=acme-models"];
      const refused = await cli(...args).catch((e: { stderr: string; code: number }) => e);
      expect((refused as { code: number }).code).toBe(2);
      expect((refused as { stderr: string }).stderr).toContain(
        `--tenant-map: cannot be combined with the tenantFiles that MAAS_BILLING_COLLECTOR_CONFIG / --config "${path.join(dir, "collector.yaml")}" names: the flag would replace \`tenants\` but not the files`,
      );
      expect((refused as { stderr: string }).stderr).toContain("Fix: drop --tenant-map");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe("serve with no database configured", () => {
  it("starts an embedded PostgreSQL in the data dir, serves, and shuts both down on SIGTERM", async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), "maas-billing-serve-"));
    try {
      const child = spawn(process.execPath, [BIN, "--data-dir", dataDir, "serve", "--port", "0", "--metrics-port", "0", "--host", "127.0.0.1"], {
        env: { ...process.env, DATABASE_URL: "", LOG_LEVEL: "info" },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let output = "";
      child.stdout.on("data", (c: Buffer) => (output += c.toString()));
      child.stderr.on("data", (c: Buffer) => (output += c.toString()));
      const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setInterval(() => {
          const m = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
          if (m) {
            clearInterval(timer);
            resolve(m[1]);
          }
        }, 200);
        void exited.then(() => {
          clearInterval(timer);
          reject(new Error(`serve exited early: ${output}`));
        });
      });
      expect(await (await fetch(`${url}/readyz`)).json()).toEqual({ status: "ready" });
      // The local admin token works, and only its file path was logged.
      const token = (await readFile(path.join(dataDir, "admin-token"), "utf8")).trim();
      const res = await fetch(`${url}/v1/tenants/acme/usage?from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(200);
      expect(output).toContain(path.join(dataDir, "admin-token"));
      expect(output).not.toContain(token);
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
      expect(output).toContain('"msg":"stopped"');
      expect(existsSync(path.join(dataDir, "pg", "postmaster.pid"))).toBe(false);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
