/**
 * Service configuration from environment variables and command-line flags (flags win), validated
 * with zod so a mistake reads as "MAAS_BILLING_AUTH_MODE: expected static or kubernetes, got ..."
 * instead of a crash deep inside the service.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { z } from "zod";
import { SERVICE_ENV } from "./contract";

export class ConfigError extends Error {}

const portSchema = z.coerce.number().int().min(0).max(65535);

const configSchema = z.object({
  databaseUrl: z.string().regex(/^postgres(ql)?:\/\//, "expected a postgres:// URL").optional(),
  dataDir: z.string().min(1),
  port: portSchema,
  host: z.string().min(1),
  priceBookPath: z.string().min(1),
  tokensFile: z.string().min(1).optional(),
  authMode: z.enum(["static", "kubernetes"]),
  retentionMonths: z.coerce.number().int().min(1).max(1200),
  logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]),
});

export type ServiceConfig = z.infer<typeof configSchema>;

/** Flags a command may pass; undefined means "use the environment or the default". */
export interface ConfigFlags {
  databaseUrl?: string;
  dataDir?: string;
  port?: string | number;
  host?: string;
  priceBook?: string;
  tokensFile?: string;
  authMode?: string;
  retentionMonths?: string | number;
  logLevel?: string;
}

/** Which env variable or flag a config field comes from, for the error messages. */
const sourceNames: Record<keyof ServiceConfig, string> = {
  databaseUrl: `${SERVICE_ENV.databaseUrl} / --database-url`,
  dataDir: `${SERVICE_ENV.dataDir} / --data-dir`,
  port: `${SERVICE_ENV.port} / --port`,
  host: `${SERVICE_ENV.host} / --host`,
  priceBookPath: `${SERVICE_ENV.priceBook} / --price-book`,
  tokensFile: `${SERVICE_ENV.tokensFile} / --tokens-file`,
  authMode: `${SERVICE_ENV.authMode} / --auth-mode`,
  retentionMonths: `${SERVICE_ENV.retentionMonths} / --retention-months`,
  logLevel: `${SERVICE_ENV.logLevel} / --log-level`,
};

/** The example price book shipped with the package: the default when none is configured. */
// From src/ (tsx) it is one level up, from dist/src/ (the image) two.
export const EXAMPLE_PRICE_BOOK =
  [path.join(__dirname, "..", "pricebook.example.yaml"), path.join(__dirname, "..", "..", "pricebook.example.yaml")].find((p) => existsSync(p)) ??
  path.join(__dirname, "..", "pricebook.example.yaml");

const blankToUndefined = (v: string | number | undefined): string | number | undefined =>
  v === undefined || v === "" ? undefined : v;

export const loadConfig = (flags: ConfigFlags = {}, env: NodeJS.ProcessEnv = process.env): ServiceConfig => {
  const raw = {
    databaseUrl: blankToUndefined(flags.databaseUrl ?? env[SERVICE_ENV.databaseUrl]),
    dataDir: path.resolve(String(blankToUndefined(flags.dataDir ?? env[SERVICE_ENV.dataDir]) ?? ".maas-billing")),
    port: blankToUndefined(flags.port ?? env[SERVICE_ENV.port]) ?? 8080,
    host: blankToUndefined(flags.host ?? env[SERVICE_ENV.host]) ?? "0.0.0.0",
    priceBookPath: blankToUndefined(flags.priceBook ?? env[SERVICE_ENV.priceBook]) ?? EXAMPLE_PRICE_BOOK,
    tokensFile: blankToUndefined(flags.tokensFile ?? env[SERVICE_ENV.tokensFile]),
    authMode: blankToUndefined(flags.authMode ?? env[SERVICE_ENV.authMode]) ?? "static",
    retentionMonths: blankToUndefined(flags.retentionMonths ?? env[SERVICE_ENV.retentionMonths]) ?? 36,
    logLevel: blankToUndefined(flags.logLevel ?? env[SERVICE_ENV.logLevel]) ?? "info",
  };
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const key = issue.path[0] as keyof ServiceConfig;
      const value = (raw as Record<string, unknown>)[key];
      const shown = key === "databaseUrl" ? "<redacted>" : JSON.stringify(value);
      return `${sourceNames[key] ?? String(key)}: ${issue.message}, got ${shown}`;
    });
    throw new ConfigError(`invalid configuration:\n  ${lines.join("\n  ")}`);
  }
  return parsed.data;
};
