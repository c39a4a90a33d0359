/**
 * The service configuration: parsed once, from environment variables and command-line flags
 * (flags win), into typed sections, before anything is opened. Every problem is reported at once,
 * each line naming the env variable and flag, the problem, the value and an example, e.g.
 *   MAAS_BILLING_SPOOL_MAX_BYTES: expected a whole number of bytes >= 0, got "1G". Example: 268435456
 * so a typo fails `serve` at start instead of after migrations. Env names come from the contract
 * module (src/contract/env.ts), the one list the platform sets too.
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { z } from "zod";
import type { PrometheusClientOptions } from "./collector/prometheus-client";
import { parseCollectorSettingsYaml, parseTenantRegistryYaml, SERVICE_ENV, SERVICE_ENV_PREFIX, type CollectorSettings, type ServiceEnvKey } from "./contract";
import { parseTierDefaults, type TierDefaults } from "./quota/defaults";
import { parseEgressAllowList, type EgressPolicy } from "./net/egress";
import type { ExportSinkConfig } from "./close/sink";
import { s3BucketName, s3Endpoint, s3Prefix, s3Region, withoutUserInfo } from "./close/s3-settings";

export class ConfigError extends Error {}

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Default events spool limit: 256 MiB. */
export const DEFAULT_SPOOL_MAX_BYTES = 256 * 1024 * 1024;

/** The collector section: present when a Prometheus URL is configured. */
export interface CollectorConfig {
  readonly settings: CollectorSettings;
  readonly prometheus: PrometheusClientOptions;
}

export interface ServiceConfig {
  /** Embedded PostgreSQL, local tokens and the spool live here. */
  readonly dataDir: string;
  /** `metricsPort`: the scrape-only listener (GET /metrics and nothing else, src/ops/metrics-app.ts). */
  readonly server: { readonly port: number; readonly metricsPort: number; readonly host: string };
  /** Per-principal request limit of /v1 (src/app.ts). */
  readonly limits: { readonly requestsPerMinute: number };
  /** Model names accepted in events besides the price book's (src/events/vocabulary.ts); undefined: only the book's. */
  readonly events: { readonly models?: readonly string[]; readonly tiers?: readonly string[] };
  /**
   * `url` unset: the embedded PostgreSQL in `dataDir`. `appRole`: given to `migrate` run as the
   * schema owner, the login role it creates or updates for the service (src/db/roles.ts).
   */
  readonly database: { readonly url?: string; readonly appRole?: { readonly name: string; readonly password: string } };
  readonly auth: { readonly mode: "static" | "kubernetes"; readonly tokensFile?: string };
  readonly priceBook: { readonly path: string };
  readonly retention: { readonly months: number };
  readonly logging: { readonly level: LogLevel };
  /** `maxBytes` 0: no spooling (events are refused with 503 while the database is down). */
  readonly spool: { readonly dir: string; readonly maxBytes: number };
  /** Undefined when no Prometheus URL is configured (usage then comes through the events API only). */
  readonly collector?: CollectorConfig;
  /** Quotas (src/quota): tier defaults, the in-memory view's refresh and staleness limit, reservation times. */
  readonly quota: {
    readonly tierDefaults?: TierDefaults;
    readonly refreshMs: number;
    readonly maxStaleMs: number;
    readonly reservationTtlMs: number;
    readonly settleAfterMs: number;
    /** Percentages that send quota.threshold webhooks. */
    readonly thresholds: readonly number[];
  };
  /** Outbound webhooks: how often to send, and the in-cluster receivers allowed besides public addresses. */
  readonly webhooks: { readonly intervalMs: number; readonly egress: EgressPolicy };
  /** Month-end close (src/close/month-end.ts): off unless a sink (a directory or an S3 bucket) is configured. */
  readonly close?: { readonly sink: ExportSinkConfig; readonly graceMs: number };
}

