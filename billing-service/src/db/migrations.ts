/**
 * The whole schema, service and collector, as numbered forward-only migrations, applied by the one
 * runner (migrate.ts) in the order of this list, each in its own transaction, recorded in
 * `schema_migrations`. Ids are names, not the order: 050-099 are the collector's tables (050 runs
 * first, because the ledger view of 002 reads collector_usage) except 070-089 (the ledger's rollups
 * and lineage for fast invoices, issue 20) and 060-069 (the access-log ledger of issue 18, listed
 * after 071 because it extends the ledger view and the invoice rollup), 110-119 the portal's, 001-049 the rest
 * (030-039: quotas, webhooks and month-end close of issue 16; 033, retention of every ledger table,
 * is listed last because it deletes from 060/061's tables). A migration is
 * never edited once released: changes are new migrations. SQL that several migrations repeat (the
 * rollup trigger functions per ledger table, triggers, the ledger view) is written once in
 * migration-sql.ts; test/migrations-released.test.ts pins each released text's SHA-256, so the
 * generated text stays byte for byte the released one.
 */
import {
  ACCESS_LOG,
  COLLECTOR,
  EVENTS,
  KEY_HOURLY,
  TENANT_HOURLY,
  TENANT_HOURLY_UTC,
  USAGE_HOURLY,
  USER_DAILY,
  USER_PRICED,
  collectorSignedRows,
  pricePiece,
  hourlyDelta,
  hourlyInsert,
  ledgerView,
  rollupBackfill,
  rollupChangeFunction,
  DRAIN_INVOICES_PER_GROUP,
  DRAIN_ROLLUP_CONFLICT,
  rollupDrainFunction,
  rollupDrainCountedFunction,
  rollupDrainPartFunction,
  retentionFunction,
  RETENTION_033,
  rollupInsert,
  statementTrigger,
  statementTriggers,
  triggerFunction,
} from "./migration-sql";

export interface Migration {
  readonly id: number;
  readonly name: string;
  readonly sql: string;
}

/**
 * A collector table: its own columns, then the two every collector row ends with, the hash of its
 * content (the upsert leaves a row alone while it is the same, collector/store.ts) and when it last
 * changed. The text is the one migration 050 was released with (test/migrations-released.test.ts pins it).
 */
const collectorTable = (name: string, columns: string): string =>
  `create table if not exists ${name} (${columns}
  content_hash text not null,
  updated_at timestamptz not null default now()
);`;

const migration = (id: number, name: string, sql: string): Migration => ({ id, name, sql });

