/*
 * TimescaleDB stage of `npm run e2e`: the platform deploys TimescaleDB, so the migrations and the
 * service must work on it, not only on plain PostgreSQL (which `npm test` uses).
 *
 * MAAS_TIMESCALE_PG_CONFIG names the pg_config of a PostgreSQL installation that has TimescaleDB
 * 2.22.x installed (docs/e2e.md says how one was built here). Unset, or not such an installation,
 * the stage FAILS and says so; it never passes without running.
 *
 * A throw-away cluster (initdb of that installation, shared_preload_libraries=timescaledb, trust auth
 * on 127.0.0.1 only, a free port); then the real CLI: `maas-billing migrate` (the extension is created
 * and usage_hourly becomes a hypertable), an upgrade with ledger data from migration 067 to the
 * newest in a second database (quota figures against a priced ledger scan), `maas-billing serve`
 * and the service session.
 */
import { execFile } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { freePort } from "../../../billing-service/src/net/free-port";
import { startProcess, waitUntilReady } from "../processes";
import { expect, type Report } from "../report";
import { serviceSession, tokensFile as tokensFileOf, waitForHttp } from "../service-session";
import { testPriceBook } from "../../../billing-service/test/support/billing-db";
import { upgradeWithUsage } from "../../../billing-service/test/support/quota-upgrade";

const ENV = "MAAS_TIMESCALE_PG_CONFIG";
const SUPPORTED = /^2\.22\./;
/** Migration 066: the rollup tables at fillfactor 50 (usage_hourly is the hypertable). */
const FILLFACTOR = "fillfactor=50";
const FILLFACTOR_TABLES = ["usage_hourly", "access_log_key_hourly", "usage_rollup"];
/**
 * The release the upgrade check starts from: 067, the last migration before 068 and 072 (072
 * moved per-user usage out of the hypertable into usage_user_daily). It upgrades to whatever the
 * list's newest is (billing-service/test/support/quota-upgrade.ts names no newest id).
 */
const UPGRADE_FROM = 67;

export interface TimescaleStageEnv {
  repoRoot: string;
  workDir: string;
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { env, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`\`${command} ${args.join(" ")}\` failed: ${err.message.split("\n")[0]}\n${stderr.trim().slice(-1500)}`));
      else resolve({ stdout, stderr });
    });
  });
}

/** As root, PostgreSQL's programs run as the "postgres" user (initdb refuses root). */
const asPostgres = (command: string, args: string[]): [string, string[]] =>
  process.getuid?.() === 0 ? ["setpriv", ["--reuid=postgres", "--regid=postgres", "--init-groups", command, ...args]] : [command, args];

