/*
 * Onboarding: writes a validated Pulumi.<name>.yaml for a new tenant stack and prints what to run next.
 *
 *   npm run tenant:new -- <name> [--platform-stack org/project/stack] [--flavor openshift|kubernetes]
 *                               [--dir <directory>] [--force]
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import * as YAML from "yaml";
import { CONFIG_NAMESPACE, ConfigError, parseStackConfig } from "../components/config";

const DEFAULT_PLATFORM_STACK = "acme/maas-billing/platform-openshift";

/** The config a new tenant starts with: every default spelled out, so the file documents itself. */
export function newTenantConfig(name: string, flavor: string, platformStack: string): Record<string, unknown> {
  return {
    [`${CONFIG_NAMESPACE}:flavor`]: flavor,
    [`${CONFIG_NAMESPACE}:platformStack`]: platformStack,
    [`${CONFIG_NAMESPACE}:tenant`]: {
      name,
      prometheus: { mode: "federated", retention: "15d", storageSize: "10Gi", scrapeInterval: "30s" },
      grafana: { expose: { enabled: false } },
      routes: [],
      tiers: [
        { name: "free", tokenRates: [{ limit: 100, window: "1m" }], requestRates: [{ limit: 5, window: "2m" }] },
        { name: "premium", tokenRates: [{ limit: 50000, window: "1m" }], requestRates: [{ limit: 20, window: "2m" }] },
        { name: "enterprise", tokenRates: [{ limit: 100000, window: "1m" }], requestRates: [{ limit: 50, window: "2m" }] },
      ],
      apiKeys: [{ name: "admin", userId: `${name}-admin`, tier: "premium", rotation: 0 }],
    },
  };
}

/** Validates with the program's own schema; throws ConfigError naming the key at fault. */
export function validate(config: Record<string, unknown>): void {
  const raw = Object.fromEntries(Object.entries(config).map(([k, v]) => [k.slice(CONFIG_NAMESPACE.length + 1), v]));
  parseStackConfig(raw);
}

export function renderFile(name: string, config: Record<string, unknown>): string {
  const header = [
    `# Tenant stack for ${name} (docs/tenants.md). Run by ${name}'s admin with rights limited to ${name}'s namespaces.`,
    "# routes: the HTTPRoutes (in the models namespace) the AuthPolicy and rate limits protect, e.g. - name: granite-3-8b",
    "# apiKeys: values are generated; bump `rotation` to replace one key. Read them: pulumi stack output apiKeys --show-secrets",
  ];
  return `${header.join("\n")}\n${YAML.stringify({ config }, { lineWidth: 0 })}`;
}

function nextSteps(name: string, file: string, platformStack: string): string {
  return [
    `wrote ${file}`,
    "",
    "next:",
    `  1. platform admin: add { name: ${name}, adminGroup: ${name}-admins } to maas-billing:platform.tenants of ${platformStack}, then pulumi up there`,
    `     (creates ${name}-models / ${name}-monitoring, the tenant-admin Role and ${name}'s federation proxies)`,
    `  2. offline render:  npm run synth -- --stack ${name} --platform-outputs <platform outputs .json>`,
    `     (pulumi stack output --json --stack ${platformStack} > platform-outputs.json)`,
    `  3. for real:        pulumi stack init <org>/${name} && pulumi preview --stack ${name} && pulumi up --stack ${name}`,
    `  4. API keys:        pulumi stack output apiKeys --show-secrets --stack ${name}`,
  ].join("\n");
}

function main(argv: string[]): number {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      "platform-stack": { type: "string", default: DEFAULT_PLATFORM_STACK },
      flavor: { type: "string", default: "openshift" },
      dir: { type: "string", default: process.cwd() },
      force: { type: "boolean", default: false },
    },
  });
  if (positionals.length !== 1) {
    console.error("usage: npm run tenant:new -- <name> [--platform-stack org/project/stack] [--flavor openshift|kubernetes] [--dir <dir>] [--force]");
    return 2;
  }
  const name = positionals[0];
  const config = newTenantConfig(name, values.flavor!, values["platform-stack"]!);
  try {
    validate(config);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      return 1;
    }
    throw err;
  }
  const file = path.join(values.dir!, `Pulumi.${name}.yaml`);
  if (fs.existsSync(file) && !values.force) {
    console.error(`tenant:new: ${file} already exists (pass --force to overwrite)`);
    return 1;
  }
  fs.writeFileSync(file, renderFile(name, config));
  console.log(nextSteps(name, path.relative(process.cwd(), file) || file, values["platform-stack"]!));
  return 0;
}

if (require.main === module) process.exit(main(process.argv.slice(2)));
