/**
 * SQL that the migrations (migrations.ts) would otherwise write once per table: trigger functions
 * and statement-level triggers, the functions that keep the hourly rollups (usage_hourly,
 * access_log_key_hourly) and the invoice rollup (usage_rollup, issue 20) in step with each ledger
 * table (migrations 001, 002, 060, 061, 070), and the ledger view's branches (040, 060). Each piece
 * is one template, filled in per ledger table from a LedgerTable: how that table's rows read as
 * ledger rows.
 *
 * Released migrations never change (a database that applied one never sees an edit, and a fresh
 * one must get the same schema), so these templates reproduce, byte for byte, the text those
 * migrations were released with; the few layout choices below exist only to reproduce where that
 * text wrapped its lines. test/migrations-released.test.ts pins every released migration's SHA-256:
 * an edit here that changes a released text fails it. A new migration may use these freely.
 */

/** How one ledger table's rows read as ledger rows, as SQL expressions over its columns. */
export interface LedgerTable {
  /** usage_rollup.origin of its rows. */
  readonly origin: string;
  /** The column whose hour is the row's bucket. */
  readonly time: string;
  readonly tier: string;
  readonly model: string;
  /** The row's attribute labels (jsonb). */
  readonly dimensions: string;
  /** How many requests the row counts. */
  readonly requests: string;
  /** Which rows count in the hourly rollups (all when absent). */
  readonly billable?: string;
  /** Which rows are ledger rows, in the invoice rollup (all when absent). */
  readonly inLedger?: string;
  /** Whether the rows carry the collector's data-quality counts (resets, gaps). */
  readonly qualityCounts: boolean;
}

export const EVENTS: LedgerTable = {
  origin: "events",
  time: "event_time",
  tier: "tier",
  model: "model",
  dimensions: "dimensions",
  requests: "requests",
  qualityCounts: false,
};

export const COLLECTOR: LedgerTable = {
  origin: "collector",
  time: "window_start",
  tier: "coalesce(tier, '')",
  model: "coalesce(model, '')",
  dimensions: "dimensions",
  requests: "requests",
  billable: "billable",
  inLedger: "billable",
  qualityCounts: true,
};

export const ACCESS_LOG: LedgerTable = {
  origin: "access-log",
  time: "event_time",
  tier: "tier",
  model: "model",
  dimensions: "access_log_dimensions(key_id, key_name, organization_id)",
  requests: "case when response_type = 'hit' then 1 else 0 end",
  billable: "billable",
  inLedger: "access_log_in_ledger(billable, response_type, input_tokens, output_tokens)",
  qualityCounts: false,
};

/** An hourly rollup table: its key columns and, per ledger table, the expressions that fill them. */
export interface HourlyRollup {
  readonly table: string;
  readonly key: readonly string[];
  readonly bucket: (t: LedgerTable) => readonly string[];
  /** Which ledger rows it holds, besides the table's `billable` condition (all when absent). */
  readonly only?: string;
}

export const USAGE_HOURLY: HourlyRollup = {
  table: "usage_hourly",
  key: ["tenant", "user_key", "tier", "model", "hour"],
  bucket: (t) => ["tenant", "coalesce(user_id, '')", t.tier, t.model, `date_trunc('hour', ${t.time})`],
};

/**
 * usage_hourly from migration 072 on: per tenant, tier, model and hour, user_key always '' (the
 * column and the key stay, so the table and a TimescaleDB hypertable keep their shape).
 */
export const TENANT_HOURLY: HourlyRollup = {
  table: "usage_hourly",
  key: USAGE_HOURLY.key,
  bucket: (t) => ["tenant", "''", t.tier, t.model, `date_trunc('hour', ${t.time})`],
};

/** usage_user_daily (migration 072): per tenant, user, tier, model and UTC day; rows with a user only. */
export const USER_DAILY: HourlyRollup = {
  table: "usage_user_daily",
  key: ["tenant", "user_key", "tier", "model", "day"],
  bucket: (t) => ["tenant", "user_id", t.tier, t.model, `date_trunc('day', ${t.time}, 'UTC')`],
  only: "user_id <> ''",
};