/** Flags a command may pass; undefined means "use the environment or the default". */
export interface ConfigFlags {
  databaseUrl?: string;
  dataDir?: string;
  port?: string | number;
  metricsPort?: string | number;
  host?: string;
  priceBook?: string;
  tokensFile?: string;
  authMode?: string;
  retentionMonths?: string | number;
  logLevel?: string;
  // collect's flags
  prometheusUrl?: string;
  bearerTokenFile?: string;
  caFile?: string;
  /** Collector settings YAML. */
  config?: string;
  window?: string;
  offset?: string;
  scrapeInterval?: string;
  vllmFamily?: string;
  readApi?: string;
  tenantMap?: string;
}

/** The flag that sets each env-backed field (none: env only). */
const FLAG_OF: Partial<Record<ServiceEnvKey, string>> = {
  dataDir: "--data-dir",
  port: "--port",
  metricsPort: "--metrics-port",
  host: "--host",
  priceBook: "--price-book",
  tokensFile: "--tokens-file",
  authMode: "--auth-mode",
  logLevel: "--log-level",
  prometheusUrl: "--prometheus-url",
  prometheusTokenFile: "--bearer-token-file",
  prometheusCaFile: "--ca-file",
  collectorConfig: "--config",
};

/** "MAAS_BILLING_AUTH_MODE / --auth-mode": how an error names a setting. */
export const settingName = (key: ServiceEnvKey): string => [SERVICE_ENV[key], FLAG_OF[key]].filter(Boolean).join(" / ");

/** The example price book shipped with the package: the default when none is configured. */
// From src/ (tsx) it is one level up, from dist/src/ (the image) two.
export const EXAMPLE_PRICE_BOOK =
  [path.join(__dirname, "..", "pricebook.example.yaml"), path.join(__dirname, "..", "..", "pricebook.example.yaml")].find((p) => existsSync(p)) ??
  path.join(__dirname, "..", "pricebook.example.yaml");

const blank = (v: string | number | undefined): string | number | undefined => (v === undefined || v === "" ? undefined : v);

