/**
 * `maas-billing collect`: exact usage from Prometheus counters into the ledger.
 *
 *   maas-billing collect --once --prometheus-url URL [--from ISO] [--to ISO]
 *   maas-billing collect --prometheus-url URL          (loop: one pass per interval until SIGTERM)
 *
 * Without --from it resumes from the watermark; without --to it stops at the newest closed window.
 */
import { Command } from "commander";
import { collectOnce, runCollectorLoop } from "../../collector/collect";
import { PrometheusClient } from "../../collector/prometheus-client";
import { createSampleSource } from "../../collector/sample-source";
import { requireCollector, type ConfigFlags } from "../../config";
import { commandConfig, openMigrated, parseInstantFlag } from "../context";

interface CollectCommandFlags extends ConfigFlags {
  once?: boolean;
  from?: string;
  to?: string;
}

const LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"];

export const collectCommand = (): Command =>
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
    .option("--read-api <api>", "read raw samples through query, remote-read or auto (default query; docs/collector.md)")
    .option("--tenant-map <map>", 'tenants owning several namespaces: "acme=acme-models,acme-dev;globex=globex-llm" (replaces the settings\' tenants; refused with tenantFiles)')
    .action(async ({ once, from, to, ...flags }: CollectCommandFlags, command: Command) => {
      const config = commandConfig(command, flags);
      const { settings, prometheus } = requireCollector(config);
      const fromMs = from === undefined ? undefined : parseInstantFlag("--from", from).getTime();
      const toMs = to === undefined ? undefined : parseInstantFlag("--to", to).getTime();
      const db = await openMigrated(config);
      const client = new PrometheusClient(prometheus);
      // JSON lines on stderr (stdout carries the report), filtered by the configured log level.
      const write = (l: "info" | "warn") => (obj: object, msg: string) => {
        if (LEVELS.indexOf(l) >= LEVELS.indexOf(config.logging.level)) process.stderr.write(`${JSON.stringify({ level: l, msg, ...obj })}\n`);
      };
      const log = { info: write("info"), warn: write("warn") };
      const source = createSampleSource(client, settings.readApi, log);
      try {
        const deps = { pool: db.pool, prometheus: source, settings, log };
        if (once) {
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
        source.close();
        client.close();
        await db.close();
      }
    });