export async function timescaleStage(report: Report, env: TimescaleStageEnv): Promise<void> {
  const pgConfig = process.env[ENV];
  if (!pgConfig) {
    report.fail(
      "timescaledb: not run",
      `${ENV} is not set. Point it at the pg_config of a PostgreSQL with TimescaleDB 2.22.x installed ` +
        "(docs/e2e.md, \"TimescaleDB\"), e.g. MAAS_TIMESCALE_PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config.",
    );
    return;
  }
  const bindir = (await run(pgConfig, ["--bindir"])).stdout.trim();
  const sharedir = (await run(pgConfig, ["--sharedir"])).stdout.trim();
  const pgVersion = (await run(pgConfig, ["--version"])).stdout.trim();
  const control = join(sharedir, "extension", "timescaledb.control");
  let version = "";
  await report.check(`timescaledb: ${pgConfig} (${pgVersion}) has TimescaleDB 2.22.x installed`, async (detail) => {
    expect(existsSync(control), `${control} does not exist: TimescaleDB is not installed in this PostgreSQL`);
    version = /default_version\s*=\s*'([^']+)'/.exec(readFileSync(control, "utf8"))?.[1] ?? "";
    detail(`${control}: default_version ${version}`);
    expect(SUPPORTED.test(version), `TimescaleDB ${version} is not a 2.22 release`);
  });
  if (!SUPPORTED.test(version)) return;

  // A cluster directory the postgres user can enter (the work folder itself is private to us).
  const clusterRoot = join(env.workDir, "pg");
  mkdirSync(clusterRoot, { recursive: true });
  for (let dir = clusterRoot; dir.length > 1 && dir !== "/tmp"; dir = join(dir, "..")) chmodSync(dir, 0o755);
  const dataDir = join(clusterRoot, "data");
  const socketDir = join(clusterRoot, "run");
  for (const dir of [dataDir, socketDir]) {
    if (process.getuid?.() === 0) await run("install", ["-d", "-o", "postgres", "-g", "postgres", "-m", "0700", dir]);
    else mkdirSync(dir, { recursive: true, mode: 0o700 });
  }
  const [initdbCmd, initdbArgs] = asPostgres(join(bindir, "initdb"), ["-D", dataDir, "-U", "postgres", "--auth=trust", "--no-sync"]);
  await run(initdbCmd, initdbArgs);

  const port = await freePort();
  const [pgCmd, pgArgs] = asPostgres(join(bindir, "postgres"), [
    "-D", dataDir, "-p", String(port),
    "-c", "listen_addresses=127.0.0.1",
    "-c", `unix_socket_directories=${socketDir}`,
    "-c", "shared_preload_libraries=timescaledb",
    "-c", "timescaledb.telemetry_level=off",
    "-c", "fsync=off",
  ]);
  mkdirSync(join(env.workDir, "logs"), { recursive: true });
  const server = startProcess("timescaledb-postgres", pgCmd, pgArgs, join(env.workDir, "logs"));
  const adminUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;
  await waitUntilReady(server, async () => {
    const c = new pg.Client(adminUrl);
    await c.connect();
    await c.end();
    return true;
  }, 60_000);
  const admin = new pg.Client(adminUrl);
  await admin.connect();
  await admin.query("create database billing");
  await admin.end();
  const databaseUrl = `postgres://postgres@127.0.0.1:${port}/billing`;
  const cli = join(env.repoRoot, "billing-service", "bin", "maas-billing.cjs");
  const serviceEnv = { ...process.env, DATABASE_URL: databaseUrl, LOG_LEVEL: "warn" };

  const migrated = await report.check(`timescaledb: \`maas-billing migrate\` on PostgreSQL ${pgVersion} + TimescaleDB ${version}: extension created, usage_hourly a hypertable, the rollup tables at fillfactor 50 (migration 066)`, async (detail) => {
    await run(process.execPath, [cli, "migrate"], serviceEnv);
    const db = new pg.Client(databaseUrl);
    await db.connect();
    try {
      const ext = await db.query("select extversion from pg_extension where extname = 'timescaledb'");
      const hypertables = await db.query("select hypertable_name from timescaledb_information.hypertables order by 1");
      const applied = await db.query("select count(*)::int as n from schema_migrations").catch(() => ({ rows: [{ n: "?" }] }));
      detail(`extension timescaledb ${ext.rows[0]?.extversion}; hypertables: ${hypertables.rows.map((r) => r.hypertable_name).join(", ")}; migrations applied: ${applied.rows[0].n}`);
      expect(ext.rows[0]?.extversion === version, "the timescaledb extension was not created");
      expect(hypertables.rows.some((r) => r.hypertable_name === "usage_hourly"), "usage_hourly is not a hypertable");
      // Migration 066 (HOT folds): ALTER TABLE ... SET (fillfactor) on a hypertable must hold on
      // the hypertable itself; its chunks are checked once serve has written rows (below).
      const fill = await db.query<{ t: string; reloptions: string[] | null }>(
        "select t, (select reloptions from pg_class where oid = to_regclass(t)) as reloptions from unnest($1::text[]) as t order by t",
        [FILLFACTOR_TABLES],
      );
      detail(`reloptions: ${fill.rows.map((r) => `${r.t} ${JSON.stringify(r.reloptions)}`).join("; ")}`);
      for (const r of fill.rows) expect(r.reloptions?.includes(FILLFACTOR) === true, `${r.t} has reloptions ${JSON.stringify(r.reloptions)}, not ${FILLFACTOR} (migration 066)`);
    } finally {
      await db.end();
    }
  });
  if (!migrated) return;

  await report.check(
    `timescaledb: upgrade with ledger data from migration ${UPGRADE_FROM} to the newest (usage_hourly a hypertable throughout): the quota figures (each tenant and user, day and month, tokens, requests, cost) equal a priced ledger scan before and after`,
    async (detail) => {
      const admin = new pg.Client(adminUrl);
      await admin.connect();
      await admin.query("create database billing_upgrade");
      await admin.end();
      const pool = new pg.Pool({ connectionString: `postgres://postgres@127.0.0.1:${port}/billing_upgrade`, max: 2 });
      try {
        const hypertable = async () =>
          (await pool.query("select count(*)::int as n from timescaledb_information.hypertables where hypertable_name = 'usage_hourly'")).rows[0].n === 1;
        const { notes } = await upgradeWithUsage(pool, testPriceBook(), {
          fromId: UPGRADE_FROM,
          tenants: ["up-a", "up-b"],
          now: new Date("2026-05-15T18:00:00Z"),
          // Checked at the old schema, with its data in place: the upgrade starts from a hypertable.
          atOldSchema: async () => expect(await hypertable(), `usage_hourly is not a hypertable at migration ${UPGRADE_FROM}`),
        });
        for (const note of notes) detail(note);
        expect(await hypertable(), "usage_hourly is no longer a hypertable after the upgrade");
        const chunks = await pool.query("select count(*)::int as n from timescaledb_information.chunks where hypertable_name = 'usage_hourly'");
        detail(`usage_hourly: a hypertable with ${chunks.rows[0].n} chunk(s) after the upgrade`);
        expect(chunks.rows[0].n > 0, "no usage_hourly rows in hypertable chunks after the upgrade");
      } finally {
        await pool.end();
      }
    },
  );

  await report.check("timescaledb: `maas-billing serve` on it: /healthz, /readyz, events, an invoice of 0.95 USD; the rollup lands in hypertable chunks at fillfactor 50", async (detail) => {
    const tokens = await run(process.execPath, [cli, "token", "create", "--name", "e2e-admin", "--admin"], serviceEnv);
    const token = /: (\S+)\s*$/.exec(tokens.stderr.trim())?.[1];
    expect(token !== undefined, "token create printed no token");
    const tokensFile = join(env.workDir, "tokens.yaml");
    writeFileSync(tokensFile, tokensFileOf(tokens.stdout), { mode: 0o600 });
    const httpPort = await freePort();
    const service = startProcess(
      "timescaledb-serve",
      "/usr/bin/env",
      [`DATABASE_URL=${databaseUrl}`, `MAAS_BILLING_TOKENS_FILE=${tokensFile}`, `MAAS_BILLING_DATA_DIR=${join(env.workDir, "data")}`, "LOG_LEVEL=warn", process.execPath, cli, "serve", "--host", "127.0.0.1", "--port", String(httpPort), "--metrics-port", String(await freePort())],
      join(env.workDir, "logs"),
    );
    const base = `http://127.0.0.1:${httpPort}`;
    await waitForHttp(`${base}/healthz`, 120_000, () => service.child.exitCode === null);
    await serviceSession(base, token, detail);
    const db = new pg.Client(databaseUrl);
    await db.connect();
    try {
      // serve folds the rollup queue (migration 062) every second; fold what is left so the count reads it.
      await db.query("select ledger_rollup_drain(true)");
      const chunks = await db.query("select count(*)::int as n from timescaledb_information.chunks where hypertable_name = 'usage_hourly'");
      const rows = await db.query("select count(*)::int as n from usage_hourly");
      detail(`usage_hourly: ${rows.rows[0].n} rows in ${chunks.rows[0].n} chunk(s)`);
      expect(chunks.rows[0].n > 0 && rows.rows[0].n > 0, "no rollup rows in hypertable chunks");
      // The rows live in chunks created after migration 066: each must carry the fillfactor too,
      // or the folds' updates are not HOT where they happen.
      const chunkFill = await db.query<{ chunk: string; reloptions: string[] | null }>(
        "select format('%I.%I', chunk_schema, chunk_name) as chunk, (select reloptions from pg_class where oid = format('%I.%I', chunk_schema, chunk_name)::regclass) as reloptions from timescaledb_information.chunks where hypertable_name = 'usage_hourly' order by 1",
      );
      detail(`chunk reloptions: ${chunkFill.rows.map((r) => `${r.chunk} ${JSON.stringify(r.reloptions)}`).join("; ")}`);
      for (const r of chunkFill.rows) expect(r.reloptions?.includes(FILLFACTOR) === true, `chunk ${r.chunk} of usage_hourly has reloptions ${JSON.stringify(r.reloptions)}, not ${FILLFACTOR} (migration 066)`);
    } finally {
      await db.end();
    }
  });
}