const portSchema = z.coerce.number().int().min(0).max(65535);
const coreSchema = z.object({
  databaseUrl: z.string().regex(/^postgres(ql)?:\/\//, "expected a postgres:// URL").optional(),
  appDatabaseRole: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, "expected a PostgreSQL role name").optional(),
  appDatabasePassword: z.string().min(16, "expected a generated password of at least 16 characters").optional(),
  dataDir: z.string().min(1),
  port: portSchema,
  metricsPort: portSchema,
  host: z.string().min(1),
  priceBook: z.string().min(1),
  tokensFile: z.string().min(1).optional(),
  authMode: z.enum(["static", "kubernetes"]),
  retentionMonths: z.coerce.number().int().min(1).max(1200),
  logLevel: z.enum(LOG_LEVELS),
  spoolMaxBytes: z.coerce
    .number({ error: "expected a whole number of bytes >= 0" })
    .refine((n) => Number.isSafeInteger(n) && n >= 0, "expected a whole number of bytes >= 0"),
  spoolDir: z.string().min(1).optional(),
  prometheusUrl: z.url({ protocol: /^https?$/, error: "expected an http(s) URL" }).optional(),
  quotaDefaults: z
    .string()
    .transform((text, ctx) => {
      try {
        return parseTierDefaults(JSON.parse(text), "JSON");
      } catch (e) {
        ctx.addIssue({ code: "custom", message: (e as Error).message });
        return z.NEVER;
      }
    })
    .optional(),
  quotaRefreshMs: z.coerce.number().int().min(50).max(60_000),
  quotaMaxStaleMs: z.coerce.number().int().min(100).max(3_600_000),
  quotaReservationTtlSeconds: z.coerce.number().int().min(1).max(86_400),
  quotaSettleAfterSeconds: z.coerce.number().int().min(0).max(86_400),
  quotaThresholds: z
    .string()
    .regex(/^\s*(\d{1,3}(\s*,\s*\d{1,3})*)?\s*$/, "expected comma-separated whole percentages")
    .transform((t) => t.split(",").map((x) => x.trim()).filter(Boolean).map(Number))
    .refine((list) => list.every((n) => n >= 1 && n <= 1000), "each percentage must be 1-1000"),
  webhookIntervalMs: z.coerce.number().int().min(100).max(600_000),
  webhookAllow: z
    .string()
    .transform((text, ctx) => {
      try {
        return parseEgressAllowList(text);
      } catch (e) {
        ctx.addIssue({ code: "custom", message: (e as Error).message.replace(`${SERVICE_ENV.webhookAllow}: `, "") });
        return z.NEVER;
      }
    }),
  closeSinkDir: z.string().min(1).optional(),
  closeS3Bucket: s3BucketName.optional(),
  closeS3Endpoint: s3Endpoint.optional(),
  closeS3Region: s3Region.optional(),
  closeS3Prefix: s3Prefix.optional(),
  closeS3PathStyle: z.enum(["true", "false"], { error: 'expected "true" or "false"' }).optional(),
  closeGraceHours: z.coerce.number().int().min(0).max(24 * 28),
  models: z.string().optional(),
  tiers: z.string().optional(),
  requestsPerMinute: z.coerce.number({ error: "expected a whole number >= 1" }).int().min(1),
})
  .refine((c) => c.port === 0 || c.port !== c.metricsPort, { path: ["metricsPort"], message: "must differ from PORT (the metrics listener is scrape-only)" })
  .superRefine((c, ctx) => {
    // One sink for the month-end close: a directory (PVC) or a bucket.
    if (c.closeSinkDir !== undefined && c.closeS3Bucket !== undefined) {
      ctx.addIssue({ code: "custom", path: ["closeS3Bucket"], message: `choose one month-end sink: unset ${SERVICE_ENV.closeSinkDir} or this` });
    }
    for (const key of ["closeS3Endpoint", "closeS3Region", "closeS3Prefix", "closeS3PathStyle"] as const) {
      if (c[key] !== undefined && c.closeS3Bucket === undefined) ctx.addIssue({ code: "custom", path: [key], message: `only used with ${SERVICE_ENV.closeS3Bucket}: set the bucket too` });
    }
  });
type CoreKey = keyof z.input<typeof coreSchema>;

const EXAMPLES: Partial<Record<CoreKey, string>> = {
  databaseUrl: "postgres://user@db.example:5432/maas_billing",
  appDatabaseRole: "billing_app",
  port: "8080",
  metricsPort: "8081",
  requestsPerMinute: "1200",
  authMode: "static",
  retentionMonths: "36",
  logLevel: "info",
  spoolMaxBytes: "268435456",
  prometheusUrl: "http://127.0.0.1:9090",
  quotaDefaults: '{"free": [{"kind": "tokens", "period": "day", "limit": 100000}]}',
  quotaRefreshMs: "1000",
  quotaMaxStaleMs: "15000",
  quotaReservationTtlSeconds: "900",
  quotaSettleAfterSeconds: "600",
  quotaThresholds: "80,100",
  webhookIntervalMs: "2000",
  webhookAllow: "10.96.0.0/12,.svc.cluster.local",
  closeSinkDir: "/var/lib/maas-billing/exports",
  closeGraceHours: "72",
  closeS3Bucket: "maas-billing-exports",
  closeS3Endpoint: "https://s3.openshift-storage.svc",
  closeS3Region: "us-east-1",
  closeS3Prefix: "maas-billing/",
  closeS3PathStyle: "true",
};

/** Kubernetes service links (`<SERVICE>_SERVICE_HOST`, `<SERVICE>_PORT_8080_TCP`...) of services named maas-billing-*. */
const SERVICE_LINK = /_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT(_\d+_(TCP|UDP|SCTP)(_(ADDR|PORT|PROTO))?)?)$/;

const editDistance = (a: string, b: string): number => {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return row[b.length];
};