/** usage_hourly from migration 073 on: as TENANT_HOURLY, by UTC hour whatever the session's time zone (review R6). */
export const TENANT_HOURLY_UTC: HourlyRollup = {
  table: "usage_hourly",
  key: USAGE_HOURLY.key,
  bucket: (t) => ["tenant", "''", t.tier, t.model, `date_trunc('hour', ${t.time}, 'UTC')`],
};

/**
 * usage_user_daily from migration 073 on: per tenant, user ('' for usage without one), tier, model
 * and price piece of a UTC day (pricePiece below); every ledger row, so the tenant's total is the
 * sum of its rows.
 */
export const USER_PRICED: HourlyRollup = {
  table: "usage_user_daily",
  key: USER_DAILY.key,
  bucket: (t) => ["tenant", "coalesce(user_id, '')", t.tier, t.model, pricePiece(t.time)],
};

export const KEY_HOURLY: HourlyRollup = {
  table: "access_log_key_hourly",
  key: ["tenant", "key_id", "key_name", "model", "hour"],
  bucket: (t) => ["tenant", "coalesce(key_id, '')", "coalesce(key_name, '')", t.model, `date_trunc('hour', ${t.time})`],
};

const QUANTITIES = ["input_tokens", "output_tokens", "requests"];
const ROLLUP_KEY = ["tenant", "hour", "tier", "model", "origin", "dimensions"];
const ROLLUP_COLUMNS =
  "tenant, hour, tier, model, dimensions, origin, input_tokens, output_tokens, requests, ledger_rows, resets, gaps, first_window, last_window";
const where = (...conditions: (string | undefined)[]): string => {
  const all = conditions.filter((c): c is string => c !== undefined);
  return all.length === 0 ? "" : ` where ${all.join(" and ")}`;
};

/** `on conflict (key) do update set` adding each of `add` to the stored row (alias `as`), then `also`. */
export const addOnConflict = (indent: string, as: string, key: readonly string[], add: readonly string[], also: readonly string[] = []): string =>
  `${indent}on conflict (${key.join(", ")}) do update
${indent}  set ${[...add.map((c) => `${c} = ${as}.${c} + excluded.${c}`), ...also].join(`,\n${indent}      `)};`;

/** A trigger function: `body` (its statements, indented), then `return null`. */
export const triggerFunction = (name: string, body: readonly string[], options: { orReplace?: boolean; declare?: string } = {}): string =>
  `create ${options.orReplace ? "or replace " : ""}function ${name}() returns trigger language plpgsql as $$
${options.declare === undefined ? "" : `declare\n${options.declare}\n`}begin
${body.join("\n")}
  return null;
end $$;`;

/** Adds the rows of `from` (new_rows in a trigger) to an hourly rollup, per bucket. */
export const hourlyInsert = (rollup: HourlyRollup, t: LedgerTable, options: { indent?: string; from?: string } = {}): string => {
  const i = options.indent ?? "  ";
  return `${i}insert into ${rollup.table} as h (${[...rollup.key, ...QUANTITIES].join(", ")})
${i}select ${rollup.bucket(t).join(", ")},
${i}       sum(input_tokens), sum(output_tokens), sum(${t.requests})
${i}  from ${options.from ?? "new_rows"}${where(t.billable, rollup.only)} group by 1, 2, 3, 4, 5
${addOnConflict(i, "h", rollup.key, QUANTITIES)}`;
};

/**
 * Adds an UPDATE's difference to an hourly rollup: `signedRows` selects the new rows' bucket
 * (named as the key) with their quantities as i, o, r, union all the old rows' with theirs negated.
 */
export const hourlyDelta = (rollup: HourlyRollup, signedRows: string): string =>
  `  insert into ${rollup.table} as h (${[...rollup.key, ...QUANTITIES].join(", ")})
  select ${rollup.key.join(", ")}, sum(i), sum(o), sum(r) from (
${signedRows}
  ) d group by 1, 2, 3, 4, 5
${addOnConflict("  ", "h", rollup.key, QUANTITIES)}`;

/**
 * The signed rows of a collector UPDATE for hourlyDelta (072, 073): the new rows in their bucket
 * (`bucket` of window_start, named `as`) with their amounts, union all the old rows' negated;
 * `user` is the user key of a row (`userAs`: its first, aliased form), `only` more conditions.
 */
