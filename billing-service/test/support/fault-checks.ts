/** Shared checks of the event fault tests: what the database holds, per batch. */
import { readdir } from "node:fs/promises";
import type pg from "pg";
import type { ServiceProcess } from "../../testkit/service";

/** Stored events per batch (`b<batch>-e<i>` ids) of one source. */
export const storedPerBatch = async (pool: pg.Pool, source: string): Promise<Map<number, number>> => {
  const r = await pool.query(`select split_part(event_id, '-', 1) as b, count(*)::int as n from usage_events where source = $1 group by 1`, [source]);
  return new Map(r.rows.map((x) => [Number(String(x.b).slice(1)), x.n as number]));
};

export const storedTotal = async (pool: pg.Pool, source: string): Promise<number> =>
  Number((await pool.query(`select count(*) as n from usage_events where source = $1`, [source])).rows[0].n);

export const waitFor = async (what: string, check: () => Promise<boolean>, service?: ServiceProcess, timeoutMs = 30_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${service ? `\nservice log:\n${service.log().slice(-3000)}` : ""}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

/** Batch files waiting in a spool directory. */
export const spoolFiles = async (dir: string): Promise<string[]> => (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith(".batch"));
