/**
 * The one forward-only migration runner, for the whole schema (service and collector tables, all in
 * src/db/migrations.ts) and one table, `schema_migrations`. A run holds a session advisory lock, so
 * two processes migrating at once (replicas starting together) go one after the other: the second
 * finds everything applied. Each migration runs in its own transaction that also records it. A
 * database migrated by a newer release (a recorded id this code does not know) is refused rather
 * than run against.
 *
 * Databases from before the runners were merged kept the collector's migrations in
 * `collector_schema_migrations`; the first run moves those rows into `schema_migrations` (applied_at
 * kept) and drops that table, in one transaction.
 */
import type { Pool, PoolClient } from "pg";
import { MIGRATIONS, type Migration } from "./migrations";
import { inTransaction } from "./transaction";

export class SchemaTooNewError extends Error {}

export interface MigrationResult {
  readonly applied: number[];
  readonly current: number;
}

/** Advisory lock key of a migration run ("maasmigr" as ASCII). */
export const MIGRATION_LOCK_KEY = 0x6d6161736d696772n;

type Queryable = Pick<PoolClient, "query">;

const ensureTable = async (db: Queryable): Promise<void> => {
  // Checked first: the service's app role (db/roles.ts) may read the table but not run CREATE.
  if ((await db.query("select to_regclass('schema_migrations') is not null as ok")).rows[0].ok === true) return;
  await db.query(
    "create table if not exists schema_migrations (id integer primary key, name text not null, applied_at timestamptz not null default now())",
  );
};

/** Folds the old collector runner's table into schema_migrations (no-op once done). */
const adoptCollectorMigrationTable = async (client: PoolClient): Promise<void> => {
  const old = await client.query<{ t: string | null }>("select to_regclass('collector_schema_migrations')::text as t");
  if (old.rows[0].t === null) return;
  await inTransaction(client, async () => {
    await client.query(
      "insert into schema_migrations (id, name, applied_at) select id, name, applied_at from collector_schema_migrations on conflict (id) do nothing",
    );
    await client.query("drop table collector_schema_migrations");
  });
};

export const latestKnownMigration = (migrations: readonly Migration[] = MIGRATIONS): number =>
  Math.max(...migrations.map((m) => m.id));

/** Applied ids, after checking none is newer than this code knows. */
export const appliedMigrations = async (db: Queryable, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> => {
  await ensureTable(db);
  const ids = (await db.query<{ id: number }>("select id from schema_migrations order by id")).rows.map((r) => r.id);
  const known = new Set(migrations.map((m) => m.id));
  const unknown = ids.filter((id) => !known.has(id));
  if (unknown.length > 0) {
    throw new SchemaTooNewError(
      `the database schema has migrations ${unknown.join(", ")} that this release does not know (it knows up to ${latestKnownMigration(migrations)}): run a newer maas-billing`,
    );
  }
  return ids;
};

/**
 * True when every migration is recorded (and no old collector table is left to adopt), read
 * without DDL or writes: the app role, which may not change the schema, starts on a migrated
 * database.
 */
const nothingPending = async (pool: Pool, migrations: readonly Migration[]): Promise<boolean> => {
  const tables = (await pool.query("select to_regclass('schema_migrations') is not null as ok, to_regclass('collector_schema_migrations') is null as adopted")).rows[0];
  if (tables.ok !== true || tables.adopted !== true) return false;
  const ids = new Set((await pool.query<{ id: number }>("select id from schema_migrations")).rows.map((r) => r.id));
  return migrations.every((m) => ids.has(m.id));
};

/** Applies the pending migrations in list order (the order of MIGRATIONS, not of their ids). */
export const migrate = async (pool: Pool, migrations: readonly Migration[] = MIGRATIONS): Promise<MigrationResult> => {
  if (await nothingPending(pool, migrations)) {
    await appliedMigrations(pool, migrations); // still refuse a schema newer than this code
    return { applied: [], current: latestKnownMigration(migrations) };
  }
  const role = (await pool.query("select has_schema_privilege('public', 'CREATE') as ok, current_user as who")).rows[0] as { ok: boolean; who: string };
  if (!role.ok) {
    throw new Error(
      `migrations are pending and role ${role.who} may not change the schema (the service's app role): run \`maas-billing migrate\` with the owner role's DATABASE_URL`,
    );
  }
  const client = await pool.connect();
  let failed: Error | undefined;
  try {
    await client.query("select pg_advisory_lock($1::bigint)", [MIGRATION_LOCK_KEY.toString()]);
    await ensureTable(client);
    await adoptCollectorMigrationTable(client);
    const before = new Set(await appliedMigrations(client, migrations));
    const applied: number[] = [];
    for (const m of migrations) {
      if (before.has(m.id)) continue;
      try {
        await inTransaction(client, async () => {
          await client.query("insert into schema_migrations (id, name) values ($1, $2)", [m.id, m.name]);
          await client.query(m.sql);
        });
      } catch (e) {
        throw new Error(`migration ${String(m.id).padStart(3, "0")}_${m.name} failed: ${(e as Error).message}`);
      }
      applied.push(m.id);
    }
    await client.query("select pg_advisory_unlock($1::bigint)", [MIGRATION_LOCK_KEY.toString()]);
    return { applied, current: latestKnownMigration(migrations) };
  } catch (e) {
    // The session lock dies with the connection, which is not reused after a failure.
    failed = e instanceof Error ? e : new Error(String(e));
    throw e;
  } finally {
    client.release(failed);
  }
};

/** For /readyz: every known migration applied (service and collector alike), none unknown. */
export const migrationsCurrent = async (pool: Pool): Promise<boolean> => {
  // A plain read (no DDL): readiness probes run often.
  const result = await pool.query<{ id: number }>("select id from schema_migrations").catch((e: { code?: string }) => {
    if (e.code === "42P01") return { rows: [] as Array<{ id: number }> }; // no table yet
    throw e;
  });
  const ids = new Set(result.rows.map((r) => r.id));
  return MIGRATIONS.every((m) => ids.has(m.id)) && ids.size === MIGRATIONS.length;
};