export const collectorSignedRows = (o: { user: string; userAs: string; bucket: string; as: string; only: string }): string =>
  `    select tenant, ${o.userAs} as user_key, coalesce(tier, '') as tier, coalesce(model, '') as model,
           ${o.bucket} as ${o.as}, input_tokens as i, output_tokens as o, requests as r
      from new_rows where billable${o.only}
    union all
    select tenant, ${o.user}, coalesce(tier, ''), coalesce(model, ''),
           ${o.bucket}, -input_tokens, -output_tokens, -requests
      from old_rows where billable${o.only}`;

/** The invoice rollup's sums of a ledger table's rows (`from`), per (tenant, UTC hour, tier, model, dimensions). */
const rollupSelect = (t: LedgerTable, indent: string, from: string): string => {
  // The released text put computed dimensions on a line of their own.
  const dimensions = t.dimensions.includes("(") ? `\n${indent}       ${t.dimensions}` : ` ${t.dimensions}`;
  const counts = t.qualityCounts ? "sum(resets), sum(gaps)" : "0, 0";
  return `${indent}select tenant, date_trunc('hour', ${t.time}, 'UTC'), ${t.tier}, ${t.model},${dimensions}, '${t.origin}',
${indent}       sum(input_tokens), sum(output_tokens), sum(${t.requests}), count(*), ${counts}, min(${t.time}), max(${t.time})
${indent}  from ${from}${where(t.inLedger)} group by 1, 2, 3, 4, 5`;
};

/** Adds an INSERT's rows (new_rows) to the invoice rollup. */
export const rollupInsert = (t: LedgerTable): string =>
  `  insert into usage_rollup as u (${ROLLUP_COLUMNS})
${rollupSelect(t, "  ", "new_rows")}
${addOnConflict("  ", "u", ROLLUP_KEY, [...QUANTITIES, "ledger_rows", ...(t.qualityCounts ? ["resets", "gaps"] : [])], [
  "first_window = least(u.first_window, excluded.first_window)",
  "last_window = greatest(u.last_window, excluded.last_window)",
])}`;

/** The invoice rollup of the rows a table already holds (a migration's backfill). */
export const rollupBackfill = (t: LedgerTable, table: string): string =>
  `insert into usage_rollup (${ROLLUP_COLUMNS})
${rollupSelect(t, "", table)};`;

/**
 * The UPDATE and DELETE trigger function of a table's invoice rollup. An UPDATE in which every old
 * row has a new row in the same bucket (`sameBucket`, over `o` and `n`) adds its difference
 * (`signedRows`: the new rows with quantities as i, o, r (and res, gap), union all the old rows'
 * negated); any other change calls `rebuild(tenants, hours)` on the (tenant, hour) buckets it touched.
 */
export const rollupChangeFunction = (name: string, t: LedgerTable, sql: { sameBucket: string; signedRows: string; rebuild: string }): string => {
  const hour = `date_trunc('hour', ${t.time}, 'UTC')`;
  const counts = t.qualityCounts ? "sum(res), sum(gap)" : "0, 0";
  return triggerFunction(
    name,
    [
      `  -- (nested: a DELETE trigger has no new_rows to parse)
  if TG_OP = 'UPDATE' then if not exists (
    select 1 from old_rows o where not exists (
      select 1 from new_rows n where ${sql.sameBucket})) then
    insert into usage_rollup as u (${ROLLUP_COLUMNS})
    select tenant, date_trunc('hour', t, 'UTC'), tier, model, dimensions, '${t.origin}', sum(i), sum(o), sum(r), 0, ${counts}, min(t), max(t) from (
${sql.signedRows}
    ) d group by 1, 2, 3, 4, 5
${addOnConflict("    ", "u", ROLLUP_KEY, [...QUANTITIES, ...(t.qualityCounts ? ["resets", "gaps"] : [])])}
    return null;
  end if; end if;
  if TG_OP = 'UPDATE' then
    select array_agg(tenant), array_agg(h) into tenants, hours from (
      select tenant, ${hour} as h from old_rows
      union select tenant, ${hour} from new_rows) b;
  else
    select array_agg(tenant), array_agg(h) into tenants, hours from (
      select distinct tenant, ${hour} as h from old_rows) b;
  end if;
  perform ${sql.rebuild};`,
    ],
    { declare: "  tenants text[];\n  hours timestamptz[];" },
  );
};

