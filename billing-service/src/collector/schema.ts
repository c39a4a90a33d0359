/**
 * Tables of the collector (migration numbers 050-099 are reserved for it).
 *
 * - `collector_usage`: billable usage per (source, tenant, user, tier, model, window) from
 *   Prometheus, keyed by a deterministic idempotency key, with data-quality flags and lineage.
 * - `collector_reconciliation`: gateway vs model-server tokens per tenant, model and window.
 * - `collector_unattributed`: usage of series that map to no tenant, per reason and window.
 * - `collector_watermark`: per source, the end of the last collected window.
 */
export const COLLECTOR_MIGRATIONS: ReadonlyArray<{ readonly id: number; readonly name: string; readonly sql: string }> = [
  {
    id: 50,
    name: "collector_tables",
    sql: `
create table if not exists collector_usage (
  idempotency_key text primary key,
  source text not null,
  -- gateway rows are billed; model-server rows are kept for reconciliation and audit only
  billable boolean not null,
  tenant text not null,
  user_id text,
  tier text,
  model text,
  window_start timestamptz not null,
  window_end timestamptz not null,
  input_tokens bigint not null,
  output_tokens bigint not null,
  total_tokens bigint not null,
  requests bigint not null,
  limited_requests bigint not null,
  resets integer not null,
  gaps integer not null,
  samples integer not null,
  series integer not null,
  reconciliation_key text,
  lineage jsonb not null,
  content_hash text not null,
  updated_at timestamptz not null default now()
);
create index if not exists collector_usage_tenant_window on collector_usage (tenant, window_start);
create index if not exists collector_usage_window on collector_usage (window_start);

create table if not exists collector_reconciliation (
  reconciliation_key text primary key,
  tenant text not null,
  model text,
  window_start timestamptz not null,
  window_end timestamptz not null,
  gateway_tokens bigint not null,
  model_input_tokens bigint not null,
  model_output_tokens bigint not null,
  diff_tokens bigint not null,
  diff_ratio double precision not null,
  flagged boolean not null,
  split_basis text not null,
  apportioned_input_tokens bigint not null,
  apportioned_output_tokens bigint not null,
  content_hash text not null,
  updated_at timestamptz not null default now()
);
create index if not exists collector_reconciliation_window on collector_reconciliation (window_start);

create table if not exists collector_unattributed (
  unattributed_key text primary key,
  source text not null,
  metric text not null,
  reason text not null,
  window_start timestamptz not null,
  amount bigint not null,
  series integer not null,
  content_hash text not null,
  updated_at timestamptz not null default now()
);
create index if not exists collector_unattributed_window on collector_unattributed (window_start);

create table if not exists collector_watermark (
  source text primary key,
  collected_until timestamptz not null,
  updated_at timestamptz not null default now()
);
`,
  },
];

/** Advisory lock key of the collector: one replica collects at a time. ("maas" "coll" as ASCII.) */
export const COLLECTOR_LOCK_KEY = 0x6d616173636f6c6cn;

/**
 * Applies the collector migrations that are not applied yet, each in its own transaction and
 * recorded first, so concurrent replicas cannot both apply one (the loser's insert conflicts and
 * it treats the migration as done). Kept here until the service's migration runner takes them.
 */
export const applyCollectorMigrations = async (pool: import("pg").Pool): Promise<void> => {
  await pool.query("create table if not exists collector_schema_migrations (id integer primary key, name text not null, applied_at timestamptz not null default now())");
  for (const m of COLLECTOR_MIGRATIONS) {
    const client = await pool.connect();
    try {
      await client.query("begin");
      const ins = await client.query("insert into collector_schema_migrations (id, name) values ($1, $2) on conflict do nothing", [m.id, m.name]);
      if (ins.rowCount === 1) await client.query(m.sql);
      await client.query("commit");
    } catch (e) {
      await client.query("rollback");
      throw e;
    } finally {
      client.release();
    }
  }
};
