/**
 * Turns `collect` flags, env and the optional config file into collector settings and a
 * Prometheus client configuration. Secrets (the bearer token) are only ever read from a file or
 * the environment, never from a flag value that would show in `ps`, and never printed.
 */
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { parseCollectorSettings, SERVICE_ENV, type CollectorSettings } from "../contract";
import type { PrometheusClientOptions } from "./prometheus-client";

export interface CollectFlags {
  readonly prometheusUrl?: string;
  readonly bearerTokenFile?: string;
  readonly caFile?: string;
  readonly config?: string;
  readonly window?: string;
  readonly offset?: string;
  readonly scrapeInterval?: string;
  readonly vllmFamily?: string;
  readonly tenantMap?: string;
}

export class CollectOptionsError extends Error {}

/** `acme=acme-models,acme-dev;globex=globex-llm` -> tenant list. */
export const parseTenantMapFlag = (text: string): { name: string; namespaces: string[] }[] =>
  text
    .split(";")
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const [name, list] = part.split("=");
      const namespaces = (list ?? "").split(",").map((n) => n.trim()).filter(Boolean);
      if (!name || namespaces.length === 0) {
        throw new CollectOptionsError(`--tenant-map: expected "tenant=ns1,ns2;other=ns3", got "${part}"`);
      }
      return { name: name.trim(), namespaces };
    });

export const resolveCollectOptions = (
  flags: CollectFlags,
  env: NodeJS.ProcessEnv,
): { settings: CollectorSettings; prometheus: PrometheusClientOptions } => {
  const url = flags.prometheusUrl ?? env[SERVICE_ENV.prometheusUrl];
  if (!url) {
    throw new CollectOptionsError(`collect: --prometheus-url (or ${SERVICE_ENV.prometheusUrl}) is required, e.g. http://127.0.0.1:9090`);
  }
  try {
    new URL(url);
  } catch {
    throw new CollectOptionsError(`collect: --prometheus-url: "${url}" is not a URL`);
  }
  const configFile = flags.config ?? env[SERVICE_ENV.collectorConfig];
  let fromFile: Record<string, unknown> = {};
  if (configFile) {
    const parsed = parseYaml(readFileSync(configFile, "utf8")) as unknown;
    if (parsed !== null && typeof parsed !== "object") throw new CollectOptionsError(`${configFile}: expected a YAML mapping`);
    fromFile = (parsed ?? {}) as Record<string, unknown>;
  }
  const overrides: Record<string, unknown> = {};
  if (flags.window) overrides.window = flags.window;
  if (flags.offset) overrides.offset = flags.offset;
  if (flags.scrapeInterval) overrides.scrapeInterval = flags.scrapeInterval;
  if (flags.vllmFamily) overrides.vllmFamily = flags.vllmFamily;
  if (flags.tenantMap) overrides.tenants = parseTenantMapFlag(flags.tenantMap);
  let settings: CollectorSettings;
  try {
    settings = parseCollectorSettings({ ...fromFile, ...overrides });
  } catch (e) {
    throw new CollectOptionsError((e as Error).message);
  }
  const tokenFile = flags.bearerTokenFile ?? env[SERVICE_ENV.prometheusTokenFile];
  const bearerToken = tokenFile ? readFileSync(tokenFile, "utf8").trim() : env[SERVICE_ENV.prometheusToken];
  const caFile = flags.caFile ?? env[SERVICE_ENV.prometheusCaFile];
  return {
    settings,
    prometheus: { url, bearerToken: bearerToken || undefined, caPem: caFile ? readFileSync(caFile, "utf8") : undefined },
  };
};

/** `2026-01-01T10:00:00Z` -> ms; errors name the flag. */
export const parseInstant = (flag: string, value: string | undefined): number | undefined => {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new CollectOptionsError(`collect: ${flag}: "${value}" is not an ISO 8601 time, e.g. 2026-01-01T10:00:00Z`);
  return ms;
};