/** A statement-level trigger, with the transition tables its event has. */
export const statementTrigger = (name: string, event: "insert" | "update" | "delete" | "truncate", table: string, fn: string): string => {
  const referencing = {
    insert: "referencing new table as new_rows ",
    update: "referencing old table as old_rows new table as new_rows ",
    delete: "referencing old table as old_rows ",
    truncate: "",
  }[event];
  return `create trigger ${name} after ${event} on ${table}
  ${referencing}for each statement execute function ${fn}();`;
};

/** One statement-level trigger `<prefix>_<event>` per event, all calling `fn`. */
export const statementTriggers = (prefix: string, table: string, fn: string, events: readonly ("insert" | "update" | "delete")[]): string =>
  events.map((event) => statementTrigger(`${prefix}_${event}`, event, table, fn)).join("\n");

/** The ledger view's events and collector branches, with their dimensions (migration 040 on). */
const LEDGER_VIEW_EVENTS = `  select 'events'::text as origin,
         json_build_array('events', source, event_id)::text as ledger_key,
         source, tenant, user_id, tier, model,
         event_time as window_start, event_time as window_end,
         input_tokens, output_tokens, requests,
         0 as resets, 0 as gaps, dimensions
    from usage_events`;
const LEDGER_VIEW_COLLECTOR = `  select 'collector'::text, json_build_array('collector', idempotency_key)::text,
         source, tenant, user_id, coalesce(tier, ''), coalesce(model, ''),
         window_start, window_end, input_tokens, output_tokens, requests, resets, gaps, dimensions
    from collector_usage where billable`;

/** The ledger view: the events' and the collector's branches, then `more`. */
export const ledgerView = (...more: string[]): string =>
  `create or replace view usage_ledger as
${[LEDGER_VIEW_EVENTS, LEDGER_VIEW_COLLECTOR, ...more].join("\n  union all\n")};`;

/** How the fold adds a group into its usage_rollup row (062 and 064 alike; ends the invoices CTE). */
export const DRAIN_ROLLUP_CONFLICT = `    on conflict (tenant, hour, tier, model, origin, dimensions) do update
      set input_tokens = u.input_tokens + excluded.input_tokens,
          output_tokens = u.output_tokens + excluded.output_tokens,
          requests = u.requests + excluded.requests,
          ledger_rows = u.ledger_rows + excluded.ledger_rows,
          first_window = least(u.first_window, excluded.first_window),
          last_window = greatest(u.last_window, excluded.last_window))`;

/** The full drain's lock (062): the drain lock exclusively; wait => block for it, else 0 when taken. */
const DRAIN_LOCK_ALL = `  if wait then
    perform pg_advisory_xact_lock(hashtext('maas-billing-ledger-rollup-drain'));
  elsif not pg_try_advisory_xact_lock(hashtext('maas-billing-ledger-rollup-drain')) then
    return 0;
  end if;`;

/** How a fold function differs: its signature and result, its locks, which queued rows it takes, what it returns. */
interface DrainShape {
  /** Name, parameters and `returns ...`. */
  readonly signature: string;
  /** plpgsql statements that return when the fold must not run. */
  readonly lock: string;
  /** Appended to `delete from ledger_rollup_queue` (a where clause, or ""). */
  readonly queueWhere: string;
  /** Appended to the usage_hourly upsert (a returning clause, or ""). */
  readonly hourlyReturning: string;
  /** The statement's last select (after the CTEs) and the function's return. */
  readonly finish: string;
}

/**
 * Where a fold puts per-user usage: "hourly" into usage_hourly per (tenant, user, tier, model,
 * hour) (migrations 062-065); "daily" (072 on) into usage_hourly per (tenant, tier, model, hour)
 * with user_key '' and into usage_user_daily per (tenant, user, tier, model, UTC day).
 */
