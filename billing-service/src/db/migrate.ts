/**
 * Forward-only migration runner. Each migration runs in its own transaction that first records
 * it in schema_migrations, so two replicas starting together cannot both apply one (the loser
 * blocks on the primary key, then sees it recorded and skips). A database migrated by a newer
 * release (a recorded id this code does not know) is refused rather than run against.
 */
import type { Pool } from "pg";
import { applyCollectorMigrations } from "../collector/schema";
import { MIGRATIONS, type Migration } from "./migrations";

export class SchemaTooNewError extends Error {}

export interface MigrationResult {
  readonly applied: number[];
  readonly current: number;
}

const ensureTable = async (pool: Pool): Promise<void> => {
  await pool.query(
    "create table if not exists schema_migrations (id integer primary key, name text not null, applied_at timestamptz not null default now())",
  );
};

export const latestKnownMigration = (migrations: readonly Migration[] = MIGRATIONS): number =>
  Math.max(...migrations.map((m) => m.id));

/** Applied ids, after checking none is newer than this code knows. */
export const appliedMigrations = async (pool: Pool, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> => {
  await ensureTable(pool);
  const ids = (await pool.query<{ id: number }>("select id from schema_migrations order by id")).rows.map((r) => r.id);
  const known = new Set(migrations.map((m) => m.id));
  const unknown = ids.filter((id) => !known.has(id));
  if (unknown.length > 0) {
    throw new SchemaTooNewError(
      `the database schema has migrations ${unknown.join(", ")} that this release does not know (it knows up to ${latestKnownMigration(migrations)}): run a newer maas-billing`,
    );
  }
  return ids;
};

export const migrate = async (pool: Pool, migrations: readonly Migration[] = MIGRATIONS): Promise<MigrationResult> => {
  const before = new Set(await appliedMigrations(pool, migrations));
  // The collector's tables first: the ledger view (migration 2) reads collector_usage.
  await applyCollectorMigrations(pool);
  const applied: number[] = [];
  for (const m of [...migrations].sort((a, b) => a.id - b.id)) {
    if (before.has(m.id)) continue;
    const client = await pool.connect();
    try {
      await client.query("begin");
      const recorded = await client.query("insert into schema_migrations (id, name) values ($1, $2) on conflict do nothing", [m.id, m.name]);
      if (recorded.rowCount === 1) {
        await client.query(m.sql);
        applied.push(m.id);
      }
      await client.query("commit");
    } catch (e) {
      await client.query("rollback").catch(() => {});
      throw new Error(`migration ${String(m.id).padStart(3, "0")}_${m.name} failed: ${(e as Error).message}`);
    } finally {
      client.release();
    }
  }
  return { applied, current: latestKnownMigration(migrations) };
};

/** For /readyz: every known migration applied, none unknown. */
export const migrationsCurrent = async (pool: Pool): Promise<boolean> => {
  // A plain read (no DDL): readiness probes run often.
  const result = await pool.query<{ id: number }>("select id from schema_migrations").catch((e: { code?: string }) => {
    if (e.code === "42P01") return { rows: [] as Array<{ id: number }> }; // no table yet
    throw e;
  });
  const ids = new Set(result.rows.map((r) => r.id));
  return MIGRATIONS.every((m) => ids.has(m.id)) && ids.size === MIGRATIONS.length;
};
