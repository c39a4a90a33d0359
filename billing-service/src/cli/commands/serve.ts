/** `maas-billing serve`: the HTTP API (and the collector loop when Prometheus is configured). */
import { Command } from "commander";
import { startServer } from "../../server";
import { commandConfig } from "../context";

export const serveCommand = (): Command =>
  new Command("serve")
    .description("serve the billing API on --port / PORT (default 8080)")
    .option("--port <port>", "listen port (env PORT)")
    .option("--metrics-port <port>", "scrape-only /metrics listener (env MAAS_BILLING_METRICS_PORT, default 8081)")
    .option("--host <host>", "listen address (env HOST, default 0.0.0.0)")
    .option("--tokens-file <path>", "static API tokens, hashed (env MAAS_BILLING_TOKENS_FILE)")
    .option("--auth-mode <mode>", "static | kubernetes (env MAAS_BILLING_AUTH_MODE)")
    .action(async (flags: { port?: string; metricsPort?: string; host?: string; tokensFile?: string; authMode?: string }, command: Command) => {
      const config = commandConfig(command, flags);
      // Listen for the signals before starting, so a SIGTERM during start-up still shuts down cleanly
      // (serve owns the signals: the embedded database's own exit handlers are removed).
      const stopRequested = new Promise<void>((resolve) => {
        process.once("SIGTERM", () => resolve());
        process.once("SIGINT", () => resolve());
      });
      const server = await startServer(config);
      await stopRequested;
      await server.close();
    });