/** `MAAS_BILLING_*` variables this service does not read: almost always a typo of one it does. */
const unknownEnvNames = (env: NodeJS.ProcessEnv): string[] => {
  const known: string[] = Object.values(SERVICE_ENV);
  return Object.keys(env)
    .filter((name) => name.startsWith(SERVICE_ENV_PREFIX) && !known.includes(name) && !SERVICE_LINK.test(name))
    .sort()
    .map((name) => {
      const nearest = [...known].sort((a, b) => editDistance(name, a) - editDistance(name, b))[0];
      return `${name}: not a setting of maas-billing; did you mean ${nearest}? (known: ${known.filter((k) => k.startsWith(SERVICE_ENV_PREFIX)).join(", ")})`;
    });
};

const readSettingFile = (key: ServiceEnvKey, file: string, problems: string[]): string | undefined => {
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    problems.push(`${settingName(key)}: cannot read "${file}": ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    return undefined;
  }
};

/** `acme=acme-models,acme-dev;globex=globex-llm` -> tenant list; undefined (and a problem) when malformed. */
export const parseTenantMapFlag = (text: string): { name: string; namespaces: string[] }[] =>
  text
    .split(";")
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const [name, list] = part.split("=");
      const namespaces = (list ?? "").split(",").map((n) => n.trim()).filter(Boolean);
      if (!name || namespaces.length === 0) throw new ConfigError(`--tenant-map: expected "tenant=ns1,ns2;other=ns3", got "${part}"`);
      return { name: name.trim(), namespaces };
    });

const collectorConfig = (url: string, flags: ConfigFlags, env: NodeJS.ProcessEnv, problems: string[]): CollectorConfig | undefined => {
  const before = problems.length;
  const configFile = blank(flags.config ?? env[SERVICE_ENV.collectorConfig]) as string | undefined;
  let settings: CollectorSettings | undefined;
  const overrides: Record<string, unknown> = {};
  if (flags.window) overrides.window = flags.window;
  if (flags.offset) overrides.offset = flags.offset;
  if (flags.scrapeInterval) overrides.scrapeInterval = flags.scrapeInterval;
  if (flags.vllmFamily) overrides.vllmFamily = flags.vllmFamily;
  if (flags.readApi) overrides.readApi = flags.readApi;
  try {
    if (flags.tenantMap) overrides.tenants = parseTenantMapFlag(flags.tenantMap);
    const text = configFile === undefined ? "" : readSettingFile("collectorConfig", configFile, problems);
    if (text !== undefined) settings = parseCollectorSettingsYaml(text, configFile ?? "collector settings", overrides);
    // --tenant-map replaces `tenants` but not the files: with both, the registry would be neither the
    // flag's nor the settings' (a shard's tenants billed as unattributed or as their namespaces), so
    // the combination is refused instead of guessed at.
    if (flags.tenantMap && settings !== undefined && settings.tenantFiles.length > 0) {
      problems.push(
        `--tenant-map: cannot be combined with the tenantFiles that ${settingName("collectorConfig")} "${configFile}" names: ` +
          "the flag would replace `tenants` but not the files. Fix: drop --tenant-map to use the registry the settings name, " +
          "or pass --config with a settings file that names no tenantFiles",
      );
      settings = undefined;
    } else if (settings !== undefined && settings.tenantFiles.length > 0) {
      // The registry files the settings name (the platform's shards) join `tenants`.
      const more = settings.tenantFiles.flatMap((file) => {
        const registry = readSettingFile("collectorConfig", file, problems);
        return registry === undefined ? [] : parseTenantRegistryYaml(registry, file);
      });
      settings = { ...settings, tenants: [...settings.tenants, ...more] };
    }
  } catch (e) {
    const where = configFile ? settingName("collectorConfig") : "collector flags";
    problems.push(...(e as Error).message.split("\n").map((line) => `${where}: ${line}`));
  }
  const tokenFile = blank(flags.bearerTokenFile ?? env[SERVICE_ENV.prometheusTokenFile]) as string | undefined;
  const bearerToken = tokenFile ? readSettingFile("prometheusTokenFile", tokenFile, problems)?.trim() : env[SERVICE_ENV.prometheusToken];
  const caFile = blank(flags.caFile ?? env[SERVICE_ENV.prometheusCaFile]) as string | undefined;
  const caPem = caFile ? readSettingFile("prometheusCaFile", caFile, problems) : undefined;
  if (problems.length > before || settings === undefined) return undefined;
  return { settings, prometheus: { url, bearerToken: bearerToken || undefined, caPem } };
};

/**
 * Parses the whole configuration. Throws ConfigError listing every problem (the database URL's
 * value is never shown: it may hold a password).
 */
export const loadConfig = (flags: ConfigFlags = {}, env: NodeJS.ProcessEnv = process.env): ServiceConfig => {
  const fromEnv = (key: ServiceEnvKey, flag?: string | number): string | number | undefined => blank(flag ?? env[SERVICE_ENV[key]]);
  const raw: Record<CoreKey, unknown> = {
    databaseUrl: fromEnv("databaseUrl", flags.databaseUrl),
    appDatabaseRole: fromEnv("appDatabaseRole"),
    appDatabasePassword: fromEnv("appDatabasePassword"),
    dataDir: path.resolve(String(fromEnv("dataDir", flags.dataDir) ?? ".maas-billing")),
    port: fromEnv("port", flags.port) ?? 8080,
    // Scrape-only: /metrics lives here and nowhere else (src/ops/metrics-app.ts).
    metricsPort: fromEnv("metricsPort", flags.metricsPort) ?? 8081,
    host: fromEnv("host", flags.host) ?? "0.0.0.0",
    priceBook: fromEnv("priceBook", flags.priceBook) ?? EXAMPLE_PRICE_BOOK,
    tokensFile: fromEnv("tokensFile", flags.tokensFile),
    authMode: fromEnv("authMode", flags.authMode) ?? "static",
    retentionMonths: fromEnv("retentionMonths", flags.retentionMonths) ?? 36,
    logLevel: fromEnv("logLevel", flags.logLevel) ?? "info",
    spoolMaxBytes: (fromEnv("spoolMaxBytes") as string | undefined)?.trim() || DEFAULT_SPOOL_MAX_BYTES,
    spoolDir: fromEnv("spoolDir"),
    prometheusUrl: fromEnv("prometheusUrl", flags.prometheusUrl),
    quotaDefaults: fromEnv("quotaDefaults"),
    quotaRefreshMs: fromEnv("quotaRefreshMs") ?? 1000,
    quotaMaxStaleMs: fromEnv("quotaMaxStaleMs") ?? 15_000,
    quotaReservationTtlSeconds: fromEnv("quotaReservationTtlSeconds") ?? 900,
    quotaSettleAfterSeconds: fromEnv("quotaSettleAfterSeconds") ?? 600,
    quotaThresholds: env[SERVICE_ENV.quotaThresholds] ?? "80,100",
    webhookIntervalMs: fromEnv("webhookIntervalMs") ?? 2000,
    webhookAllow: fromEnv("webhookAllow") ?? "",
    closeSinkDir: fromEnv("closeSinkDir"),
    closeS3Bucket: fromEnv("closeS3Bucket"),
    closeS3Endpoint: fromEnv("closeS3Endpoint"),
    closeS3Region: fromEnv("closeS3Region"),
    closeS3Prefix: fromEnv("closeS3Prefix"),
    closeS3PathStyle: fromEnv("closeS3PathStyle"),
    closeGraceHours: fromEnv("closeGraceHours") ?? 72,
    models: fromEnv("models"),
    tiers: fromEnv("tiers"),
    requestsPerMinute: fromEnv("requestsPerMinute") ?? 1200,
  };
  const problems = unknownEnvNames(env);
  const parsed = coreSchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const key = issue.path[0] as CoreKey;
      const shown =
        key === "databaseUrl" || key === "appDatabasePassword"
          ? "<redacted>"
          : // An endpoint refused for carrying credentials is shown without them.
            JSON.stringify(key === "closeS3Endpoint" && typeof raw[key] === "string" ? withoutUserInfo(raw[key]) : raw[key]);
      const example = EXAMPLES[key] ? `. Example: ${EXAMPLES[key]}` : "";
      problems.push(`${settingName(key)}: ${issue.message}, got ${shown}${example}`);
    }
  }
  const c = parsed.data;
  if (c && c.quotaMaxStaleMs <= c.quotaRefreshMs) {
    problems.push(`${settingName("quotaMaxStaleMs")}: must be larger than ${settingName("quotaRefreshMs")} (${c.quotaRefreshMs}), got ${c.quotaMaxStaleMs}`);
  }
  if (c && (c.appDatabaseRole === undefined) !== (c.appDatabasePassword === undefined)) {
    problems.push(`${settingName("appDatabaseRole")}, ${settingName("appDatabasePassword")}: set both or neither (the app role \`migrate\` creates for the service)`);
  }
  const collector = c?.prometheusUrl ? collectorConfig(c.prometheusUrl, flags, env, problems) : undefined;
  if (problems.length > 0 || !c) throw new ConfigError(`invalid configuration:\n  ${problems.join("\n  ")}`);
  return {
    dataDir: c.dataDir,
    server: { port: c.port, metricsPort: c.metricsPort, host: c.host },
    limits: { requestsPerMinute: c.requestsPerMinute },
    // Comma-separated, e.g. the served model routes.
    events: {
      models: c.models === undefined ? undefined : c.models.split(",").map((m) => m.trim()).filter(Boolean),
      tiers: c.tiers === undefined ? undefined : c.tiers.split(",").map((m) => m.trim()).filter(Boolean),
    },
    database: {
      url: c.databaseUrl,
      ...(c.appDatabaseRole && c.appDatabasePassword ? { appRole: { name: c.appDatabaseRole, password: c.appDatabasePassword } } : {}),
    },
    auth: { mode: c.authMode, tokensFile: c.tokensFile },
    priceBook: { path: c.priceBook },
    retention: { months: c.retentionMonths },
    logging: { level: c.logLevel },
    spool: { dir: c.spoolDir ?? path.join(c.dataDir, "spool"), maxBytes: c.spoolMaxBytes },
    collector,
    quota: {
      tierDefaults: c.quotaDefaults,
      refreshMs: c.quotaRefreshMs,
      maxStaleMs: c.quotaMaxStaleMs,
      reservationTtlMs: c.quotaReservationTtlSeconds * 1000,
      settleAfterMs: c.quotaSettleAfterSeconds * 1000,
      thresholds: c.quotaThresholds,
    },
    webhooks: { intervalMs: c.webhookIntervalMs, egress: c.webhookAllow },
    ...(c.closeSinkDir ? { close: { sink: { kind: "dir", dir: path.resolve(c.closeSinkDir) }, graceMs: c.closeGraceHours * 3_600_000 } } : {}),
    ...(c.closeS3Bucket
      ? {
          close: {
            sink: {
              kind: "s3",
              bucket: c.closeS3Bucket,
              prefix: c.closeS3Prefix ?? "",
              ...(c.closeS3Endpoint ? { endpoint: c.closeS3Endpoint } : {}),
              region: c.closeS3Region ?? "us-east-1",
              forcePathStyle: (c.closeS3PathStyle ?? (c.closeS3Endpoint ? "true" : "false")) === "true",
            },
            graceMs: c.closeGraceHours * 3_600_000,
          },
        }
      : {}),
  };
};

/** The collector section, required by `collect`; the error says which flag or variable to set. */
export const requireCollector = (config: ServiceConfig): CollectorConfig => {
  if (!config.collector) {
    throw new ConfigError(`invalid configuration:\n  ${settingName("prometheusUrl")}: required by collect, e.g. http://127.0.0.1:9090`);
  }
  return config.collector;
};
