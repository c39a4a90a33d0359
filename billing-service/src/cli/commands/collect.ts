/**
 * `maas-billing collect`: exact usage from Prometheus counters into the ledger.
 *
 *   maas-billing collect --once --prometheus-url URL [--from ISO] [--to ISO]
 *   maas-billing collect --prometheus-url URL          (loop: one pass per interval until SIGTERM)
 *
 * Without --from it resumes from the watermark; without --to it stops at the newest closed window.
 */
import { Command } from "commander";
import type { Pool } from "pg";
import { SERVICE_ENV } from "../../contract";
import { collectOnce, runCollectorLoop } from "../../collector/collect";
import { parseInstant, resolveCollectOptions, type CollectFlags } from "../../collector/cli-options";
import { PrometheusClient } from "../../collector/prometheus-client";
import { applyCollectorMigrations } from "../../collector/schema";

/** How the command gets a database: the service's opener (embedded PostgreSQL when no URL). */
export type OpenDatabase = () => Promise<{ pool: Pool; close(): Promise<void> }>;

interface CollectCommandFlags extends CollectFlags {
  once?: boolean;
  from?: string;
  to?: string;
}

export const collectCommand = (openDatabase: OpenDatabase): Command =>
  new Command("collect")
    .description("collect exact usage from Prometheus counters into the usage ledger")
    .option("--once", "collect one range and exit (default: loop until stopped)")
    .option("--prometheus-url <url>", "Prometheus or Thanos querier base URL (env MAAS_BILLING_PROMETHEUS_URL)")
    .option("--bearer-token-file <path>", "file holding the bearer token (env MAAS_BILLING_PROMETHEUS_TOKEN_FILE or MAAS_BILLING_PROMETHEUS_TOKEN)")
    .option("--ca-file <path>", "PEM CA bundle for an https endpoint (env MAAS_BILLING_PROMETHEUS_CA_FILE)")
    .option("--config <path>", "collector settings YAML (env MAAS_BILLING_COLLECTOR_CONFIG); see docs/collector.md")
    .option("--from <iso>", "start of the range (window-aligned); default: resume from the watermark")
    .option("--to <iso>", "end of the range (window-aligned); default: end of the newest closed window")
    .option("--window <duration>", "ledger window size, e.g. 1h (default 1h)")
    .option("--offset <duration>", "a window is closed this long after its end (default 5m)")
    .option("--scrape-interval <duration>", "scrape interval of the counters (default 15s)")
    .option("--vllm-family <family>", "vllm or kserve_vllm (default vllm)")
    .option("--tenant-map <map>", 'tenants owning several namespaces: "acme=acme-models,acme-dev;globex=globex-llm"')
    .action(async (flags: CollectCommandFlags, command: Command) => {
      const { settings, prometheus } = resolveCollectOptions(flags, process.env);
      const fromMs = parseInstant("--from", flags.from);
      const toMs = parseInstant("--to", flags.to);
      const db = await openDatabase();
      const client = new PrometheusClient(prometheus);
      // JSON lines on stderr (stdout carries the report), filtered by the global --log-level / LOG_LEVEL.
      const level = (command.optsWithGlobals() as { logLevel?: string }).logLevel ?? process.env[SERVICE_ENV.logLevel] ?? "info";
      const rank = (l: string) => ["trace", "debug", "info", "warn", "error", "fatal", "silent"].indexOf(l);
      const write = (l: "info" | "warn") => (obj: object, msg: string) => {
        if (rank(l) >= rank(level)) process.stderr.write(`${JSON.stringify({ level: l, msg, ...obj })}\n`);
      };
      const log = { info: write("info"), warn: write("warn") };
      try {
        await applyCollectorMigrations(db.pool);
        const deps = { pool: db.pool, prometheus: client, settings, log };
        if (flags.once) {
          const report = await collectOnce(deps, { fromMs, toMs });
          process.stdout.write(
            `${JSON.stringify({
              ...report,
              fromMs: undefined,
              toMs: undefined,
              from: report.fromMs === undefined ? undefined : new Date(report.fromMs).toISOString(),
              to: report.toMs === undefined ? undefined : new Date(report.toMs).toISOString(),
            })}\n`,
          );
          if (report.status === "locked") process.exitCode = 3;
          return;
        }
        const stop = new AbortController();
        for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => stop.abort());
        await runCollectorLoop(deps, stop.signal);
      } finally {
        client.close();
        await db.close();
      }
    });
