/** `maas-billing serve`: the HTTP API (and the collector loop when Prometheus is configured). */
import { Command } from "commander";
import { startServer } from "../../server";
import { commandConfig } from "../context";

export const serveCommand = (): Command =>
  new Command("serve")
    .description("serve the billing API on --port / PORT (default 8080)")
    .option("--port <port>", "listen port (env PORT)")
    .option("--host <host>", "listen address (env HOST, default 0.0.0.0)")
    .option("--tokens-file <path>", "static API tokens, hashed (env MAAS_BILLING_TOKENS_FILE)")
    .option("--auth-mode <mode>", "static | kubernetes (env MAAS_BILLING_AUTH_MODE)")
    .action(async (flags: { port?: string; host?: string; tokensFile?: string; authMode?: string }, command: Command) => {
      const config = commandConfig(command, flags);
      const server = await startServer(config);
      await new Promise<void>((resolve) => {
        const stop = (): void => resolve();
        process.once("SIGTERM", stop);
        process.once("SIGINT", stop);
      });
      await server.close();
    });