export type PerUserRollup = "hourly" | "daily" | "priced";

const perUserHourlyCte = (shape: DrainShape): string => `  hourly as (
    insert into usage_hourly as h (tenant, user_key, tier, model, hour, input_tokens, output_tokens, requests)
    select tenant, user_key, tier, model, date_trunc('hour', event_time), sum(input_tokens), sum(output_tokens), sum(requests)
      from q group by 1, 2, 3, 4, 5
    on conflict (tenant, user_key, tier, model, hour) do update
      set input_tokens = h.input_tokens + excluded.input_tokens,
          output_tokens = h.output_tokens + excluded.output_tokens,
          requests = h.requests + excluded.requests${shape.hourlyReturning}),`;

// The counting folds return, for each rollup row, whether the fold created it (xmax = 0: a row
// version no transaction has locked or updated, i.e. inserted rather than updated by ON CONFLICT).
const newRowReturning = (returning: string): string => (returning === "" ? "" : "\n    returning (h.xmax = 0) as created");

/**
 * The fold's usage_hourly and usage_user_daily CTEs: `hour` and `day` are the buckets of a queued
 * row (event_time), `users` which rows go to usage_user_daily (a where clause, or "").
 */
const userRollupCtes = (shape: DrainShape, hour: string, day: string, users: string): string => `  hourly as (
    insert into usage_hourly as h (tenant, user_key, tier, model, hour, input_tokens, output_tokens, requests)
    select tenant, '', tier, model, ${hour}, sum(input_tokens), sum(output_tokens), sum(requests)
      from q group by 1, 2, 3, 4, 5
    on conflict (tenant, user_key, tier, model, hour) do update
      set input_tokens = h.input_tokens + excluded.input_tokens,
          output_tokens = h.output_tokens + excluded.output_tokens,
          requests = h.requests + excluded.requests${newRowReturning(shape.hourlyReturning)}),
  daily as (
    insert into usage_user_daily as h (tenant, user_key, tier, model, day, input_tokens, output_tokens, requests)
    select tenant, user_key, tier, model, ${day}, sum(input_tokens), sum(output_tokens), sum(requests)
      from q${users} group by 1, 2, 3, 4, 5
    on conflict (tenant, user_key, tier, model, day) do update
      set input_tokens = h.input_tokens + excluded.input_tokens,
          output_tokens = h.output_tokens + excluded.output_tokens,
          requests = h.requests + excluded.requests${newRowReturning(shape.hourlyReturning)}),`;

/** 072: usage_hourly by the session's hour, usage_user_daily per user and UTC day (rows with a user). */
const userDailyCtes = (shape: DrainShape): string => userRollupCtes(shape, "date_trunc('hour', event_time)", "date_trunc('day', event_time, 'UTC')", " where user_key <> ''");

/**
 * The piece of a UTC day a row's time falls in (migration 073): from the later of the day's start
 * and the last price change point (price_change_points, the price book's version starts off
 * midnight UTC) at or before it. No change point lies inside a piece, so every row of a piece is
 * priced by the same price version, whichever second the versions start at. UTC whatever the
 * server's TimeZone (review R6). `(select ...)`: the points are read once per statement (an
 * InitPlan). Written out rather than as price_piece(t, (select price_cut_points())): PostgreSQL does
 * not inline a SQL function whose argument holding a subquery is used twice, and a call of a SQL
 * function per queued row costs the fold far more than the expression (EXPLAIN VERBOSE shows which).
 * price_piece() is the same expression, for readers and tests.
 */
const CUT_POINTS = "(select price_cut_points())";
export const pricePiece = (time: string): string => `greatest(date_trunc('day', ${time}, 'UTC'), (${CUT_POINTS})[width_bucket(${time}, ${CUT_POINTS})])`;

/**
 * The "priced" form (073): usage_hourly (and the fold's access_log_key_hourly) by UTC hour (the
 * session's time zone no longer moves their buckets: review R6, S4), and usage_user_daily per (tenant, user or '' for usage without one, tier,
 * model, price piece of a UTC day).
 */
const userPricedCtes = (shape: DrainShape): string => userRollupCtes(shape, "date_trunc('hour', event_time, 'UTC')", pricePiece("event_time"), "");

