/**
 * A tenant's usage over [from, to) from the ledger (events and collector rows), optionally
 * grouped by user, model, tier and/or attribute labels of the usage (organization_id,
 * cost_center, group, ...: whatever the collector's attributeLabels carry). Token counts are
 * returned as decimal strings of BigInts.
 */
import type { Pool } from "pg";
import type { PriceBook } from "../pricebook/pricebook";
import { costPerRow } from "./cost";
import { toCsv } from "../export/csv";

/** The ledger's own dimensions; any other label name groups by that attribute label. */
export const GROUP_FIELDS = ["user", "model", "tier"] as const;
/** A group-by field: one of GROUP_FIELDS or an attribute label name. */
export type GroupField = string;
/** What a group-by field may look like (a Prometheus label name). */
export const GROUP_FIELD_PATTERN = "[a-zA-Z_][a-zA-Z0-9_]*";

/** What `--group-by key` groups by: the access log's key id and key name (ledger dimensions). */
export const KEY_FIELDS = ["key_id", "key_name"] as const;

const FIXED: Record<string, string> = { user: "coalesce(user_id, '')", model: "model", tier: "tier" };
// Field names are checked against GROUP_FIELD_PATTERN before they reach SQL.
const column = (field: GroupField): string => FIXED[field] ?? `coalesce(dimensions->>'${field}', '')`;

export interface UsageRow {
  user?: string;
  model?: string;
  tier?: string;
  /** Attribute labels grouped by, e.g. organization_id. */
  [attribute: string]: string | number | undefined;
  inputTokens: string;
  outputTokens: string;
  totalTokens: string;
  requests: string;
  ledgerRows: number;
  /** Cost of the row in minor units (invoice pricing; rows add up to the report's costMinor). */
  costMinor?: string;
}

export interface UsageReport {
  tenant: string;
  from: string;
  to: string;
  groupBy: GroupField[];
  inputTokens: string;
  outputTokens: string;
  totalTokens: string;
  requests: string;
  /** Cost of the range in minor units, priced and rounded like an invoice (with a price book). */
  costMinor?: string;
  currency?: string;
  rows: UsageRow[];
}

/** Names that are not groupable (the tenant is fixed; these are not attribute labels). */
const RESERVED = ["tenant", "inputTokens", "outputTokens", "totalTokens", "requests", "ledgerRows", "costMinor", "currency"];

export const parseGroupBy = (text: string | undefined): GroupField[] => {
  if (!text) return [];
  const fields = text.split(",").map((f) => f.trim()).filter(Boolean);
  for (const f of fields) {
    if (!new RegExp(`^${GROUP_FIELD_PATTERN}$`).test(f) || RESERVED.includes(f)) {
      throw new Error(`--group-by: unknown field ${JSON.stringify(f)} (use ${GROUP_FIELDS.join(",")}, key, or an attribute label such as organization_id)`);
    }
  }
  // `key`: the API key of access-log usage (docs/usage-sources.md), its id and its name (never a secret).
  return [...new Set(fields.flatMap((f) => (f === "key" ? [...KEY_FIELDS] : [f])))];
};

export const queryUsage = async (pool: Pool, tenant: string, from: Date, to: Date, groupBy: GroupField[], book?: PriceBook): Promise<UsageReport> => {
  const keys = groupBy.map((g, i) => `${column(g)} as g${i}`);
  const sql = `select ${[...keys, "sum(input_tokens)::text as i", "sum(output_tokens)::text as o", "sum(requests)::text as r", "count(*)::int as n"].join(", ")}
                 from usage_ledger where tenant = $1 and window_start >= $2 and window_start < $3
                 ${groupBy.length ? `group by ${groupBy.map((_, i) => i + 1).join(", ")} order by ${groupBy.map((_, i) => i + 1).join(", ")}` : ""}`;
  const result = await pool.query(sql, [tenant, from, to]);
  const rows: UsageRow[] = result.rows
    .filter((r) => r.n > 0)
    .map((r) => {
      const row: UsageRow = {
        inputTokens: r.i,
        outputTokens: r.o,
        totalTokens: (BigInt(r.i) + BigInt(r.o)).toString(),
        requests: r.r,
        ledgerRows: r.n,
      };
      groupBy.forEach((g, i) => (row[g] = r[`g${i}`]));
      return row;
    });
  const sum = (pick: (r: UsageRow) => string): string => rows.reduce((a, r) => a + BigInt(pick(r)), 0n).toString();
  const cost = book ? await costPerRow(pool, book, tenant, from, to, groupBy.map(column)) : undefined;
  if (cost) for (const row of rows) row.costMinor = (cost.byRow.get(JSON.stringify(groupBy.map((g) => row[g]))) ?? 0n).toString();
  return {
    tenant,
    ...(cost ? { costMinor: cost.totalMinor.toString(), currency: cost.currency } : {}),
    from: from.toISOString(),
    to: to.toISOString(),
    groupBy,
    inputTokens: sum((r) => r.inputTokens),
    outputTokens: sum((r) => r.outputTokens),
    totalTokens: sum((r) => r.totalTokens),
    requests: sum((r) => r.requests),
    rows,
  };
};

const USAGE_COLUMNS = ["inputTokens", "outputTokens", "totalTokens", "requests", "ledgerRows"];

export const usageToCsv = (report: UsageReport): string => {
  const columns = ["tenant", ...report.groupBy, ...USAGE_COLUMNS, ...(report.costMinor === undefined ? [] : ["costMinor", "currency"])];
  return toCsv(
    report.rows.map((r) => ({ ...(r as unknown as Record<string, unknown>), tenant: report.tenant, currency: report.currency })),
    columns,
  );
};
