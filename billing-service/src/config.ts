/**
 * Service configuration from environment variables and command-line flags (flags win), validated
 * with zod so a mistake reads as "MAAS_BILLING_AUTH_MODE: expected static or kubernetes, got ..."
 * instead of a crash deep inside the service.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { z } from "zod";

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
  databaseUrl: "DATABASE_URL / --database-url",
  dataDir: "MAAS_BILLING_DATA_DIR / --data-dir",
  port: "PORT / --port",
  host: "HOST / --host",
  priceBookPath: "MAAS_BILLING_PRICE_BOOK / --price-book",
  tokensFile: "MAAS_BILLING_TOKENS_FILE / --tokens-file",
  authMode: "MAAS_BILLING_AUTH_MODE / --auth-mode",
  retentionMonths: "MAAS_BILLING_RETENTION_MONTHS / --retention-months",
  logLevel: "LOG_LEVEL / --log-level",
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
    databaseUrl: blankToUndefined(flags.databaseUrl ?? env.DATABASE_URL),
    dataDir: path.resolve(String(blankToUndefined(flags.dataDir ?? env.MAAS_BILLING_DATA_DIR) ?? ".maas-billing")),
    port: blankToUndefined(flags.port ?? env.PORT) ?? 8080,
    host: blankToUndefined(flags.host ?? env.HOST) ?? "0.0.0.0",
    priceBookPath: blankToUndefined(flags.priceBook ?? env.MAAS_BILLING_PRICE_BOOK) ?? EXAMPLE_PRICE_BOOK,
    tokensFile: blankToUndefined(flags.tokensFile ?? env.MAAS_BILLING_TOKENS_FILE),
    authMode: blankToUndefined(flags.authMode ?? env.MAAS_BILLING_AUTH_MODE) ?? "static",
    retentionMonths: blankToUndefined(flags.retentionMonths ?? env.MAAS_BILLING_RETENTION_MONTHS) ?? 36,
    logLevel: blankToUndefined(flags.logLevel ?? env.LOG_LEVEL) ?? "info",
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