/**
 * A fold of the rollup queue: the shape's locks, then one statement that deletes the queued rows
 * it selects and adds them into usage_hourly, access_log_key_hourly and usage_rollup (`invoiceCtes`:
 * the CTEs that fill usage_rollup, ending in a comma).
 */
const drainFunction = (create: "create" | "create or replace", shape: DrainShape, invoiceCtes: string, perUser: PerUserRollup = "hourly"): string =>
  `${create} function ${shape.signature} language plpgsql set work_mem = '64MB' as $$
declare
  n bigint;
begin
${shape.lock}
  with q as (delete from ledger_rollup_queue${shape.queueWhere} returning *),
${perUser === "hourly" ? perUserHourlyCte(shape) : perUser === "daily" ? userDailyCtes(shape) : userPricedCtes(shape)}
  keys as (
    insert into access_log_key_hourly as h (tenant, key_id, key_name, model, hour, input_tokens, output_tokens, requests)
    select tenant, coalesce(key_id, ''), coalesce(key_name, ''), model, ${perUser === "priced" ? "date_trunc('hour', event_time, 'UTC')" : "date_trunc('hour', event_time)"}, sum(input_tokens), sum(output_tokens), sum(requests)
      from q where origin = 'access-log' group by 1, 2, 3, 4, 5
    on conflict (tenant, key_id, key_name, model, hour) do update
      set input_tokens = h.input_tokens + excluded.input_tokens,
          output_tokens = h.output_tokens + excluded.output_tokens,
          requests = h.requests + excluded.requests),
${invoiceCtes}${shape.finish}
end $$;`;

/**
 * ledger_rollup_drain(wait), the fold of the whole rollup queue into usage_hourly,
 * access_log_key_hourly and usage_rollup (migration 062; 064 replaced how it fills usage_rollup):
 * everything but the CTEs that fill usage_rollup, which `invoiceCtes` gives (ending in a comma).
 * Reproduces 062's text.
 */
export const rollupDrainFunction = (create: "create" | "create or replace", invoiceCtes: string, perUser: PerUserRollup = "hourly"): string =>
  drainFunction(
    create,
    {
      signature: "ledger_rollup_drain(wait boolean) returns bigint",
      lock: DRAIN_LOCK_ALL,
      queueWhere: "",
      hourlyReturning: "",
      finish: `  select count(*) into n from q;
  return n;`,
    },
    invoiceCtes,
    perUser,
  );

/**
 * The counting folds' last statement: the rows folded, and as hourly_rows (the name 065 gave it)
 * the usage_hourly rows they went into ("hourly"), or from 072 on the rollup rows the fold
 * created in usage_hourly and usage_user_daily ("daily"): what waiting longer could not merge.
 * Rows added to an existing bucket do not count, so a fold of usage arriving in real time (the
 * per-user day rows exist after the day's first fold) counts as merging, as it does.
 */
const countedFinish = (perUser: PerUserRollup): string =>
  perUser === "hourly"
    ? "  select count(*), (select count(*) from hourly) into folded, hourly_rows from q;"
    : `  select count(*), (select count(*) filter (where created) from hourly) + (select count(*) filter (where created) from daily)
    into folded, hourly_rows from q;`;

/** 064's usage_rollup CTEs: the queue grouped by the plain key columns, dimensions built once per group. */
export const DRAIN_INVOICES_PER_GROUP = `  groups as (
    select tenant, date_trunc('hour', event_time, 'UTC') as hour, tier, model, dimensions, key_id, key_name, organization_id, origin,
           sum(input_tokens) as input_tokens, sum(output_tokens) as output_tokens, sum(requests) as requests, sum(ledger_rows) as ledger_rows,
           min(event_time) as first_window, max(event_time) as last_window
      from q where in_ledger group by 1, 2, 3, 4, 5, 6, 7, 8, 9),
  invoices as (
    insert into usage_rollup as u (tenant, hour, tier, model, dimensions, origin, input_tokens, output_tokens, requests, ledger_rows, resets, gaps, first_window, last_window)
    select tenant, hour, tier, model, coalesce(dimensions, access_log_dimensions(key_id, key_name, organization_id)), origin,
           input_tokens, output_tokens, requests, ledger_rows, 0, 0, first_window, last_window
      from groups
${DRAIN_ROLLUP_CONFLICT}
`;

