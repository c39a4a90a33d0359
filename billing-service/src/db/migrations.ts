/**
 * The whole schema, service and collector, as numbered forward-only migrations, applied by the one
 * runner (migrate.ts) in the order of this list, each in its own transaction, recorded in
 * `schema_migrations`. Ids are names, not the order: 050-099 are the collector's tables (050 runs
 * first, because the ledger view of 002 reads collector_usage), 110-119 the portal's, 001-049 the rest. A migration is
 * never edited once released: changes are new migrations.
 */
export interface Migration {
  readonly id: number;
  readonly name: string;
  readonly sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    // The collector's tables (until 2026-12 applied by their own runner into
    // collector_schema_migrations; migrate.ts folds that table into schema_migrations).
    // - collector_usage: billable usage per (source, tenant, user, tier, model, window) from
    //   Prometheus, keyed by a deterministic idempotency key, with data-quality flags and lineage.
    // - collector_reconciliation: gateway vs model-server tokens per tenant, model and window.
    // - collector_unattributed: usage of series that map to no tenant, per reason and window.
    // - collector_watermark: per source, the end of the last collected window.
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
  {
    id: 1,
    name: "usage_events",
    sql: `
-- Usage posted to POST /v1/events. Idempotent on (source, event_id) like CloudEvents.
create table usage_events (
  source text not null,
  event_id text not null,
  tenant text not null,
  user_id text,
  tier text not null,
  model text not null,
  event_time timestamptz not null,
  input_tokens bigint not null check (input_tokens >= 0),
  output_tokens bigint not null check (output_tokens >= 0),
  requests bigint not null check (requests >= 0),
  received_at timestamptz not null default now(),
  primary key (source, event_id)
);
create index usage_events_tenant_time on usage_events (tenant, event_time);
create index usage_events_time on usage_events (event_time);

-- Hourly rollup of every billable ledger row (events and collector), kept by statement-level
-- triggers, for /metrics and quick totals. Invoices never read it: they read the ledger itself.
create table usage_hourly (
  tenant text not null,
  user_key text not null,
  tier text not null,
  model text not null,
  hour timestamptz not null,
  input_tokens bigint not null,
  output_tokens bigint not null,
  requests bigint not null,
  primary key (tenant, user_key, tier, model, hour)
);
create index usage_hourly_hour on usage_hourly (hour);

create function usage_events_rollup() returns trigger language plpgsql as $$
begin
  insert into usage_hourly as h (tenant, user_key, tier, model, hour, input_tokens, output_tokens, requests)
  select tenant, coalesce(user_id, ''), tier, model, date_trunc('hour', event_time),
         sum(input_tokens), sum(output_tokens), sum(requests)
    from new_rows group by 1, 2, 3, 4, 5
  on conflict (tenant, user_key, tier, model, hour) do update
    set input_tokens = h.input_tokens + excluded.input_tokens,
        output_tokens = h.output_tokens + excluded.output_tokens,
        requests = h.requests + excluded.requests;
  return null;
end $$;
create trigger usage_events_rollup after insert on usage_events
  referencing new table as new_rows for each statement execute function usage_events_rollup();
`,
  },
  {
    id: 2,
    name: "usage_ledger_view",
    sql: `
-- The usage ledger: event rows and the collector's billable rows, one shape. ledger_key is
-- unique across both (a JSON array, so no separator can make two keys collide).
create view usage_ledger as
  select 'events'::text as origin,
         json_build_array('events', source, event_id)::text as ledger_key,
         source, tenant, user_id, tier, model,
         event_time as window_start, event_time as window_end,
         input_tokens, output_tokens, requests,
         0 as resets, 0 as gaps
    from usage_events
  union all
  select 'collector'::text, json_build_array('collector', idempotency_key)::text,
         source, tenant, user_id, coalesce(tier, ''), coalesce(model, ''),
         window_start, window_end, input_tokens, output_tokens, requests, resets, gaps
    from collector_usage where billable;

-- The collector upserts its rows (late data re-collects a window): keep the rollup in step.
create function collector_usage_rollup_insert() returns trigger language plpgsql as $$
begin
  insert into usage_hourly as h (tenant, user_key, tier, model, hour, input_tokens, output_tokens, requests)
  select tenant, coalesce(user_id, ''), coalesce(tier, ''), coalesce(model, ''), date_trunc('hour', window_start),
         sum(input_tokens), sum(output_tokens), sum(requests)
    from new_rows where billable group by 1, 2, 3, 4, 5
  on conflict (tenant, user_key, tier, model, hour) do update
    set input_tokens = h.input_tokens + excluded.input_tokens,
        output_tokens = h.output_tokens + excluded.output_tokens,
        requests = h.requests + excluded.requests;
  return null;
end $$;
create function collector_usage_rollup_update() returns trigger language plpgsql as $$
begin
  insert into usage_hourly as h (tenant, user_key, tier, model, hour, input_tokens, output_tokens, requests)
  select tenant, user_key, tier, model, hour, sum(i), sum(o), sum(r) from (
    select tenant, coalesce(user_id, '') as user_key, coalesce(tier, '') as tier, coalesce(model, '') as model,
           date_trunc('hour', window_start) as hour, input_tokens as i, output_tokens as o, requests as r
      from new_rows where billable
    union all
    select tenant, coalesce(user_id, ''), coalesce(tier, ''), coalesce(model, ''),
           date_trunc('hour', window_start), -input_tokens, -output_tokens, -requests
      from old_rows where billable
  ) d group by 1, 2, 3, 4, 5
  on conflict (tenant, user_key, tier, model, hour) do update
    set input_tokens = h.input_tokens + excluded.input_tokens,
        output_tokens = h.output_tokens + excluded.output_tokens,
        requests = h.requests + excluded.requests;
  return null;
end $$;
create trigger collector_usage_rollup_insert after insert on collector_usage
  referencing new table as new_rows for each statement execute function collector_usage_rollup_insert();
create trigger collector_usage_rollup_update after update on collector_usage
  referencing old table as old_rows new table as new_rows for each statement execute function collector_usage_rollup_update();
-- Rows the collector wrote before this migration.
insert into usage_hourly as h (tenant, user_key, tier, model, hour, input_tokens, output_tokens, requests)
select tenant, coalesce(user_id, ''), coalesce(tier, ''), coalesce(model, ''), date_trunc('hour', window_start),
       sum(input_tokens), sum(output_tokens), sum(requests)
  from collector_usage where billable group by 1, 2, 3, 4, 5
on conflict (tenant, user_key, tier, model, hour) do update
  set input_tokens = h.input_tokens + excluded.input_tokens,
      output_tokens = h.output_tokens + excluded.output_tokens,
      requests = h.requests + excluded.requests;
`,
  },
  {
    id: 3,
    name: "invoices",
    sql: `
-- Every price-book version an invoice used, stored once, so a line's price stays auditable after
-- the YAML changes. id = effective date + content hash.
create table price_book_versions (
  id text primary key,
  effective_from timestamptz not null,
  currency text not null,
  minor_unit_digits integer not null,
  content jsonb not null,
  recorded_at timestamptz not null default now()
);

create table invoices (
  id bigint generated always as identity primary key,
  number text not null unique,
  tenant text not null,
  period text not null check (period ~ '^[0-9]{4}-[0-9]{2}$'),
  period_start timestamptz not null,
  period_end timestamptz not null,
  kind text not null check (kind in ('standard', 'adjustment')),
  status text not null check (status in ('draft', 'final')),
  currency text not null,
  minor_unit_digits integer not null,
  total_minor bigint not null,
  ledger_rows bigint not null,
  rounding_rule text not null,
  flags jsonb not null default '{}',
  content_sha256 text,
  created_at timestamptz not null default now(),
  finalized_at timestamptz
);
-- At most one open draft per tenant and period.
create unique index invoices_one_draft on invoices (tenant, period) where status = 'draft';
create index invoices_tenant_period on invoices (tenant, period);

create table invoice_lines (
  invoice_id bigint not null references invoices (id) on delete cascade,
  line_no integer not null,
  tier text not null,
  model text not null,
  component text not null check (component in ('input_tokens', 'output_tokens', 'requests')),
  price_version_id text not null references price_book_versions (id),
  quantity bigint not null,
  unit text not null,
  unit_price text not null,
  amount_minor bigint not null,
  lineage jsonb not null,
  primary key (invoice_id, line_no)
);

-- Lineage: the ledger rows (and their amounts at the time) each invoice billed. A later invoice
-- for the same period bills only the difference to these snapshots (an adjustment).
create table invoice_ledger_rows (
  invoice_id bigint not null references invoices (id) on delete cascade,
  ledger_key text not null,
  origin text not null,
  tier text not null,
  model text not null,
  window_start timestamptz not null,
  price_version_id text not null,
  input_tokens bigint not null,
  output_tokens bigint not null,
  requests bigint not null,
  resets integer not null,
  gaps integer not null,
  primary key (invoice_id, ledger_key)
);

-- Final invoices are immutable, enforced here so no code path (or psql session) can edit one.
create function invoices_immutable() returns trigger language plpgsql as $$
begin
  if OLD.status = 'final' then
    raise exception 'invoice % is final and cannot be changed', OLD.number using errcode = 'P0001';
  end if;
  if TG_OP = 'DELETE' then return OLD; end if;
  return NEW;
end $$;
create trigger invoices_immutable before update or delete on invoices
  for each row execute function invoices_immutable();

create function invoice_children_immutable() returns trigger language plpgsql as $$
declare
  target bigint := case when TG_OP = 'INSERT' then NEW.invoice_id else OLD.invoice_id end;
begin
  if exists (select 1 from invoices where id = target and status = 'final') then
    raise exception 'invoice % is final: its % cannot be changed', target, TG_TABLE_NAME using errcode = 'P0001';
  end if;
  if TG_OP = 'DELETE' then return OLD; end if;
  return NEW;
end $$;
create trigger invoice_lines_immutable before insert or update or delete on invoice_lines
  for each row execute function invoice_children_immutable();
create trigger invoice_ledger_rows_immutable before insert or update or delete on invoice_ledger_rows
  for each row execute function invoice_children_immutable();

create function invoices_no_truncate() returns trigger language plpgsql as $$
begin
  raise exception 'invoice tables cannot be truncated' using errcode = 'P0001';
end $$;
create trigger invoices_no_truncate before truncate on invoices for each statement execute function invoices_no_truncate();
create trigger invoice_lines_no_truncate before truncate on invoice_lines for each statement execute function invoices_no_truncate();
create trigger invoice_ledger_rows_no_truncate before truncate on invoice_ledger_rows for each statement execute function invoices_no_truncate();
`,
  },
  {
    id: 4,
    name: "quotas",
    sql: `
-- Budgets per tenant (user_key '') or per user, per kind and period. used/period_start are the
-- running counter of the current period; a check spends with one conditional UPDATE.
create table quotas (
  tenant text not null,
  user_key text not null default '',
  kind text not null check (kind in ('tokens', 'cost')),
  period text not null check (period in ('day', 'month')),
  limit_value bigint not null check (limit_value >= 0),
  used bigint not null default 0,
  period_start timestamptz not null default 'epoch',
  updated_at timestamptz not null default now(),
  primary key (tenant, user_key, kind, period)
);
`,
  },
  {
    id: 5,
    name: "timescaledb_when_available",
    sql: `
-- TimescaleDB, when the server has it: compression-friendly hypertable for the hourly rollup
-- (its key includes the time column). usage_events keeps a global (source, event_id) key, which a
-- hypertable cannot enforce, so it stays a plain table; retention is the same on both.
do $$
begin
  if exists (select 1 from pg_available_extensions where name = 'timescaledb') then
    create extension if not exists timescaledb;
    perform create_hypertable('usage_hourly', 'hour', migrate_data => true, if_not_exists => true);
  end if;
end $$;
`,
  },
  {
    id: 6,
    name: "retention",
    sql: `
-- Deletes ledger rows older than the retention (months). Final invoices keep their own snapshot
-- rows (invoice_ledger_rows), so audit survives the ledger's retention.
create function maas_billing_apply_retention(months integer) returns bigint language plpgsql as $$
declare
  cutoff timestamptz := date_trunc('month', now()) - make_interval(months => months);
  n bigint;
  m bigint;
begin
  delete from usage_events where event_time < cutoff;
  get diagnostics n = row_count;
  delete from usage_hourly where hour < cutoff;
  get diagnostics m = row_count;
  return n + m;
end $$;
`,
  },
  {
    id: 7,
    name: "invoice_children_immutable_per_statement",
    sql: `
-- Same guarantee as migration 3 (no row of a final invoice's lines or lineage can be inserted,
-- changed or deleted), checked once per statement over its transition tables instead of one
-- query per row: a draft's 18,000 lineage rows cost one semi-join, not 18,000 lookups. An UPDATE
-- is now checked on both sides (moving a row into a final invoice is refused too). Transition
-- tables need AFTER triggers with a single event each; raising in them aborts the statement.
drop trigger invoice_lines_immutable on invoice_lines;
drop trigger invoice_ledger_rows_immutable on invoice_ledger_rows;
drop function invoice_children_immutable();

create function invoice_children_immutable_statement() returns trigger language plpgsql as $$
declare
  target bigint;
begin
  if TG_OP = 'INSERT' then
    select v.id into target from invoices v where v.status = 'final' and v.id in (select invoice_id from new_rows) limit 1;
  elsif TG_OP = 'UPDATE' then
    select v.id into target from invoices v
     where v.status = 'final' and v.id in (select invoice_id from old_rows union select invoice_id from new_rows) limit 1;
  else
    select v.id into target from invoices v where v.status = 'final' and v.id in (select invoice_id from old_rows) limit 1;
  end if;
  if target is not null then
    raise exception 'invoice % is final: its % cannot be changed', target, TG_TABLE_NAME using errcode = 'P0001';
  end if;
  return null;
end $$;
create trigger invoice_lines_immutable_insert after insert on invoice_lines
  referencing new table as new_rows for each statement execute function invoice_children_immutable_statement();
create trigger invoice_lines_immutable_update after update on invoice_lines
  referencing old table as old_rows new table as new_rows for each statement execute function invoice_children_immutable_statement();
create trigger invoice_lines_immutable_delete after delete on invoice_lines
  referencing old table as old_rows for each statement execute function invoice_children_immutable_statement();
create trigger invoice_ledger_rows_immutable_insert after insert on invoice_ledger_rows
  referencing new table as new_rows for each statement execute function invoice_children_immutable_statement();
create trigger invoice_ledger_rows_immutable_update after update on invoice_ledger_rows
  referencing old table as old_rows new table as new_rows for each statement execute function invoice_children_immutable_statement();
create trigger invoice_ledger_rows_immutable_delete after delete on invoice_ledger_rows
  referencing old table as old_rows for each statement execute function invoice_children_immutable_statement();
`,
  },
  {
    id: 110,
    name: "portal_sessions",
    sql: `
-- Browser sessions of the tenant portal (src/portal/sessions.ts). The cookie holds a random
-- session secret; only its SHA-256 is stored, and the billing token it signed in with is sealed
-- (AES-256-GCM) under a key derived from that secret: a database reader can neither use a row
-- nor recover the token. Sign-out deletes the row, so the cookie is dead on every replica.
create table portal_sessions (
  id_sha256 text primary key,
  sealed_credential bytea not null,
  principal text not null,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null
);
create index portal_sessions_expires on portal_sessions (expires_at);
`,
  },
  {
    id: 40,
    name: "usage_dimensions",
    sql: `
-- Attribute labels of usage (e.g. MaaS subscriptions' organization_id and cost_center, or group),
-- carried from the ledger into invoice lineage and invoice lines (FOCUS Tags, usage group-by).
-- {} = none. The collector writes collector_usage.dimensions (setting attributeLabels); events may
-- carry them too.
alter table collector_usage add column if not exists dimensions jsonb not null default '{}';
alter table usage_events add column dimensions jsonb not null default '{}';
create or replace view usage_ledger as
  select 'events'::text as origin,
         json_build_array('events', source, event_id)::text as ledger_key,
         source, tenant, user_id, tier, model,
         event_time as window_start, event_time as window_end,
         input_tokens, output_tokens, requests,
         0 as resets, 0 as gaps, dimensions
    from usage_events
  union all
  select 'collector'::text, json_build_array('collector', idempotency_key)::text,
         source, tenant, user_id, coalesce(tier, ''), coalesce(model, ''),
         window_start, window_end, input_tokens, output_tokens, requests, resets, gaps, dimensions
    from collector_usage where billable;
alter table invoice_ledger_rows add column dimensions jsonb not null default '{}';
alter table invoice_lines add column dimensions jsonb not null default '{}';
`,
  },
];

/**
 * The collector's migrations alone (050-099): for collector tests and benches that measure the
 * collector's own tables without the ledger's rollup triggers. Apply with `migrate(pool, COLLECTOR_ONLY)`.
 */
export const COLLECTOR_ONLY: readonly Migration[] = MIGRATIONS.filter((m) => m.id >= 50 && m.id <= 99);
