// Stack configs of the engine stage: the committed example stacks, pointed at this run's platform
// stack, plus the tenant the stage adds and removes. Read from the committed files so the engine runs
// what users run; only the wiring (flavor, platformStack) and the day-2 edits differ.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { PROJECT, stackRef } from "./workspace";

export const PLATFORM_STACK = "platform-kubernetes";
export const ADDED_TENANT = "tenant-c";

type Config = Record<string, any>;

/** The `config:` section of a committed Pulumi.<stack>.yaml, keys without the project prefix. */
export function committedConfig(repoRoot: string, stack: string): Config {
  const raw = parse(readFileSync(join(repoRoot, `Pulumi.${stack}.yaml`), "utf8")) as { config: Config };
  return Object.fromEntries(Object.entries(raw.config).map(([k, v]) => [k.replace(`${PROJECT}:`, ""), v]));
}

const clone = <T>(v: T): T => structuredClone(v);

/**
 * platform-kubernetes as committed, its tenants rebuilt from the first one for the run's tenant list
 * (the added tenant too), the dev stack's price book (so a price change has something to change), and a Limitador
 * image override (so the stack holds a CustomResourcePatch whose release on destroy is checked).
 */
export function platformConfig(repoRoot: string, tenants: string[]): Config {
  const config = clone(committedConfig(repoRoot, PLATFORM_STACK));
  const dev = committedConfig(repoRoot, "dev");
  const platform = config.platform;
  platform.billing.priceBook = clone(dev.platform.billing.priceBook);
  platform.limitador = { ...(platform.limitador ?? {}), image: "quay.io/kuadrant/limitador@sha256:" + "1".repeat(64) };
  const template = platform.tenants[0];
  platform.tenants = tenants.map((name) => ({
    ...clone(template),
    name,
    namespaces: [`${name}-models`, `${name}-monitoring`],
    // Route domains are per tenant (the schema refuses one tenant's domain covering another's).
    domains: [`${name}.apps.example.com`],
    adminGroup: `${name}-admins`,
  }));
  return config;
}

/** A change of one price: the first price's per-request amount, in the newest price-book version. */
export function withChangedPrice(config: Config): { config: Config; from: string; to: string } {
  const changed = clone(config);
  const versions = changed.platform.billing.priceBook.versions as Array<{ prices: Array<{ perRequest: string }> }>;
  const price = versions[versions.length - 1].prices[0];
  const from = price.perRequest;
  price.perRequest = from === "0.009" ? "0.008" : "0.009";
  return { config: changed, from, to: price.perRequest };
}

/** A committed tenant stack (or, for the added tenant, a small one) reading this run's platform stack. */
export function tenantConfig(repoRoot: string, tenant: string): Config {
  const base =
    tenant === ADDED_TENANT
      ? {
          tenant: {
            name: tenant,
            routes: [{ name: "granite-3-8b" }],
            tiers: [{ name: "free", tokenRates: [{ limit: 100, window: "1m" }] }],
            apiKeys: [{ name: "erin", userId: "erin", tier: "free" }],
          },
        }
      : clone(committedConfig(repoRoot, tenant));
  return { ...base, flavor: "kubernetes", platformStack: stackRef(PLATFORM_STACK) };
}

/** The tenant config with one API key's `rotation` bumped. */
export function withRotatedKey(config: Config, key: string): Config {
  const changed = clone(config);
  const entry = (changed.tenant.apiKeys as Array<{ name: string; rotation?: number }>).find((k) => k.name === key);
  if (!entry) throw new Error(`no API key ${key} in the tenant config`);
  entry.rotation = (entry.rotation ?? 0) + 1;
  return changed;
}