export const MIGRATIONS: readonly Migration[] = [
  // The collector's tables (until 2026-12 applied by their own runner into
  // collector_schema_migrations; migrate.ts folds that table into schema_migrations).
  // - collector_usage: billable usage per (source, tenant, user, tier, model, window) from
  //   Prometheus, keyed by a deterministic idempotency key, with data-quality flags and lineage.
  // - collector_reconciliation: gateway vs model-server tokens per tenant, model and window.
  // - collector_unattributed: usage of series that map to no tenant, per reason and window.
  // - collector_watermark: per source, the end of the last collected window.
  migration(50, "collector_tables", `
${collectorTable("collector_usage", `
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
  lineage jsonb not null,`)}
create index if not exists collector_usage_tenant_window on collector_usage (tenant, window_start);
create index if not exists collector_usage_window on collector_usage (window_start);

${collectorTable("collector_reconciliation", `
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
  apportioned_output_tokens bigint not null,`)}
create index if not exists collector_reconciliation_window on collector_reconciliation (window_start);

${collectorTable("collector_unattributed", `
  unattributed_key text primary key,
  source text not null,
  metric text not null,
  reason text not null,
  window_start timestamptz not null,
  amount bigint not null,
  series integer not null,`)}
create index if not exists collector_unattributed_window on collector_unattributed (window_start);

create table if not exists collector_watermark (
  source text primary key,
  collected_until timestamptz not null,
  updated_at timestamptz not null default now()
);
`),
  migration(1, "usage_events", `
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

${triggerFunction("usage_events_rollup", [hourlyInsert(USAGE_HOURLY, EVENTS)])}
create trigger usage_events_rollup after insert on usage_events
  referencing new table as new_rows for each statement execute function usage_events_rollup();
`),
  migration(2, "usage_ledger_view", `
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
${triggerFunction("collector_usage_rollup_insert", [hourlyInsert(USAGE_HOURLY, COLLECTOR)])}
${triggerFunction("collector_usage_rollup_update", [
  hourlyDelta(
    USAGE_HOURLY,
    `    select tenant, coalesce(user_id, '') as user_key, coalesce(tier, '') as tier, coalesce(model, '') as model,
           date_trunc('hour', window_start) as hour, input_tokens as i, output_tokens as o, requests as r
      from new_rows where billable
    union all
    select tenant, coalesce(user_id, ''), coalesce(tier, ''), coalesce(model, ''),
           date_trunc('hour', window_start), -input_tokens, -output_tokens, -requests
      from old_rows where billable`,
  ),
])}
create trigger collector_usage_rollup_insert after insert on collector_usage
  referencing new table as new_rows for each statement execute function collector_usage_rollup_insert();
create trigger collector_usage_rollup_update after update on collector_usage
  referencing old table as old_rows new table as new_rows for each statement execute function collector_usage_rollup_update();
-- Rows the collector wrote before this migration.
${hourlyInsert(USAGE_HOURLY, COLLECTOR, { indent: "", from: "collector_usage" })}
`),
  migration(3, "invoices", `
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
`),
  migration(4, "quotas", `
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
`),
  migration(5, "timescaledb_when_available", `
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
`),
  migration(6, "retention", `
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
`),
  migration(7, "invoice_children_immutable_per_statement", `
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
${statementTriggers("invoice_lines_immutable", "invoice_lines", "invoice_children_immutable_statement", ["insert", "update", "delete"])}
${statementTriggers("invoice_ledger_rows_immutable", "invoice_ledger_rows", "invoice_children_immutable_statement", ["insert", "update", "delete"])}
`),
  migration(110, "portal_sessions", `
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
`),
  migration(40, "usage_dimensions", `
-- Attribute labels of usage (e.g. MaaS subscriptions' organization_id and cost_center, or group),
-- carried from the ledger into invoice lineage and invoice lines (FOCUS Tags, usage group-by).
-- {} = none. The collector writes collector_usage.dimensions (setting attributeLabels); events may
-- carry them too.
alter table collector_usage add column if not exists dimensions jsonb not null default '{}';
alter table usage_events add column dimensions jsonb not null default '{}';
${ledgerView()}
alter table invoice_ledger_rows add column dimensions jsonb not null default '{}';
alter table invoice_lines add column dimensions jsonb not null default '{}';
`),
  migration(30, "quota_reservations", `
-- Quotas are fed by the ledger (issue 16): a quota's consumption is the billed usage of its
-- period (usage_hourly, i.e. events and collector rows) plus the reservations of checks whose real
-- usage has not arrived yet. quotas.used/period_start (migration 4) are no longer read.
alter table quotas drop constraint quotas_kind_check;
alter table quotas add constraint quotas_kind_check check (kind in ('tokens', 'cost', 'requests'));

-- One row per spending check (POST /v1/quota/check). Open while settled_at is null and
-- expires_at is in the future; settled when its real usage is in the ledger:
--   * an event whose id equals request_id (same tenant) settles it in the insert's transaction,
--   * the gateway collector's watermark passing settle_after settles it in the collector's
--     transaction (its usage is then in collector_usage),
-- so a reader sees either the reservation or the usage, never both and never neither.
create table quota_reservations (
  id bigint generated always as identity primary key,
  tenant text not null,
  user_key text not null default '',
  request_id text not null,
  tokens bigint not null check (tokens >= 0),
  requests bigint not null check (requests >= 0),
  cost_minor bigint not null check (cost_minor >= 0),
  created_at timestamptz not null,
  settle_after timestamptz not null,
  expires_at timestamptz not null,
  settled_at timestamptz,
  settled_by text check (settled_by in ('event', 'collector')),
  unique (tenant, request_id)
);
create index quota_reservations_open on quota_reservations (tenant, expires_at) where settled_at is null;
create index quota_reservations_settle on quota_reservations (settle_after) where settled_at is null;

create function quota_reservations_settle_by_event() returns trigger language plpgsql as $$
begin
  update quota_reservations r set settled_at = now(), settled_by = 'event'
    from new_rows n
   where r.settled_at is null and r.tenant = n.tenant and r.request_id = n.event_id;
  return null;
end $$;
create trigger usage_events_settle_reservations after insert on usage_events
  referencing new table as new_rows for each statement execute function quota_reservations_settle_by_event();

${triggerFunction("quota_reservations_settle_by_watermark", [
  `  if NEW.source = 'gateway' then
    update quota_reservations set settled_at = now(), settled_by = 'collector'
     where settled_at is null and settle_after <= NEW.collected_until;
  end if;`])}
create trigger collector_watermark_settle_reservations after insert or update on collector_watermark
  for each row execute function quota_reservations_settle_by_watermark();
`),
  migration(31, "webhooks", `
-- Outbound webhooks (Standard Webhooks): per-tenant endpoints, a durable outbox written in the
-- same transaction as the change it announces, one delivery row per (message, endpoint), and a log
-- of every attempt. The dispatcher (src/webhooks/dispatcher.ts) sends each endpoint's messages in
-- outbox order, retrying the head with backoff: at least once, in order per tenant and endpoint.
create table webhook_endpoints (
  tenant text not null,
  name text not null,
  url text not null,
  -- whsec_<base64>: needed in clear to sign (HMAC); never returned by the API after creation.
  secret text not null,
  event_types text[] not null default '{}',
  enabled boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (tenant, name)
);

create table webhook_outbox (
  id bigint generated always as identity primary key,
  tenant text not null,
  -- The webhook-id header: the receiver's idempotency key (same id on every retry).
  event_id text not null,
  event_type text not null,
  payload jsonb not null,
  created_at timestamptz not null default now(),
  unique (tenant, event_id)
);

create table webhook_deliveries (
  outbox_id bigint not null references webhook_outbox (id) on delete cascade,
  tenant text not null,
  endpoint text not null,
  attempts integer not null default 0,
  next_attempt_at timestamptz not null default '-infinity',
  delivered_at timestamptz,
  last_status integer,
  last_error text,
  primary key (outbox_id, endpoint),
  foreign key (tenant, endpoint) references webhook_endpoints (tenant, name) on delete cascade
);
create index webhook_deliveries_pending on webhook_deliveries (tenant, endpoint, outbox_id) where delivered_at is null;

create table webhook_attempts (
  id bigint generated always as identity primary key,
  outbox_id bigint not null references webhook_outbox (id) on delete cascade,
  tenant text not null,
  endpoint text not null,
  attempt integer not null,
  attempted_at timestamptz not null,
  status integer,
  error text,
  duration_ms integer not null
);
create index webhook_attempts_tenant on webhook_attempts (tenant, id);

-- Thresholds of a quota period already announced, so each is sent once across replicas.
create table quota_threshold_events (
  tenant text not null,
  user_key text not null,
  kind text not null,
  period text not null,
  period_start timestamptz not null,
  threshold integer not null,
  primary key (tenant, user_key, kind, period, period_start, threshold)
);

create function maas_webhook_emit(p_tenant text, p_type text, p_event_id text, p_data jsonb) returns void language plpgsql as $$
declare
  message_id bigint;
begin
  insert into webhook_outbox (tenant, event_id, event_type, payload)
  values (p_tenant, p_event_id, p_type,
          jsonb_build_object('type', p_type, 'timestamp', to_char(now() at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), 'data', p_data))
  on conflict (tenant, event_id) do nothing
  returning id into message_id;
  if message_id is not null then
    insert into webhook_deliveries (outbox_id, tenant, endpoint)
    select message_id, p_tenant, e.name from webhook_endpoints e
     where e.tenant = p_tenant and e.enabled and (cardinality(e.event_types) = 0 or p_type = any (e.event_types));
  end if;
end $$;

-- invoice.created when a draft gets its number (createInvoice), invoice.finalized when it turns
-- final, metering.flagged when a draft carries counter resets or scrape gaps: in the invoice's
-- own transaction, whoever made the change (API, CLI, month-end close).
create function invoices_webhooks() returns trigger language plpgsql as $$
declare
  data jsonb := jsonb_build_object('invoiceId', NEW.id::text, 'number', NEW.number, 'tenant', NEW.tenant, 'period', NEW.period,
    'kind', NEW.kind, 'status', NEW.status, 'currency', NEW.currency, 'minorUnitDigits', NEW.minor_unit_digits,
    'totalMinor', NEW.total_minor::text, 'flags', NEW.flags);
begin
  if NEW.status = 'draft' and OLD.number is distinct from NEW.number and NEW.number like 'INV-%' then
    perform maas_webhook_emit(NEW.tenant, 'invoice.created', 'invoice.created/' || NEW.id, data);
    if coalesce((NEW.flags ->> 'counterResets')::int, 0) + coalesce((NEW.flags ->> 'scrapeGaps')::int, 0) > 0 then
      perform maas_webhook_emit(NEW.tenant, 'metering.flagged', 'metering.flagged/invoice/' || NEW.id, data);
    end if;
  elsif OLD.status = 'draft' and NEW.status = 'final' then
    perform maas_webhook_emit(NEW.tenant, 'invoice.finalized', 'invoice.finalized/' || NEW.id, data);
  end if;
  return null;
end $$;
create trigger invoices_webhooks after update on invoices for each row execute function invoices_webhooks();

-- metering.flagged when the collector flags a gateway/model-server disagreement.
${triggerFunction("reconciliation_webhooks", [
  `  if NEW.flagged and (TG_OP = 'INSERT' or not OLD.flagged) then
    perform maas_webhook_emit(NEW.tenant, 'metering.flagged', 'metering.flagged/reconciliation/' || NEW.reconciliation_key,
      jsonb_build_object('tenant', NEW.tenant, 'model', NEW.model, 'windowStart', NEW.window_start, 'windowEnd', NEW.window_end,
        'gatewayTokens', NEW.gateway_tokens::text, 'modelInputTokens', NEW.model_input_tokens::text,
        'modelOutputTokens', NEW.model_output_tokens::text, 'diffRatio', NEW.diff_ratio));
  end if;`])}
create trigger collector_reconciliation_webhooks after insert or update on collector_reconciliation
  for each row execute function reconciliation_webhooks();
`),
  migration(32, "month_end_closes", `
-- One row per closed month (src/close/month-end.ts): written when the close finished, so a second
-- run (another replica, a restart) sees the month closed and changes nothing.
create table month_end_closes (
  period text primary key check (period ~ '^[0-9]{4}-[0-9]{2}$'),
  finished_at timestamptz not null default now(),
  report jsonb not null
);
`),
  migration(11, "retention_as_owner", `
-- The app role may insert ledger event rows but not delete them (src/db/roles.ts); retention runs
-- with the rights of this function's owner (the role that ran the migrations) instead. A fixed
-- search_path so the caller cannot substitute its own tables.
alter function maas_billing_apply_retention(integer) security definer set search_path = public, pg_temp;
revoke execute on function maas_billing_apply_retention(integer) from public;
`),
  migration(10, "usage_events_tenant_scoped_key", `
-- Idempotency per (tenant, source, event_id) instead of (source, event_id): an event posted for one
-- tenant can no longer turn another tenant's event with the same (source, id) into a dropped
-- "duplicate", and the duplicate count answers only about the poster's own tenant
-- (docs/threat-model.md B1). Existing rows are unique on (source, event_id), hence on the new key
-- too: only the index is rebuilt. The ledger key of an event row stays ('events', source,
-- event_id), which is unique within a tenant, and every invoice is one tenant's: the lineage of
-- invoices issued before this migration keeps matching, so no adjustment bills a row twice.
alter table usage_events drop constraint usage_events_pkey;
alter table usage_events add primary key (tenant, source, event_id);
`),
  migration(70, "usage_rollup_for_invoices", `
-- Invoice drafts read what is already aggregated (issue 20): one row per (tenant, UTC hour, tier,
-- model, dimensions, origin) with the sums, the number of ledger rows, the collector's data-quality
-- counts and the first and last window start, i.e. everything a draft's line needs. It is kept by
-- the same statement-level triggers (and so the same statement and transaction) as the ledger
-- insert; no user dimension, so a tenant-month is at most 720 rows per (tier, model, dimensions)
-- however many events it holds. Hours in which a price version starts off the hour are read from
-- the ledger rows by the draft (src/invoices/draft-groups.ts), so every row is priced with the
-- version in force at its own window start. Finalizing copies the ledger rows behind the draft
-- into invoice_ledger_rows and refuses when they do not add up to the draft: the rollup can speed
-- a draft up but never change a final invoice.
create table usage_rollup (
  tenant text not null,
  hour timestamptz not null,
  tier text not null,
  model text not null,
  dimensions jsonb not null,
  origin text not null check (origin in ('events', 'collector')),
  input_tokens bigint not null,
  output_tokens bigint not null,
  requests bigint not null,
  ledger_rows bigint not null,
  resets bigint not null,
  gaps bigint not null,
  first_window timestamptz not null,
  last_window timestamptz not null,
  primary key (tenant, hour, tier, model, origin, dimensions)
);

-- One function per source table keeps both rollups (usage_hourly for quotas and metrics,
-- usage_rollup for invoices): one trigger invocation per insert statement.
${triggerFunction("usage_events_rollup", [hourlyInsert(USAGE_HOURLY, EVENTS), rollupInsert(EVENTS)], { orReplace: true })}

${triggerFunction("collector_usage_rollup_insert", [hourlyInsert(USAGE_HOURLY, COLLECTOR), rollupInsert(COLLECTOR)], { orReplace: true })}

-- UPDATE and DELETE of ledger rows. The collector's upsert (re-collection after late data) changes
-- only quantities: its rows keep tenant, window, tier, model, dimensions and billable, so the
-- rollup takes the difference (order-independent: in an INSERT ... ON CONFLICT DO UPDATE the
-- update's statement trigger fires before the insert's). Any statement that moves a row to
-- another bucket or removes it (retention, a correction by hand) rebuilds the (tenant, hour)
-- buckets it touched from the table itself, so counts and first/last window stay exact.
create function usage_rollup_rebuild(p_origin text, p_tenants text[], p_hours timestamptz[]) returns void language plpgsql as $$
begin
  delete from usage_rollup u using (select distinct * from unnest(p_tenants, p_hours) as t (tenant, hour)) t
   where u.origin = p_origin and u.tenant = t.tenant and u.hour = t.hour;
  if p_origin = 'events' then
    insert into usage_rollup (tenant, hour, tier, model, dimensions, origin, input_tokens, output_tokens, requests, ledger_rows, resets, gaps, first_window, last_window)
    select e.tenant, t.hour, e.tier, e.model, e.dimensions, 'events',
           sum(e.input_tokens), sum(e.output_tokens), sum(e.requests), count(*), 0, 0, min(e.event_time), max(e.event_time)
      from (select distinct * from unnest(p_tenants, p_hours) as t (tenant, hour)) t
      join usage_events e on e.tenant = t.tenant and e.event_time >= t.hour and e.event_time < t.hour + interval '1 hour'
     group by e.tenant, t.hour, e.tier, e.model, e.dimensions;
  else
    insert into usage_rollup (tenant, hour, tier, model, dimensions, origin, input_tokens, output_tokens, requests, ledger_rows, resets, gaps, first_window, last_window)
    select c.tenant, t.hour, coalesce(c.tier, ''), coalesce(c.model, ''), c.dimensions, 'collector',
           sum(c.input_tokens), sum(c.output_tokens), sum(c.requests), count(*), sum(c.resets), sum(c.gaps), min(c.window_start), max(c.window_start)
      from (select distinct * from unnest(p_tenants, p_hours) as t (tenant, hour)) t
      join collector_usage c on c.billable and c.tenant = t.tenant and c.window_start >= t.hour and c.window_start < t.hour + interval '1 hour'
     group by c.tenant, t.hour, coalesce(c.tier, ''), coalesce(c.model, ''), c.dimensions;
  end if;
end $$;

${rollupChangeFunction("usage_events_rollup_change", EVENTS, {
  sameBucket: `n.tenant = o.tenant and n.source = o.source and n.event_id = o.event_id
         and n.event_time = o.event_time and n.tier = o.tier and n.model = o.model and n.dimensions = o.dimensions`,
  signedRows: `      select tenant, event_time as t, tier, model, dimensions, input_tokens as i, output_tokens as o, requests as r from new_rows
      union all
      select tenant, event_time, tier, model, dimensions, -input_tokens, -output_tokens, -requests from old_rows`,
  rebuild: "usage_rollup_rebuild('events', tenants, hours)",
})}
create trigger usage_events_rollup_update after update on usage_events
  referencing old table as old_rows new table as new_rows for each statement execute function usage_events_rollup_change();
create trigger usage_events_rollup_delete after delete on usage_events
  referencing old table as old_rows for each statement execute function usage_events_rollup_change();

${rollupChangeFunction("collector_usage_rollup_change", COLLECTOR, {
  sameBucket: `n.idempotency_key = o.idempotency_key and n.tenant = o.tenant and n.billable = o.billable
         and n.window_start = o.window_start and n.tier is not distinct from o.tier and n.model is not distinct from o.model
         and n.dimensions = o.dimensions`,
  signedRows: `      select tenant, window_start as t, coalesce(tier, '') as tier, coalesce(model, '') as model, dimensions,
             input_tokens as i, output_tokens as o, requests as r, resets as res, gaps as gap from new_rows where billable
      union all
      select tenant, window_start, coalesce(tier, ''), coalesce(model, ''), dimensions,
             -input_tokens, -output_tokens, -requests, -resets, -gaps from old_rows where billable`,
  rebuild: "usage_rollup_rebuild('collector', tenants, hours)",
})}
create trigger collector_usage_rollup_change_update after update on collector_usage
  referencing old table as old_rows new table as new_rows for each statement execute function collector_usage_rollup_change();
create trigger collector_usage_rollup_change_delete after delete on collector_usage
  referencing old table as old_rows for each statement execute function collector_usage_rollup_change();

create function usage_rollup_truncate() returns trigger language plpgsql as $$
begin
  delete from usage_rollup where origin = case when TG_TABLE_NAME = 'usage_events' then 'events' else 'collector' end;
  return null;
end $$;
create trigger usage_events_rollup_truncate after truncate on usage_events
  for each statement execute function usage_rollup_truncate();
create trigger collector_usage_rollup_truncate after truncate on collector_usage
  for each statement execute function usage_rollup_truncate();

-- The rows stored before this migration.
${rollupBackfill(EVENTS, "usage_events")}
${rollupBackfill(COLLECTOR, "collector_usage")}

-- Lineage of a draft per line group: the ledger rows behind a group are exactly those of the
-- tenant with its tier, model and dimensions whose window starts in [window_from, window_to)
-- (the price version's time in force within the period). Finalizing snapshots them row by row
-- into invoice_ledger_rows. Immutable with its invoice like the lines.
create table invoice_line_groups (
  invoice_id bigint not null references invoices (id) on delete cascade,
  group_no integer not null,
  tier text not null,
  model text not null,
  dimensions jsonb not null,
  price_version_id text not null,
  window_from timestamptz not null,
  window_to timestamptz not null,
  ledger_rows bigint not null,
  input_tokens bigint not null,
  output_tokens bigint not null,
  requests bigint not null,
  primary key (invoice_id, group_no)
);
${statementTriggers("invoice_line_groups_immutable", "invoice_line_groups", "invoice_children_immutable_statement", ["insert", "update", "delete"])}
create trigger invoice_line_groups_no_truncate before truncate on invoice_line_groups for each statement execute function invoices_no_truncate();
`),
  migration(71, "time_indexes_brin", `
-- Ingest (issue 20): usage_events_time and usage_hourly_hour serve only range reads over whole
-- periods (retention's delete, the month-end close's tenant list, /metrics and the ledger cost),
-- never a lookup, and rows arrive in about time order: a BRIN index answers those ranges and costs
-- almost nothing per insert, where each btree entry cost a share of every batch
-- (billing-service/bench/ingest-profile.ts: best of 4 alternating runs, 50,000 events in batches
-- of 1,000 on a loaded machine, 2.53 s with the btrees, 2.04 s with BRIN).
drop index usage_events_time;
create index usage_events_time on usage_events using brin (event_time);
drop index if exists usage_hourly_hour;
create index usage_hourly_hour on usage_hourly using brin (hour);
`),
  migration(60, "access_log_usage", `
-- Per-request usage from the gateway's access logs (POST /v1/logs, OTLP; src/accesslog). One row per
-- request: record_id is a hash of what identifies the request (src/accesslog/records.ts), so a
-- retried batch or a copy through another collector replica is the same row, and the streaming
-- copy with tokens "0" and the one with the real usage fold into one (more tokens win).
-- Every record is kept: rate_limit and error records count requests by response_type and never bill
-- a request; billable rows (the platform's chosen source, docs/usage-sources.md) join the ledger.
create table access_log_usage (
  tenant text not null,
  source text not null,
  record_id text not null,
  time_unix_nano bigint not null,
  event_time timestamptz not null,
  user_id text,
  tier text not null,
  model text not null,
  key_id text,
  key_name text,
  organization_id text,
  groups text,
  response_code integer not null,
  response_type text not null,
  input_tokens bigint not null check (input_tokens >= 0),
  output_tokens bigint not null check (output_tokens >= 0),
  total_tokens bigint not null check (total_tokens >= 0),
  billable boolean not null,
  received_at timestamptz not null default now(),
  updated_at timestamptz,
  primary key (tenant, source, record_id)
);
create index access_log_usage_tenant_time on access_log_usage (tenant, event_time);
create index access_log_usage_time on access_log_usage (event_time);

-- What the ledger (view below) and the invoice rollup take from an access-log row: one definition
-- of its dimensions and of whether it is a ledger row (billable, and a served request or tokens).
create function access_log_dimensions(key_id text, key_name text, organization_id text) returns jsonb
  language sql immutable as $$ select jsonb_strip_nulls(jsonb_build_object('key_id', key_id, 'key_name', key_name, 'organization_id', organization_id)) $$;
create function access_log_in_ledger(billable boolean, response_type text, input_tokens bigint, output_tokens bigint) returns boolean
  language sql immutable as $$ select billable and (response_type = 'hit' or input_tokens + output_tokens > 0) $$;

${ledgerView(`  select 'access-log'::text, json_build_array('access-log', source, record_id)::text,
         source, tenant, user_id, tier, model, event_time, event_time,
         input_tokens, output_tokens, case when response_type = 'hit' then 1::bigint else 0::bigint end, 0, 0,
         access_log_dimensions(key_id, key_name, organization_id)
    from access_log_usage
   where access_log_in_ledger(billable, response_type, input_tokens, output_tokens)`)}

-- The hourly rollup, like the other ledger tables (inserts, and the upsert of a streaming copy).
${triggerFunction("access_log_usage_rollup_insert", [hourlyInsert(USAGE_HOURLY, ACCESS_LOG)])}
${triggerFunction("access_log_usage_rollup_update", [
  hourlyDelta(
    USAGE_HOURLY,
    `    select tenant, coalesce(user_id, '') as user_key, tier, model, date_trunc('hour', event_time) as hour,
           input_tokens as i, output_tokens as o, case when response_type = 'hit' then 1 else 0 end as r
      from new_rows where billable
    union all
    select tenant, coalesce(user_id, ''), tier, model, date_trunc('hour', event_time),
           -input_tokens, -output_tokens, -(case when response_type = 'hit' then 1 else 0 end)
      from old_rows where billable`,
  ),
])}
create trigger access_log_usage_rollup_insert after insert on access_log_usage
  referencing new table as new_rows for each statement execute function access_log_usage_rollup_insert();
create trigger access_log_usage_rollup_update after update on access_log_usage
  referencing old table as old_rows new table as new_rows for each statement execute function access_log_usage_rollup_update();

-- The invoice rollup (usage_rollup, migration 070) gets the access-log origin, kept by the same
-- statement-level triggers: drafts read it like the events' and the collector's rows. A row is in
-- the ledger (view above) when billable and a served request or carrying tokens; its bucket is
-- (tenant, UTC hour, tier, model, dimensions) with dimensions as the view writes them.
alter table usage_rollup drop constraint usage_rollup_origin_check;
alter table usage_rollup add constraint usage_rollup_origin_check check (origin in ('events', 'collector', 'access-log'));

create function access_log_rollup_rows(p_tenants text[], p_hours timestamptz[]) returns void language plpgsql as $$
begin
  -- Rebuilds the access-log buckets of the given (tenant, hour) pairs from the table itself.
  delete from usage_rollup u using (select distinct * from unnest(p_tenants, p_hours) as t (tenant, hour)) t
   where u.origin = 'access-log' and u.tenant = t.tenant and u.hour = t.hour;
  insert into usage_rollup (tenant, hour, tier, model, dimensions, origin, input_tokens, output_tokens, requests, ledger_rows, resets, gaps, first_window, last_window)
  select a.tenant, t.hour, a.tier, a.model,
         access_log_dimensions(a.key_id, a.key_name, a.organization_id), 'access-log',
         sum(a.input_tokens), sum(a.output_tokens), sum(case when a.response_type = 'hit' then 1 else 0 end), count(*), 0, 0, min(a.event_time), max(a.event_time)
    from (select distinct * from unnest(p_tenants, p_hours) as t (tenant, hour)) t
    join access_log_usage a on a.tenant = t.tenant and a.event_time >= t.hour and a.event_time < t.hour + interval '1 hour'
   where access_log_in_ledger(a.billable, a.response_type, a.input_tokens, a.output_tokens)
   group by 1, 2, 3, 4, 5;
end $$;

${triggerFunction("access_log_usage_invoice_rollup_insert", [rollupInsert(ACCESS_LOG)])}

-- UPDATE (the streaming copy's fold: more tokens, maybe another response type) and DELETE. When no
-- row changes its bucket or whether it is in the ledger, the rollup takes the difference;
-- otherwise the touched (tenant, hour) buckets are rebuilt from the table, so counts and first/last
-- window stay exact.
${rollupChangeFunction("access_log_usage_invoice_rollup_change", ACCESS_LOG, {
  sameBucket: `n.tenant = o.tenant and n.source = o.source and n.record_id = o.record_id
         and n.event_time = o.event_time and n.tier = o.tier and n.model = o.model
         and n.key_id is not distinct from o.key_id and n.key_name is not distinct from o.key_name
         and n.organization_id is not distinct from o.organization_id
         and (access_log_in_ledger(n.billable, n.response_type, n.input_tokens, n.output_tokens))
             = (access_log_in_ledger(o.billable, o.response_type, o.input_tokens, o.output_tokens))`,
  signedRows: `      select tenant, event_time as t, tier, model,
             access_log_dimensions(key_id, key_name, organization_id) as dimensions,
             input_tokens as i, output_tokens as o, case when response_type = 'hit' then 1 else 0 end as r
        from new_rows where access_log_in_ledger(billable, response_type, input_tokens, output_tokens)
      union all
      select tenant, event_time, tier, model,
             access_log_dimensions(key_id, key_name, organization_id),
             -input_tokens, -output_tokens, -(case when response_type = 'hit' then 1 else 0 end)
        from old_rows where access_log_in_ledger(billable, response_type, input_tokens, output_tokens)`,
  rebuild: "access_log_rollup_rows(tenants, hours)",
})}
${statementTrigger("access_log_usage_invoice_rollup_insert", "insert", "access_log_usage", "access_log_usage_invoice_rollup_insert")}
${statementTrigger("access_log_usage_invoice_rollup_update", "update", "access_log_usage", "access_log_usage_invoice_rollup_change")}
${statementTrigger("access_log_usage_invoice_rollup_delete", "delete", "access_log_usage", "access_log_usage_invoice_rollup_change")}
create function access_log_usage_invoice_rollup_truncate() returns trigger language plpgsql as $$
begin
  delete from usage_rollup where origin = 'access-log';
  return null;
end $$;
create trigger access_log_usage_invoice_rollup_truncate after truncate on access_log_usage
  for each statement execute function access_log_usage_invoice_rollup_truncate();

-- Invoices split by API key (splitBy "key"): the draft's line groups keep the key in their
-- dimensions, and finalizing matches the ledger rows behind them with or without it.
alter table invoice_line_groups add column key_split boolean not null default false;
`),
  migration(61, "access_log_key_hourly", `
-- Billable access-log usage per API key and hour (for maas_billing_key_usage_*: the per-key panel),
-- kept by the same statement-level triggers as usage_hourly, so /metrics never scans the access log.
create table access_log_key_hourly (
  tenant text not null,
  key_id text not null,
  key_name text not null,
  model text not null,
  hour timestamptz not null,
  input_tokens bigint not null,
  output_tokens bigint not null,
  requests bigint not null,
  primary key (tenant, key_id, key_name, model, hour)
);
${triggerFunction("access_log_key_rollup", [
  hourlyDelta(
    KEY_HOURLY,
    `    select tenant, coalesce(key_id, '') as key_id, coalesce(key_name, '') as key_name, model, date_trunc('hour', event_time) as hour,
           input_tokens as i, output_tokens as o, case when response_type = 'hit' then 1 else 0 end as r
      from new_rows where billable
    union all
    select tenant, coalesce(key_id, ''), coalesce(key_name, ''), model, date_trunc('hour', event_time),
           -input_tokens, -output_tokens, -(case when response_type = 'hit' then 1 else 0 end)
      from old_rows where billable`,
  ),
])}
${triggerFunction("access_log_key_rollup_insert", [hourlyInsert(KEY_HOURLY, ACCESS_LOG)])}
create trigger access_log_key_rollup_insert after insert on access_log_usage
  referencing new table as new_rows for each statement execute function access_log_key_rollup_insert();
create trigger access_log_key_rollup_update after update on access_log_usage
  referencing old table as old_rows new table as new_rows for each statement execute function access_log_key_rollup();
insert into access_log_key_hourly (tenant, key_id, key_name, model, hour, input_tokens, output_tokens, requests)
select tenant, coalesce(key_id, ''), coalesce(key_name, ''), model, date_trunc('hour', event_time),
       sum(input_tokens), sum(output_tokens), sum(case when response_type = 'hit' then 1 else 0 end)
  from access_log_usage where billable group by 1, 2, 3, 4, 5;
`),
  migration(33, "retention_covers_every_ledger_table", `
-- Retention (migration 006) deleted only usage_events and usage_hourly: the gateway's access-log
-- rows (060) with their per-key rollup (061), and the collector's billable rows, stayed forever.
-- Same semantics for all: rows whose time (event time, window start, hour) is before the first
-- day of the month \`months\` months ago go. The invoice rollup (usage_rollup, 070) follows by the
-- tables' own DELETE triggers, which rebuild every (tenant, hour) bucket the delete touched from
-- the rows left, so drafts never price deleted rows and keep pricing the rest. access_log_key_hourly
-- has no DELETE trigger (like usage_hourly it is deleted by hour here). Final invoices keep their
-- snapshot rows (invoice_ledger_rows). CREATE OR REPLACE keeps the grants, not the attributes:
-- security definer and the fixed search_path (011) are restated.
${retentionFunction(RETENTION_033)}
`),
  migration(62, "ledger_rollup_queue", `
-- Ingest speed (issue 20): the hourly rollups (usage_hourly for quotas and /metrics,
-- access_log_key_hourly for the per-key panel, usage_rollup for invoice drafts) were upserted by
-- the ledger insert's own statement triggers, one rollup row per (tenant, user, tier, model, hour)
-- or (key, hour) touched, i.e. up to three upserts per inserted row: about two thirds of the
-- insert's cost (bench/otlp-profile.ts). Now the insert appends the rows' rollup columns to this
-- queue (a heap without indexes: cheap appends), in the same statement and transaction as the
-- ledger rows, and ledger_rollup_drain() folds the queue into the rollups in the background
-- (serve, every second) many batches at a time.
--
-- Nothing reads a rollup without its queue: the *_current views below are rollup + queue, so a
-- quota, a metric or a draft sees a committed row in the same statement as its ledger row (no
-- staleness added; a reservation settled by its event is seen as the usage in the same snapshot,
-- migration 30). Rebuilding rollup buckets from the ledger tables (a moved or deleted row) drains
-- the queue first, so a row is never counted in both.
-- Rows: every usage event; billable access-log rows (in_ledger: what the ledger view counts).
-- The collector's few rows per window keep their synchronous triggers.
create table ledger_rollup_queue (
  origin text not null check (origin in ('events', 'access-log')),
  tenant text not null,
  user_key text not null,
  tier text not null,
  model text not null,
  event_time timestamptz not null,
  -- usage_rollup dimensions of an event; access-log rows keep their key columns instead
  -- (access_log_dimensions() at drain time: the append stays cheap).
  dimensions jsonb,
  key_id text,
  key_name text,
  organization_id text,
  in_ledger boolean not null,
  -- +1 for a row that arrives, -1 for the old version of a row an update changed (its amounts negated).
  ledger_rows bigint not null default 1,
  input_tokens bigint not null,
  output_tokens bigint not null,
  requests bigint not null
);

create or replace function usage_events_rollup() returns trigger language plpgsql as $$
begin
  insert into ledger_rollup_queue (origin, tenant, user_key, tier, model, event_time, dimensions, in_ledger, input_tokens, output_tokens, requests)
  select 'events', tenant, coalesce(user_id, ''), tier, model, event_time, dimensions, true, input_tokens, output_tokens, requests from new_rows;
  return null;
end $$;

create or replace function access_log_usage_rollup_insert() returns trigger language plpgsql as $$
begin
  insert into ledger_rollup_queue (origin, tenant, user_key, tier, model, event_time, key_id, key_name, organization_id, in_ledger, input_tokens, output_tokens, requests)
  select 'access-log', tenant, coalesce(user_id, ''), tier, model, event_time, key_id, key_name, organization_id,
         access_log_in_ledger(billable, response_type, input_tokens, output_tokens),
         input_tokens, output_tokens, case when response_type = 'hit' then 1 else 0 end
    from new_rows where billable;
  return null;
end $$;
-- The queue row above feeds all three rollups: the two other insert triggers go.
drop trigger access_log_key_rollup_insert on access_log_usage;
drop function access_log_key_rollup_insert();
drop trigger access_log_usage_invoice_rollup_insert on access_log_usage;
drop function access_log_usage_invoice_rollup_insert();

-- UPDATE (a streaming copy's fold) queues the difference too: the old version negated, the new one,
-- so an ingest statement never writes a rollup row itself (no lock order between concurrent
-- batches and the drain). When a row changes its bucket or whether it is in the ledger, the
-- usage_rollup buckets it touched are rebuilt from the table instead (the queued difference then
-- feeds usage_hourly and the key rollup only). DELETE rebuilds, as before.
create or replace function access_log_usage_invoice_rollup_change() returns trigger language plpgsql as $$
declare
  tenants text[];
  hours timestamptz[];
  moved boolean := true;
begin
  if TG_OP = 'UPDATE' then
    moved := exists (
      select 1 from old_rows o where not exists (
        select 1 from new_rows n where n.tenant = o.tenant and n.source = o.source and n.record_id = o.record_id
           and n.event_time = o.event_time and n.tier = o.tier and n.model = o.model
           and n.key_id is not distinct from o.key_id and n.key_name is not distinct from o.key_name
           and n.organization_id is not distinct from o.organization_id
           and (access_log_in_ledger(n.billable, n.response_type, n.input_tokens, n.output_tokens))
               = (access_log_in_ledger(o.billable, o.response_type, o.input_tokens, o.output_tokens))));
    insert into ledger_rollup_queue (origin, tenant, user_key, tier, model, event_time, key_id, key_name, organization_id, in_ledger, ledger_rows, input_tokens, output_tokens, requests)
    select 'access-log', tenant, coalesce(user_id, ''), tier, model, event_time, key_id, key_name, organization_id,
           not moved and access_log_in_ledger(billable, response_type, input_tokens, output_tokens), 1,
           input_tokens, output_tokens, case when response_type = 'hit' then 1 else 0 end
      from new_rows where billable
    union all
    select 'access-log', tenant, coalesce(user_id, ''), tier, model, event_time, key_id, key_name, organization_id,
           not moved and access_log_in_ledger(billable, response_type, input_tokens, output_tokens), -1,
           -input_tokens, -output_tokens, -(case when response_type = 'hit' then 1 else 0 end)
      from old_rows where billable;
    if not moved then
      return null;
    end if;
    select array_agg(tenant), array_agg(h) into tenants, hours from (
      select tenant, date_trunc('hour', event_time, 'UTC') as h from old_rows
      union select tenant, date_trunc('hour', event_time, 'UTC') from new_rows) b;
  else
    select array_agg(tenant), array_agg(h) into tenants, hours from (
      select distinct tenant, date_trunc('hour', event_time, 'UTC') as h from old_rows) b;
  end if;
  perform access_log_rollup_rows(tenants, hours);
  return null;
end $$;
drop trigger access_log_usage_rollup_update on access_log_usage;
drop function access_log_usage_rollup_update();
drop trigger access_log_key_rollup_update on access_log_usage;
drop function access_log_key_rollup();

-- Whatever else writes a rollup row synchronously (the collector's triggers, the events' update
-- and delete triggers, truncation) takes the drain's lock for its transaction first, so two
-- writers of rollup rows never wait for each other in opposite orders. Ingest statements do not
-- take it: they only append to the queue.
create function ledger_rollup_lock() returns trigger language plpgsql as $$
begin
  perform pg_advisory_xact_lock(hashtext('maas-billing-ledger-rollup-drain'));
  return null;
end $$;
create trigger usage_events_rollup_lock before update or delete or truncate on usage_events
  for each statement execute function ledger_rollup_lock();
create trigger collector_usage_rollup_lock before insert or update or delete or truncate on collector_usage
  for each statement execute function ledger_rollup_lock();
create trigger access_log_usage_rollup_lock before delete or truncate on access_log_usage
  for each statement execute function ledger_rollup_lock();

-- Folds the queue into the rollups: the same sums, buckets and conflict rules as the insert
-- triggers had (usage_hourly: date_trunc in the session's time zone, as before; usage_rollup: UTC
-- hours). One drain at a time (transaction advisory lock): wait => block for it (a rebuild must
-- see an empty queue), otherwise return 0 when another drain runs. Returns the rows folded.
-- work_mem: a second's queue (tens of thousands of rows) aggregated in memory, not spilled.
${rollupDrainFunction("create", `  invoices as (
    insert into usage_rollup as u (tenant, hour, tier, model, dimensions, origin, input_tokens, output_tokens, requests, ledger_rows, resets, gaps, first_window, last_window)
    select tenant, date_trunc('hour', event_time, 'UTC'), tier, model, coalesce(dimensions, access_log_dimensions(key_id, key_name, organization_id)), origin,
           sum(input_tokens), sum(output_tokens), sum(requests), sum(ledger_rows), 0, 0, min(event_time), max(event_time)
      from q where in_ledger group by 1, 2, 3, 4, 5, 6
${DRAIN_ROLLUP_CONFLICT}
`)}

-- What every reader reads: the rollup plus the rows still queued (readers aggregate anyway).
create view usage_hourly_current as
  select tenant, user_key, tier, model, hour, input_tokens, output_tokens, requests from usage_hourly
  union all
  select tenant, user_key, tier, model, date_trunc('hour', event_time), input_tokens, output_tokens, requests from ledger_rollup_queue;
create view access_log_key_hourly_current as
  select tenant, key_id, key_name, model, hour, input_tokens, output_tokens, requests from access_log_key_hourly
  union all
  select tenant, coalesce(key_id, ''), coalesce(key_name, ''), model, date_trunc('hour', event_time), input_tokens, output_tokens, requests
    from ledger_rollup_queue where origin = 'access-log';
create view usage_rollup_current as
  select tenant, hour, tier, model, dimensions, origin, input_tokens, output_tokens, requests, ledger_rows, resets, gaps, first_window, last_window from usage_rollup
  union all
  select tenant, date_trunc('hour', event_time, 'UTC'), tier, model, coalesce(dimensions, access_log_dimensions(key_id, key_name, organization_id)), origin,
         input_tokens, output_tokens, requests, ledger_rows, 0, 0, event_time, event_time
    from ledger_rollup_queue where in_ledger;

-- Rebuilding buckets from the ledger tables: fold the queue first (a queued row is in the table
-- already). The rebuilds of migrations 070/060 keep their bodies under new names; the names their
-- callers use now fold, then rebuild.
alter function usage_rollup_rebuild(text, text[], timestamptz[]) rename to usage_rollup_rebuild_from_tables;
create function usage_rollup_rebuild(p_origin text, p_tenants text[], p_hours timestamptz[]) returns void language plpgsql as $$
begin
  perform ledger_rollup_drain(true);
  perform usage_rollup_rebuild_from_tables(p_origin, p_tenants, p_hours);
end $$;
alter function access_log_rollup_rows(text[], timestamptz[]) rename to access_log_rollup_rows_from_table;
create function access_log_rollup_rows(p_tenants text[], p_hours timestamptz[]) returns void language plpgsql as $$
begin
  perform ledger_rollup_drain(true);
  perform access_log_rollup_rows_from_table(p_tenants, p_hours);
end $$;

-- TRUNCATE of a ledger table takes its queued rows along.
create or replace function usage_rollup_truncate() returns trigger language plpgsql as $$
begin
  delete from usage_rollup where origin = case when TG_TABLE_NAME = 'usage_events' then 'events' else 'collector' end;
  if TG_TABLE_NAME = 'usage_events' then delete from ledger_rollup_queue where origin = 'events'; end if;
  return null;
end $$;
create or replace function access_log_usage_invoice_rollup_truncate() returns trigger language plpgsql as $$
begin
  delete from usage_rollup where origin = 'access-log';
  delete from ledger_rollup_queue where origin = 'access-log';
  return null;
end $$;

-- The event-time index of access-log rows serves range reads only (retention, time windows):
-- BRIN like usage_events_time (migration 071); rows arrive in time order.
drop index access_log_usage_time;
create index access_log_usage_time on access_log_usage using brin (event_time);
`),
  migration(63, "access_log_pull_watermark", `
-- The optional pull of access logs from Loki (src/accesslog/loki.ts): per source, the end (Unix
-- nanoseconds, exclusive) of the last window pulled, written in the same transaction as the rows.
create table access_log_pull_watermark (
  source text primary key,
  pulled_until_ns bigint not null,
  updated_at timestamptz not null default now()
);
`),
  migration(64, "ledger_rollup_drain_dimensions_per_group", `
-- Ingest speed (issue 20): the fold of the rollup queue (migration 062) built an access-log row's
-- invoice dimensions (access_log_dimensions(): a jsonb object) once per queued row, then grouped
-- by that jsonb: about 60% of the fold's CPU for access-log rows (bench/otlp-profile.ts). Now the
-- queue is grouped by the plain key columns first and the dimensions are built once per group.
-- Same buckets and sums: within one origin, distinct (dimensions, key_id, key_name,
-- organization_id) give distinct dimensions (events carry dimensions and no key columns;
-- access-log rows carry key columns and no dimensions, and jsonb_strip_nulls of an object with
-- those three keys differs whenever one of them does), so no two groups fold into one row.

${rollupDrainFunction("create or replace", DRAIN_INVOICES_PER_GROUP)}
`),
  migration(65, "ledger_rollup_drain_partitions", `
-- Ingest speed (issue 20): one fold at a time (062) made the fold a single-connection stage. With
-- the bench's events (about one usage_hourly row per event) it costs PostgreSQL about as much per
-- event as the ledger insert itself, on one backend, so at ingest rates above what one backend
-- folds the queue grows and the rest of the machine waits for it. Now the queue folds in tenant
-- partitions: every rollup key (usage_hourly, access_log_key_hourly, usage_rollup) holds the
-- tenant, so folds of different partitions never write the same rollup row, and they run at the
-- same time on different connections (serve runs two; db/rollup-drain.ts).
--
-- Locks: a partition fold holds the drain lock SHARED and its partition's lock exclusively, and
-- never waits (0 when either is taken). Everything that took the drain lock before still takes it
-- exclusively: the full drain ledger_rollup_drain(wait) (rebuilds, tests, benches, older
-- replicas), and the synchronous rollup writers (ledger_rollup_lock(): the collector, updates and
-- deletes of events, truncation). So none of those runs beside a partition fold, as before, and
-- two partition folds touch disjoint queue rows and disjoint rollup rows.
-- The partition of a tenant: hashtext is stable for a text value across sessions and servers of
-- one major version; the count is fixed here (a later migration may change both functions together).
create function ledger_rollup_parts() returns integer language sql immutable parallel safe as $$ select 2 $$;
create function ledger_rollup_part(p_tenant text) returns integer language sql immutable parallel safe as $$
  select (hashtext(p_tenant) & 2147483647) % ledger_rollup_parts()
$$;

${rollupDrainPartFunction(DRAIN_INVOICES_PER_GROUP)}

-- The whole queue in one fold, with the same counts (serve's loop while the queue aggregates well).
${rollupDrainCountedFunction(DRAIN_INVOICES_PER_GROUP)}
`),
  migration(66, "rollup_fillfactor_hot_folds", `
-- Ingest speed (issues 18 and 20, session 6): every fold of the rollup queue adds into the rollup
-- rows of the buckets it touches, so while usage arrives in real time each row of the current hour
-- is updated once a second (the access-log bench: about 11,000 rollup rows per fold). On full
-- pages (fillfactor 100) none of those updates was HOT: each wrote a new row version elsewhere
-- plus a new entry in the primary key (5 or 6 columns, usage_rollup's with a jsonb), and the next
-- upsert of the bucket walked the dead versions. Half-filled pages leave room for the new version
-- of every row on its own page: the updates become HOT (no index entry; the previous fold's
-- versions are pruned on the page), measured in docs/reliability.md ("Ingest, session 6").
-- The tables take twice the pages; readers read them by key or hour range, as before. Pages
-- written before this migration keep their fill until rewritten (VACUUM FULL or pg_repack); the
-- current hour's rows, the ones updated, are on new pages after an hour.
alter table usage_hourly set (fillfactor = 50);
alter table access_log_key_hourly set (fillfactor = 50);
alter table usage_rollup set (fillfactor = 50);
`),
  migration(67, "access_log_usage_time_in_key", `
-- Ingest speed (issues 18 and 20, session 6): an access-log row cost two btrees, the primary key
-- (tenant, source, record_id), where record_id is a SHA-256 in hex (a random place in the index
-- for every insert), and (tenant, event_time) for the readers' tenant and time ranges. One index
-- now does both: the primary key (tenant, event_time, source, record_id). Inserts arrive in time
-- order, so they go to the end of each tenant's range.
--
-- Same idempotency: a row's record_id is a hash over the record's time (recordIdentity in
-- src/accesslog/records.ts hashes the very nanoseconds stored as time_unix_nano), and event_time is
-- a function of time_unix_nano (access_log_event_time below, eventTimeOfNanos in
-- src/accesslog/store.ts: test/accesslog-time-key.test.ts holds them equal). So two rows with
-- the same (tenant, source, record_id) have the same event_time unless SHA-256 collides (the
-- argument the record id already rests on), and the new key refuses exactly what the old one did.
-- The upsert's conflict target is the new key; its event_time comes from access_log_event_time.
--
-- Exact: to_timestamp(0) + (ns / 1000) * interval '1 microsecond' (the upsert before this
-- migration) goes through a float8 and can be 1 microsecond off after 2255 (2^53 microseconds);
-- whole seconds times 1,000,000 are even integers below 2^54, which a float8 holds exactly.
create function access_log_event_time(ns bigint) returns timestamptz language sql immutable parallel safe as $$
  select to_timestamp(0) + (ns / 1000000000) * interval '1 second' + (ns % 1000000000 / 1000) * interval '1 microsecond'
$$;
-- Rows the old upsert stored a microsecond off (records dated 2255-2262 only) get the exact time
-- first, so a retry of them after this migration (COPY or upsert: both exact now) meets them in the key.
update access_log_usage set event_time = access_log_event_time(time_unix_nano)
 where event_time <> access_log_event_time(time_unix_nano);
alter table access_log_usage drop constraint access_log_usage_pkey;
alter table access_log_usage add primary key (tenant, event_time, source, record_id);
drop index access_log_usage_tenant_time;
`),
  migration(68, "access_log_rows_inserted_check", `
-- Ingest speed (issues 18 and 20, session 7): a POST /v1/logs batch was stored in four round trips
-- to PostgreSQL (begin; copy; commit, the COPY being two), and each waits for serve's event loop,
-- which decodes the other requests in flight meanwhile. The row-count check that stands behind
-- COPY's escaping (threat model B7: a value that escaped copyText and split into rows of its own
-- is undone) had to run in serve between the COPY and the commit. It now runs in the database, so
-- one query string does begin; copy; check; commit (src/db/copy-first.ts, two round trips):
-- every insert into access_log_usage notes how many rows it stored, for its transaction only, and
-- maas_billing_expect_rows_inserted(n) fails the transaction unless the last insert stored n.
create function maas_billing_note_rows_inserted() returns trigger language plpgsql as $$
begin
  perform set_config('maas_billing.rows_inserted', (select count(*) from new_rows)::text, true);
  return null;
end $$;
create trigger access_log_usage_rows_inserted after insert on access_log_usage
  referencing new table as new_rows for each statement execute function maas_billing_note_rows_inserted();
create procedure maas_billing_expect_rows_inserted(expected bigint) language plpgsql as $$
declare
  stored text := nullif(current_setting('maas_billing.rows_inserted', true), '');
begin
  if stored is distinct from expected::text then
    raise exception 'the insert stored % rows of a batch of %: nothing stored', coalesce(stored, 'no count of'), expected
      using errcode = 'MB001';
  end if;
end $$;
`),
  migration(72, "usage_user_daily", `
-- Ingest speed (issue 20, session 7): usage_hourly kept a row per (tenant, user, tier, model,
-- hour), so with many users each event could be a rollup row of its own (the events bench: 0.84
-- new rows per event, about 8 microseconds of PostgreSQL each, a third of its cost per event).
-- Its readers need per-user usage only by UTC day: the quota refresh (src/quota/usage.ts) sums a
-- user's usage of the current UTC day and month, priced at the version in force (per-user cost
-- quotas); /metrics, the ledger cost and the portal read per tenant, tier and model. So:
--   - usage_hourly: per (tenant, tier, model, hour), user_key always '' (the column and the key
--     stay, so the table and a TimescaleDB hypertable keep their shape);
--   - usage_user_daily: per (tenant, user, tier, model, UTC day), rows with a user only.
-- A day's rows can be priced exactly when no price version starts inside it (off midnight UTC);
-- the quota refresh reads such days' per-user usage from the ledger (quota/usage.ts).
create table usage_user_daily (
  tenant text not null,
  user_key text not null,
  tier text not null,
  model text not null,
  day timestamptz not null,
  input_tokens bigint not null,
  output_tokens bigint not null,
  requests bigint not null,
  primary key (tenant, user_key, tier, model, day)
) with (fillfactor = 50);

-- Nothing writes the ledger while its rollups change form (ingest waits for this transaction):
-- the queue is folded the old way first, then the rows stored so far are rolled up anew from the
-- tables, so no row is counted twice or missed.
lock table usage_events, collector_usage, access_log_usage in share mode;
select ledger_rollup_drain(true);
with per_user as (delete from usage_hourly where user_key <> '' returning tenant, tier, model, hour, input_tokens, output_tokens, requests)
insert into usage_hourly as h (tenant, user_key, tier, model, hour, input_tokens, output_tokens, requests)
select tenant, '', tier, model, hour, sum(input_tokens), sum(output_tokens), sum(requests) from per_user group by 1, 2, 3, 4, 5
on conflict (tenant, user_key, tier, model, hour) do update
  set input_tokens = h.input_tokens + excluded.input_tokens,
      output_tokens = h.output_tokens + excluded.output_tokens,
      requests = h.requests + excluded.requests;
${hourlyInsert(USER_DAILY, EVENTS, { indent: "", from: "usage_events" })}
${hourlyInsert(USER_DAILY, COLLECTOR, { indent: "", from: "collector_usage" })}
${hourlyInsert(USER_DAILY, ACCESS_LOG, { indent: "", from: "access_log_usage" })}

-- The collector's synchronous triggers (002, 070).
${triggerFunction("collector_usage_rollup_insert", [hourlyInsert(TENANT_HOURLY, COLLECTOR), hourlyInsert(USER_DAILY, COLLECTOR), rollupInsert(COLLECTOR)], { orReplace: true })}
${triggerFunction(
  "collector_usage_rollup_update",
  [
    hourlyDelta(
      TENANT_HOURLY,
      collectorSignedRows({ user: "''", userAs: "''::text", bucket: "date_trunc('hour', window_start)", as: "hour", only: "" }),
    ),
    hourlyDelta(
      USER_DAILY,
      collectorSignedRows({ user: "user_id", userAs: "user_id", bucket: "date_trunc('day', window_start, 'UTC')", as: "day", only: " and user_id <> ''" }),
    ),
  ],
  { orReplace: true },
)}

-- The folds of the queue (062, 064, 065): same locks and invoice rollup, the new per-user form.
${rollupDrainFunction("create or replace", DRAIN_INVOICES_PER_GROUP, "daily")}
${rollupDrainCountedFunction(DRAIN_INVOICES_PER_GROUP, "daily")}
${rollupDrainPartFunction(DRAIN_INVOICES_PER_GROUP, "daily")}

-- What readers read: the rollups plus the rows still queued (as 062's views).
create or replace view usage_hourly_current as
  select tenant, user_key, tier, model, hour, input_tokens, output_tokens, requests from usage_hourly
  union all
  select tenant, ''::text, tier, model, date_trunc('hour', event_time), input_tokens, output_tokens, requests from ledger_rollup_queue;
create view usage_user_daily_current as
  select tenant, user_key, tier, model, day, input_tokens, output_tokens, requests from usage_user_daily
  union all
  select tenant, user_key, tier, model, date_trunc('day', event_time, 'UTC'), input_tokens, output_tokens, requests
    from ledger_rollup_queue where user_key <> '';

-- Retention (033) deletes the days wholly before the cutoff too (a day the cutoff falls inside, in
-- a server time zone off UTC, keeps its row). security definer and search_path restated (011).
${retentionFunction([...RETENTION_033.slice(0, 4), ["usage_user_daily", "day + interval '1 day' <= cutoff"], ...RETENTION_033.slice(4)])}
`),
  migration(73, "usage_user_daily_price_pieces", `
-- Quota refresh cost (review R1): usage_user_daily (072) held a row per user and UTC day, which
-- one price version prices only when no version starts inside the day, so the refresh read a day
-- with a change off midnight from the ledger rows (a change off the hour: the whole month, tenants
-- too), every second on every replica. Now a row is a price piece of a day: it starts at the later
-- of the UTC day's start and the last price change point at or before its rows (price_change_points:
-- the price book's version starts off midnight, written by serve at start, quota/price-points.ts),
-- so every piece is priced by exactly one version, whatever second the versions start at. It also
-- holds usage without a user (user_key ''): a tenant's total is the sum of its rows, and the refresh
-- reads this table alone (quota/usage.ts). A refresh reads a few rows per (tenant, user, tier,
-- model, day) whatever the ledger holds. Column "day" keeps its name (and the key its shape): the
-- piece's start, a day's start unless a change point lies inside the day.
--
-- Review R6: usage_hourly bucketed by date_trunc('hour', t) in the session's time zone, so on a
-- server whose TimeZone is off UTC by a fraction of an hour (Asia/Kolkata, +05:30) its hours
-- straddled UTC hours (and days and months). Now by UTC hour in the SQL itself: no server or role
-- setting can move the buckets again.
create table price_change_points (
  at timestamptz primary key
);
-- All points, sorted (few: one per price version ever started off midnight).
create function price_cut_points() returns timestamptz[] language sql stable parallel safe as $$
  select coalesce(array_agg(at order by at), '{}') from price_change_points
$$;
-- The piece holding t: width_bucket(t, points) is how many points are <= t (0: none, and
-- points[0] is null, which greatest ignores). The fold, the triggers and the view write the same
-- expression out (migration-sql.ts pricePiece: a call per row would not be inlined); this is it
-- for readers and tests.
create function price_piece(t timestamptz, points timestamptz[]) returns timestamptz language sql immutable parallel safe as $$
  select greatest(date_trunc('day', t, 'UTC'), points[width_bucket(t, points)])
$$;

-- Nothing writes the ledger while the rollups change form (as in 072): the queue folded the 072
-- way first, then the rows without a user added from the tables (no change points yet: whole days).
lock table usage_events, collector_usage, access_log_usage in share mode;
select ledger_rollup_drain(true);
insert into usage_user_daily (tenant, user_key, tier, model, day, input_tokens, output_tokens, requests)
select tenant, '', tier, model, date_trunc('day', t, 'UTC'), sum(i), sum(o), sum(r) from (
  select tenant, tier, model, event_time as t, input_tokens as i, output_tokens as o, requests as r
    from usage_events where coalesce(user_id, '') = ''
  union all
  select tenant, coalesce(tier, ''), coalesce(model, ''), window_start, input_tokens, output_tokens, requests
    from collector_usage where billable and coalesce(user_id, '') = ''
  union all
  select tenant, tier, model, event_time, input_tokens, output_tokens, case when response_type = 'hit' then 1 else 0 end
    from access_log_usage where billable and coalesce(user_id, '') = ''
) d group by 1, 2, 3, 4, 5;

-- R6: usage_hourly rows a session off UTC by a fraction of an hour bucketed ([B, B + 1 hour) with B
-- off a UTC hour) go, and their ledger rows are added back by UTC hour. Exact when each such row
-- holds the ledger rows of its hour (what date_trunc in one time zone made); a server on a zone
-- with whole-hour offsets has none of them.
create temporary table r6_hours on commit drop as
  with off as (delete from usage_hourly where hour <> date_trunc('hour', hour, 'UTC') returning tenant, tier, model, hour)
  select distinct tenant, tier, model, hour from off;
insert into usage_hourly as h (tenant, user_key, tier, model, hour, input_tokens, output_tokens, requests)
select d.tenant, '', d.tier, d.model, date_trunc('hour', d.t, 'UTC'), sum(i), sum(o), sum(r) from (
  select tenant, tier, model, event_time as t, input_tokens as i, output_tokens as o, requests as r from usage_events
  union all
  select tenant, coalesce(tier, ''), coalesce(model, ''), window_start, input_tokens, output_tokens, requests from collector_usage where billable
  union all
  select tenant, tier, model, event_time, input_tokens, output_tokens, case when response_type = 'hit' then 1 else 0 end from access_log_usage where billable
) d join r6_hours b on d.tenant = b.tenant and d.tier = b.tier and d.model = b.model and d.t >= b.hour and d.t < b.hour + interval '1 hour'
group by 1, 2, 3, 4, 5
on conflict (tenant, user_key, tier, model, hour) do update
  set input_tokens = h.input_tokens + excluded.input_tokens,
      output_tokens = h.output_tokens + excluded.output_tokens,
      requests = h.requests + excluded.requests;
-- The same for the per-key panel's rollup (access_log_key_hourly, 061; review S4): its rows off a
-- UTC hour go, and the billable access-log rows of those hours come back by UTC hour (the queue is
-- empty: folded above, writes locked out).
create temporary table r6_key_hours on commit drop as
  with off as (delete from access_log_key_hourly where hour <> date_trunc('hour', hour, 'UTC') returning tenant, key_id, key_name, model, hour)
  select distinct tenant, key_id, key_name, model, hour from off;
insert into access_log_key_hourly as h (tenant, key_id, key_name, model, hour, input_tokens, output_tokens, requests)
select a.tenant, coalesce(a.key_id, ''), coalesce(a.key_name, ''), a.model, date_trunc('hour', a.event_time, 'UTC'),
       sum(a.input_tokens), sum(a.output_tokens), sum(case when a.response_type = 'hit' then 1 else 0 end)
  from access_log_usage a
  join r6_key_hours b on a.tenant = b.tenant and coalesce(a.key_id, '') = b.key_id and coalesce(a.key_name, '') = b.key_name and a.model = b.model
   and a.event_time >= b.hour and a.event_time < b.hour + interval '1 hour'
 where a.billable
group by 1, 2, 3, 4, 5
on conflict (tenant, key_id, key_name, model, hour) do update
  set input_tokens = h.input_tokens + excluded.input_tokens,
      output_tokens = h.output_tokens + excluded.output_tokens,
      requests = h.requests + excluded.requests;

-- The collector's synchronous triggers (002, 070, 072), the new forms.
${triggerFunction("collector_usage_rollup_insert", [hourlyInsert(TENANT_HOURLY_UTC, COLLECTOR), hourlyInsert(USER_PRICED, COLLECTOR), rollupInsert(COLLECTOR)], { orReplace: true })}
${triggerFunction(
  "collector_usage_rollup_update",
  [
    hourlyDelta(
      TENANT_HOURLY_UTC,
      collectorSignedRows({ user: "''", userAs: "''::text", bucket: "date_trunc('hour', window_start, 'UTC')", as: "hour", only: "" }),
    ),
    hourlyDelta(
      USER_PRICED,
      collectorSignedRows({ user: "coalesce(user_id, '')", userAs: "coalesce(user_id, '')", bucket: pricePiece("window_start"), as: "day", only: "" }),
    ),
  ],
  { orReplace: true },
)}

-- The folds of the queue (062, 064, 065, 072): same locks and invoice rollup, the new forms.
${rollupDrainFunction("create or replace", DRAIN_INVOICES_PER_GROUP, "priced")}
${rollupDrainCountedFunction(DRAIN_INVOICES_PER_GROUP, "priced")}
${rollupDrainPartFunction(DRAIN_INVOICES_PER_GROUP, "priced")}

create or replace view usage_hourly_current as
  select tenant, user_key, tier, model, hour, input_tokens, output_tokens, requests from usage_hourly
  union all
  select tenant, ''::text, tier, model, date_trunc('hour', event_time, 'UTC'), input_tokens, output_tokens, requests from ledger_rollup_queue;
create or replace view access_log_key_hourly_current as
  select tenant, key_id, key_name, model, hour, input_tokens, output_tokens, requests from access_log_key_hourly
  union all
  select tenant, coalesce(key_id, ''), coalesce(key_name, ''), model, date_trunc('hour', event_time, 'UTC'), input_tokens, output_tokens, requests
    from ledger_rollup_queue where origin = 'access-log';
create or replace view usage_user_daily_current as
  select tenant, user_key, tier, model, day, input_tokens, output_tokens, requests from usage_user_daily
  union all
  select tenant, user_key, tier, model, ${pricePiece("event_time")}, input_tokens, output_tokens, requests
    from ledger_rollup_queue;

-- A change point added later (a price version starting in time already folded) re-cuts its days:
-- their rows go and come back from the ledger tables, less the rows still queued (in the tables
-- already; the fold adds them later, cut at the new points). Under the drain lock, taken first:
-- no fold, collector write or event change runs meanwhile (they take it too), and a rebuilding
-- statement sees the tables and the queue in one snapshot, so a row committed meanwhile is in
-- both or neither. The points and the re-cut days commit together: a reader sees a day cut the
-- old way or the new way, never half of it. Returns the points added.
create function price_change_points_add(p_points timestamptz[]) returns integer language plpgsql as $$
declare
  added timestamptz[];
  cut_day timestamptz;
begin
  perform pg_advisory_xact_lock(hashtext('maas-billing-ledger-rollup-drain'));
  with ins as (
    insert into price_change_points (at)
    select distinct p from unnest(p_points) p where p <> date_trunc('day', p, 'UTC')
    on conflict (at) do nothing returning at)
  select array_agg(at) into added from ins;
  if added is null then
    return 0;
  end if;
  -- One UTC day at a time, each read as its own time range: at the first start after an upgrade
  -- every off-midnight version the book ever had is new, and one range from the first such day to
  -- the last would read every ledger row in between under the drain lock, before serve listens.
  -- '24 hours', not '1 day': a day added to a timestamptz follows the session zone's DST.
  for cut_day in select distinct date_trunc('day', a, 'UTC') from unnest(added) a loop
    delete from usage_user_daily where day >= cut_day and day < cut_day + interval '24 hours';
    insert into usage_user_daily (tenant, user_key, tier, model, day, input_tokens, output_tokens, requests)
    select tenant, user_key, tier, model, ${pricePiece("t")}, sum(i), sum(o), sum(r) from (
      select tenant, coalesce(user_id, '') as user_key, tier, model, event_time as t, input_tokens as i, output_tokens as o, requests as r
        from usage_events where event_time >= cut_day and event_time < cut_day + interval '24 hours'
      union all
      select tenant, coalesce(user_id, ''), coalesce(tier, ''), coalesce(model, ''), window_start, input_tokens, output_tokens, requests
        from collector_usage where billable and window_start >= cut_day and window_start < cut_day + interval '24 hours'
      union all
      select tenant, coalesce(user_id, ''), tier, model, event_time, input_tokens, output_tokens, case when response_type = 'hit' then 1 else 0 end
        from access_log_usage where billable and event_time >= cut_day and event_time < cut_day + interval '24 hours'
      union all
      select tenant, user_key, tier, model, event_time, -input_tokens, -output_tokens, -requests
        from ledger_rollup_queue where event_time >= cut_day and event_time < cut_day + interval '24 hours'
    ) d
    group by 1, 2, 3, 4, 5;
  end loop;
  return cardinality(added);
end $$;
`),
];

/**
 * The collector's migrations alone (050-099, less 060-089: 060-069 are the access-log ledger and
 * 070-089 the ledger's invoice rollup, which need the service's tables): for collector tests and benches that measure the collector's own
 * tables without the ledger's rollup triggers. Apply with `migrate(pool, COLLECTOR_ONLY)`.
 */
export const COLLECTOR_ONLY: readonly Migration[] = MIGRATIONS.filter((m) => m.id >= 50 && m.id <= 99 && !(m.id >= 60 && m.id <= 89));
