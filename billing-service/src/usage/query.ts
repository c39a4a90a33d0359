/**
 * A tenant's usage over [from, to) from the ledger (events and collector rows), optionally
 * grouped by user, model and/or tier. Token counts are returned as decimal strings of BigInts.
 */
import type { Pool } from "pg";

export const GROUP_FIELDS = ["user", "model", "tier"] as const;
export type GroupField = (typeof GROUP_FIELDS)[number];

const COLUMN: Record<GroupField, string> = { user: "coalesce(user_id, '')", model: "model", tier: "tier" };

export interface UsageRow {
  user?: string;
  model?: string;
  tier?: string;
  inputTokens: string;
  outputTokens: string;
  totalTokens: string;
  requests: string;
  ledgerRows: number;
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
  rows: UsageRow[];
}

export const parseGroupBy = (text: string | undefined): GroupField[] => {
  if (!text) return [];
  const fields = text.split(",").map((f) => f.trim()).filter(Boolean);
  for (const f of fields) {
    if (!(GROUP_FIELDS as readonly string[]).includes(f)) throw new Error(`--group-by: unknown field ${JSON.stringify(f)} (use ${GROUP_FIELDS.join(",")})`);
  }
  return [...new Set(fields)] as GroupField[];
};

export const queryUsage = async (pool: Pool, tenant: string, from: Date, to: Date, groupBy: GroupField[]): Promise<UsageReport> => {
  const keys = groupBy.map((g, i) => `${COLUMN[g]} as g${i}`);
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
  return {
    tenant,
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

const USAGE_COLUMNS = ["tenant", "user", "model", "tier", "inputTokens", "outputTokens", "totalTokens", "requests", "ledgerRows"];

export const usageToCsv = (report: UsageReport): string => {
  const columns = USAGE_COLUMNS.filter((c) => !(GROUP_FIELDS as readonly string[]).includes(c) || report.groupBy.includes(c as GroupField));
  const lines = report.rows.map((r) => columns.map((c) => (c === "tenant" ? report.tenant : String((r as unknown as Record<string, unknown>)[c] ?? ""))).map((v) => (/[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v)).join(","));
  return [columns.join(","), ...lines].join("\n") + "\n";
};
