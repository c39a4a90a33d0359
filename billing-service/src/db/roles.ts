/**
 * Least-privilege database roles (docs/threat-model.md B4). The migrations run as the owner role
 * (it owns every table, function and trigger); the service runs as an app role that owns nothing,
 * so it cannot alter, drop or truncate tables, disable the immutability triggers, or (not being a
 * superuser) skip them with session_replication_role. The triggers then bind it: a final invoice
 * cannot be changed. The ledger's event rows are insert-only for it; retention deletes them through
 * a SECURITY DEFINER function of the owner (migration 011).
 *
 * ensureAppRole is run by the owner after every migration run (idempotent), so tables added by
 * later migrations are granted too.
 */
import type { Pool, PoolClient } from "pg";
import { withTransaction } from "./transaction";

export interface AppRole {
  /** Login role the service connects as. */
  readonly name: string;
  /** Its password (set on every run, so rotating the Secret rotates the role). */
  readonly password: string;
}

/** The app role of the embedded default (`serve` without DATABASE_URL). */
export const EMBEDDED_APP_ROLE = "maas_billing_app";

/** Tables whose rows the app role may add but never change or delete. */
const INSERT_ONLY = ["usage_events"];
/** Tables whose rows the app role may add and complete (a streaming access-log copy adds its tokens), never delete. */
const NO_DELETE = ["access_log_usage"];
/** Tables the app role may only read. */
const READ_ONLY = ["schema_migrations"];
/** Tables the app role may read and add to, never change (price versions are content-addressed). */
const APPEND_ONLY = ["price_book_versions"];

const exec = async (db: Pool | PoolClient, template: string, ...args: string[]): Promise<void> => {
  // Identifiers and the password are quoted by the server (format %I / %L), never by string pasting.
  const sql = (await db.query<{ sql: string }>(`select format($1::text, ${args.map((_, i) => `$${i + 2}::text`).join(", ")}) as sql`, [template, ...args])).rows[0].sql;
  await db.query(sql);
};

/** Creates (or updates) the app login role and grants it exactly what the service needs. */
export const ensureAppRole = (owner: Pool, role: AppRole): Promise<void> =>
  withTransaction(owner, async (client) => {
    // Two replicas' init containers may run this at once: one at a time.
    await client.query("select pg_advisory_xact_lock(hashtext('maas-billing-app-role'))");
    const exists = (await client.query("select 1 from pg_roles where rolname = $1", [role.name])).rowCount === 1;
    await exec(client, `${exists ? "alter" : "create"} role %I with login nosuperuser nocreatedb nocreaterole noreplication nobypassrls password %L`, role.name, role.password);
    await exec(client, "grant connect on database %I to %I", (await client.query<{ d: string }>("select current_database() as d")).rows[0].d, role.name);
    // PostgreSQL < 15 lets every role create objects in schema public: not the app role.
    await client.query("revoke create on schema public from public");
    await exec(client, "grant usage on schema public to %I", role.name);
    await exec(client, "grant select, insert, update, delete on all tables in schema public to %I", role.name);
    await exec(client, "revoke truncate, references, trigger on all tables in schema public from %I", role.name);
    await exec(client, "grant usage, select on all sequences in schema public to %I", role.name);
    const present = async (table: string): Promise<boolean> => (await client.query("select to_regclass($1) is not null as ok", [`public.${table}`])).rows[0].ok === true;
    for (const t of INSERT_ONLY) if (await present(t)) await exec(client, "revoke update, delete on %I from %I", t, role.name);
    for (const t of NO_DELETE) if (await present(t)) await exec(client, "revoke delete on %I from %I", t, role.name);
    for (const t of APPEND_ONLY) if (await present(t)) await exec(client, "revoke update, delete on %I from %I", t, role.name);
    for (const t of READ_ONLY) if (await present(t)) await exec(client, "revoke insert, update, delete on %I from %I", t, role.name);
    if ((await client.query("select to_regprocedure('maas_billing_apply_retention(integer)') is not null as ok")).rows[0].ok === true) {
      await exec(client, "grant execute on function maas_billing_apply_retention(integer) to %I", role.name);
    }
  }).catch((e: unknown) => {
    throw new Error(`setting up database role ${role.name} failed: ${(e as Error).message}`);
  });
