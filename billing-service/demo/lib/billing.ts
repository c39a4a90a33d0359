/**
 * The billing side of the demo: the database, `collect --once`, and the report.
 */
import { startPostgres, type RunningPostgres } from "./postgres-process";
import { applyCollectorMigrations } from "../../src/collector/schema";
import { collectOnce, type CollectReport } from "../../src/collector/collect";
import { PrometheusClient } from "../../src/collector/prometheus-client";
import { parseCollectorSettings } from "../../src/collector/settings";
import type { TrueTotals } from "./traffic";

export interface DemoBilling {
  collect(prometheusUrl: string, fromMs: number, toMs: number, windowMs: number, tenants: { name: string; namespaces: string[] }[]): Promise<CollectReport>;
  printReport(truth: Map<string, TrueTotals>, fromMs: number, toMs: number, say: (s: string) => void): Promise<void>;
  stop(): Promise<void>;
}

export const startDemoBilling = async (dir: string): Promise<DemoBilling> => {
  const db: RunningPostgres = await startPostgres(dir);
  await applyCollectorMigrations(db.pool);
  return {
    async collect(prometheusUrl, fromMs, toMs, windowMs, tenants) {
      const client = new PrometheusClient({ url: prometheusUrl });
      try {
        const settings = parseCollectorSettings({ window: `${windowMs}ms`, scrapeInterval: "1s", offset: "2s", tenants });
        return await collectOnce({ pool: db.pool, prometheus: client, settings }, { fromMs, toMs });
      } finally {
        client.close();
      }
    },
    async printReport(truth, _fromMs, _toMs, say) {
      const rows = (
        await db.pool.query(
          `select tenant, user_id, tier, model, sum(input_tokens)::bigint as input, sum(output_tokens)::bigint as output,
                  sum(total_tokens)::bigint as total, sum(requests)::bigint as requests, sum(limited_requests)::bigint as limited,
                  sum(resets)::int as resets, sum(gaps)::int as gaps
             from collector_usage where billable group by 1, 2, 3, 4 order by 1, 2, 3, 4 nulls first`,
        )
      ).rows;
      for (const tenant of [...new Set(rows.map((r) => r.tenant as string))]) {
        say(`\n== tenant ${tenant}: usage`);
        say(`   ${"user".padEnd(8)} ${"tier".padEnd(11)} ${"model".padEnd(11)} ${"input".padStart(9)} ${"output".padStart(9)} ${"total".padStart(9)} ${"requests".padStart(8)} ${"limited".padStart(7)}  flags`);
        let total = 0;
        let input = 0;
        let requests = 0;
        let limited = 0;
        for (const r of rows.filter((x) => x.tenant === tenant)) {
          total += Number(r.total);
          input += Number(r.input);
          requests += Number(r.requests);
          limited += Number(r.limited);
          const flags = [r.resets > 0 ? `${r.resets} reset(s)` : "", r.gaps > 0 ? `${r.gaps} gap(s)` : ""].filter(Boolean).join(", ");
          say(`   ${String(r.user_id ?? "-").padEnd(8)} ${String(r.tier ?? "-").padEnd(11)} ${String(r.model ?? "-").padEnd(11)} ${String(r.input).padStart(9)} ${String(r.output).padStart(9)} ${String(r.total).padStart(9)} ${String(r.requests).padStart(8)} ${String(r.limited).padStart(7)}  ${flags}`);
        }
        const t = truth.get(tenant);
        if (t) {
          const exact = t.inputTokens + t.outputTokens === total && t.requests === requests && t.limited === limited;
          say(`   collected ${total} tokens, ${requests} requests, ${limited} limited; simulator's truth ${t.inputTokens + t.outputTokens} tokens, ${t.requests} requests, ${t.limited} limited: ${exact ? "EXACT" : "DIFFERENT"}`);
          say(`   input/output split apportioned from vLLM: ${input}/${total - input}; simulator's truth ${t.inputTokens}/${t.outputTokens}`);
        }
      }
      say(`\n== reconciliation: gateway (Limitador authorized_hits) vs model server (vLLM prompt + generation)`);
      const recs = (
        await db.pool.query(
          `select tenant, model, sum(gateway_tokens)::bigint as gateway, sum(model_input_tokens + model_output_tokens)::bigint as model_tokens,
                  count(*) filter (where flagged)::int as flagged, count(*)::int as windows
             from collector_reconciliation where model is not null group by 1, 2 order by 1, 2`,
        )
      ).rows;
      for (const r of recs) {
        say(`   ${String(r.tenant).padEnd(7)} ${String(r.model).padEnd(11)} gateway ${String(r.gateway).padStart(8)}  vLLM ${String(r.model_tokens).padStart(8)}  difference ${String(Number(r.gateway) - Number(r.model_tokens)).padStart(6)}  windows beyond 5%: ${r.flagged} of ${r.windows}`);
      }
      say("   (per 10-second window the two sources are scraped at different instants, so a request can land in");
      say("    neighbouring windows; over the whole run they agree. The input/output split of each gateway row is");
      say("    apportioned from the model server's ratio in its window.)");
    },
    stop: () => db.stop(),
  };
};