/**
 * ledger_rollup_drain_counted() (migration 065): the whole queue at once, like
 * ledger_rollup_drain(false) (the drain lock exclusively, never waiting: nothing folded when it is
 * taken), returning the rows folded and the usage_hourly rows they went into as
 * ledger_rollup_drain_part does. Serve's loop uses it while the queue aggregates well (one fold
 * then costs less than one per partition).
 */
export const rollupDrainCountedFunction = (invoiceCtes: string, perUser: PerUserRollup = "hourly"): string =>
  drainFunction(
    perUser === "hourly" ? "create" : "create or replace",
    {
      signature: "ledger_rollup_drain_counted(out folded bigint, out hourly_rows bigint)",
      lock: `  folded := 0;
  hourly_rows := 0;
  if not pg_try_advisory_xact_lock(hashtext('maas-billing-ledger-rollup-drain')) then
    return;
  end if;`,
      queueWhere: "",
      hourlyReturning: "\n    returning 1",
      finish: countedFinish(perUser),
    },
    invoiceCtes,
    perUser,
  );

/**
 * ledger_rollup_drain_part(part) (migration 065): the fold of one tenant partition of the queue
 * (ledger_rollup_part(tenant) = part). Partitions share no rollup row (every rollup key holds the
 * tenant), so folds of different partitions run at the same time without waiting for each other.
 * It holds the drain lock shared (the full drain and the synchronous rollup writers take it
 * exclusively, so neither runs beside a partition fold) and its partition's lock exclusively; it
 * never waits (nothing folded when either is taken). Returns the queued rows it folded and the
 * usage_hourly rows they went into: how much folding more rows at once would save (db/rollup-drain.ts).
 */
export const rollupDrainPartFunction = (invoiceCtes: string, perUser: PerUserRollup = "hourly"): string =>
  drainFunction(
    perUser === "hourly" ? "create" : "create or replace",
    {
      signature: "ledger_rollup_drain_part(p_part integer, out folded bigint, out hourly_rows bigint)",
      lock: `  folded := 0;
  hourly_rows := 0;
  if not pg_try_advisory_xact_lock_shared(hashtext('maas-billing-ledger-rollup-drain')) then
    return;
  end if;
  if not pg_try_advisory_xact_lock(hashtext('maas-billing-ledger-rollup-drain-part'), p_part) then
    return;
  end if;`,
      queueWhere: " where ledger_rollup_part(tenant) = p_part",
      hourlyReturning: "\n    returning 1",
      finish: countedFinish(perUser),
    },
    invoiceCtes,
    perUser,
  );

/**
 * maas_billing_apply_retention(months) (migration 033 on): deletes, from each `[table, condition]`
 * in order, the rows of `condition` (over `cutoff`, the first day of the month `months` months ago)
 * and returns how many rows it deleted. CREATE OR REPLACE keeps the grants, not the attributes:
 * security definer and the fixed search_path (011) are restated. Reproduces 033's text.
 */
export const retentionFunction = (deletes: readonly (readonly [table: string, condition: string])[]): string =>
  `create or replace function maas_billing_apply_retention(months integer) returns bigint
  language plpgsql security definer set search_path = public, pg_temp as $$
declare
  cutoff timestamptz := date_trunc('month', now()) - make_interval(months => months);
  total bigint := 0;
  n bigint;
begin
${deletes.map(([table, condition]) => `  delete from ${table} where ${condition};
  get diagnostics n = row_count; total := total + n;`).join("\n")}
  return total;
end $$;`;

/** What retention deletes from migration 033 on (072 adds usage_user_daily). */
export const RETENTION_033: readonly (readonly [string, string])[] = [
  ["usage_events", "event_time < cutoff"],
  ["collector_usage", "window_start < cutoff"],
  ["access_log_usage", "event_time < cutoff"],
  ["usage_hourly", "hour < cutoff"],
  ["access_log_key_hourly", "hour < cutoff"],
];
