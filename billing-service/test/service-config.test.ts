/**
 * The service configuration (src/config.ts): parsed once from env and flags into typed sections,
 * every problem named by its env variable and flag, before anything is opened. The CLI block runs
 * the real binary and checks a bad setting stops it before the database exists.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Command } from "commander";
import { buildProgram } from "../src/cli/main";
import { ConfigError, DEFAULT_SPOOL_MAX_BYTES, loadConfig, requireCollector, settingName } from "../src/config";
import { SERVICE_ENV, type ServiceEnvKey } from "../src/contract";

const run = promisify(execFile);
const BIN = path.join(__dirname, "..", "bin", "maas-billing.cjs");

/** The ConfigError message `load` throws; fails the test if it does not throw one. */
const problem = (load: () => unknown): string => {
  try {
    load();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error("expected a ConfigError");
};

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "maas-config-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("service config", () => {
  it("defaults for a newcomer: embedded database in ./.maas-billing, port 8080, static auth, 36 months, no collector", () => {
    const config = loadConfig({}, {});
    expect(config.database.url).toBeUndefined();
    expect(config.dataDir.endsWith(".maas-billing")).toBe(true);
    expect(config).toMatchObject({
      server: { port: 8080, host: "0.0.0.0" },
      auth: { mode: "static" },
      retention: { months: 36 },
      logging: { level: "info" },
      spool: { dir: path.join(config.dataDir, "spool"), maxBytes: DEFAULT_SPOOL_MAX_BYTES },
    });
    expect(config.collector).toBeUndefined();
  });

  it("flags win over env", () => {
    const config = loadConfig({ port: "9000", logLevel: "warn" }, { PORT: "8000", LOG_LEVEL: "debug", MAAS_BILLING_SPOOL_MAX_BYTES: "0" });
    expect(config.server.port).toBe(9000);
    expect(config.logging.level).toBe("warn");
    expect(config.spool.maxBytes).toBe(0);
  });

  it("names the variable, the problem and the value, and never prints the database URL", () => {
    const message = problem(() => loadConfig({}, { PORT: "http", MAAS_BILLING_AUTH_MODE: "ldap", DATABASE_URL: "mysql://u:secret@h/db" }));
    expect(message).toContain("PORT / --port:");
    expect(message).toContain("MAAS_BILLING_AUTH_MODE / --auth-mode:");
    expect(message).toContain('"ldap"');
    expect(message).toContain("DATABASE_URL: expected a postgres:// URL, got <redacted>");
    expect(message).not.toContain("secret");
  });

  it("every flag an error names is one the CLI takes (no DATABASE_URL / --database-url for a flag that does not exist)", () => {
    const commands = (c: Command): Command[] => [c, ...c.commands.flatMap(commands)];
    const taken = new Set(commands(buildProgram()).flatMap((c) => c.options.map((o) => o.long)));
    const named = (Object.keys(SERVICE_ENV) as ServiceEnvKey[]).flatMap((key) => settingName(key).split(" / ").slice(1));
    expect(named.length).toBeGreaterThan(5);
    expect(named.filter((flag) => !taken.has(flag))).toEqual([]);
  });

  it("quota tier defaults are parsed from JSON; a bad one names the tier, the field and the fix", () => {
    const config = loadConfig({}, { MAAS_BILLING_QUOTA_DEFAULTS: '{"free": [{"kind": "tokens", "period": "day", "limit": 1000}]}' });
    expect(config.quota.tierDefaults?.get("free")).toEqual([{ userKey: "", kind: "tokens", period: "day", limit: 1000n, source: "tier-default" }]);
    expect(config.quota).toMatchObject({ refreshMs: 1000, maxStaleMs: 15_000, reservationTtlMs: 900_000, settleAfterMs: 600_000 });
    const bad = problem(() => loadConfig({}, { MAAS_BILLING_QUOTA_DEFAULTS: '{"free": [{"kind": "tokens", "period": "week", "limit": 1}]}' }));
    expect(bad).toContain("MAAS_BILLING_QUOTA_DEFAULTS: JSON: free.0.period:");
    expect(bad).toContain('"period": "day|month"');
    expect(problem(() => loadConfig({}, { MAAS_BILLING_QUOTA_DEFAULTS: "{not json" }))).toContain("MAAS_BILLING_QUOTA_DEFAULTS:");
    expect(problem(() => loadConfig({}, { MAAS_BILLING_QUOTA_REFRESH_MS: "5000", MAAS_BILLING_QUOTA_MAX_STALE_MS: "2000" }))).toContain(
      "MAAS_BILLING_QUOTA_MAX_STALE_MS: must be larger than MAAS_BILLING_QUOTA_REFRESH_MS (5000), got 2000",
    );
  });

  it("month-end close: off by default, on with a sink directory, grace in hours", () => {
    expect(loadConfig({}, {}).close).toBeUndefined();
    expect(loadConfig({}, { MAAS_BILLING_CLOSE_SINK_DIR: "/exports", MAAS_BILLING_CLOSE_GRACE_HOURS: "24" }).close).toEqual({ sink: { kind: "dir", dir: "/exports" }, graceMs: 86_400_000 });
    expect(problem(() => loadConfig({}, { MAAS_BILLING_CLOSE_SINK_DIR: "/exports", MAAS_BILLING_CLOSE_GRACE_HOURS: "soon" }))).toContain("MAAS_BILLING_CLOSE_GRACE_HOURS:");
  });

  it("month-end close to an S3-compatible bucket: defaults, one sink, no credentials in the endpoint", () => {
    expect(loadConfig({}, { MAAS_BILLING_CLOSE_S3_BUCKET: "exports" }).close).toEqual({
      sink: { kind: "s3", bucket: "exports", prefix: "", region: "us-east-1", forcePathStyle: false },
      graceMs: 72 * 3_600_000,
    });
    expect(
      loadConfig({}, { MAAS_BILLING_CLOSE_S3_BUCKET: "exports", MAAS_BILLING_CLOSE_S3_ENDPOINT: "https://s3.storage.svc:443", MAAS_BILLING_CLOSE_S3_PREFIX: "billing/prod/" }).close?.sink,
    ).toEqual({ kind: "s3", bucket: "exports", prefix: "billing/prod/", endpoint: "https://s3.storage.svc:443", region: "us-east-1", forcePathStyle: true });
    expect(problem(() => loadConfig({}, { MAAS_BILLING_CLOSE_S3_BUCKET: "exports", MAAS_BILLING_CLOSE_SINK_DIR: "/exports" }))).toContain(
      "MAAS_BILLING_CLOSE_S3_BUCKET: choose one month-end sink: unset MAAS_BILLING_CLOSE_SINK_DIR or this",
    );
    expect(problem(() => loadConfig({}, { MAAS_BILLING_CLOSE_S3_ENDPOINT: "https://s3.storage.svc" }))).toContain("MAAS_BILLING_CLOSE_S3_ENDPOINT: only used with MAAS_BILLING_CLOSE_S3_BUCKET");
    const leaky = problem(() => loadConfig({}, { MAAS_BILLING_CLOSE_S3_BUCKET: "exports", MAAS_BILLING_CLOSE_S3_ENDPOINT: "https://AKIAEXAMPLE:s3cr3t@s3.storage.svc" }));
    expect(leaky).toContain("MAAS_BILLING_CLOSE_S3_ENDPOINT: must not carry credentials");
    expect(leaky).not.toContain("s3cr3t");
    expect(problem(() => loadConfig({}, { MAAS_BILLING_CLOSE_S3_BUCKET: "Exports_Bucket" }))).toContain("MAAS_BILLING_CLOSE_S3_BUCKET: expected an S3 bucket name");
    expect(problem(() => loadConfig({}, { MAAS_BILLING_CLOSE_S3_BUCKET: "exports", MAAS_BILLING_CLOSE_S3_PREFIX: "no-slash" }))).toContain("MAAS_BILLING_CLOSE_S3_PREFIX:");
  });

  it.each(["1G", "-1", "1.5", "lots"])("refuses spool limit %s, naming the variable and an example", (value) => {
    const message = problem(() => loadConfig({}, { MAAS_BILLING_SPOOL_MAX_BYTES: value }));
    expect(message).toContain(`MAAS_BILLING_SPOOL_MAX_BYTES: expected a whole number of bytes >= 0, got "${value}". Example: 268435456`);
  });

  it("refuses a misspelt MAAS_BILLING_ variable and suggests the right one; Kubernetes service links pass", () => {
    const message = problem(() => loadConfig({}, { MAAS_BILLING_PROMETHEUS_UR: "http://127.0.0.1:9090" }));
    expect(message).toContain("MAAS_BILLING_PROMETHEUS_UR: not a setting of maas-billing; did you mean MAAS_BILLING_PROMETHEUS_URL?");
    const links = {
      MAAS_BILLING_API_SERVICE_HOST: "10.0.0.1",
      MAAS_BILLING_API_SERVICE_PORT: "8080",
      MAAS_BILLING_API_PORT: "tcp://10.0.0.1:8080",
      MAAS_BILLING_API_PORT_8080_TCP_ADDR: "10.0.0.1",
    };
    expect(() => loadConfig({}, links)).not.toThrow();
  });

  it("lists every problem at once", () => {
    const message = problem(() => loadConfig({}, { PORT: "-1", LOG_LEVEL: "loud", MAAS_BILLING_SPOOL_MAX_BYTES: "x" }));
    expect(message.split("\n").filter((l) => l.startsWith("  "))).toHaveLength(3);
  });

  describe("collector section", () => {
    it("parses the settings file, token and CA files, with flags over the file", async () => {
      await writeFile(path.join(dir, "collector.yaml"), "window: 15m\nvllmFamily: kserve_vllm\n");
      await writeFile(path.join(dir, "token"), "s3cret\n");
      await writeFile(path.join(dir, "ca.pem"), "PEM");
      const env = {
        MAAS_BILLING_PROMETHEUS_URL: "https://thanos.example:9091",
        MAAS_BILLING_COLLECTOR_CONFIG: path.join(dir, "collector.yaml"),
        MAAS_BILLING_PROMETHEUS_TOKEN_FILE: path.join(dir, "token"),
        MAAS_BILLING_PROMETHEUS_CA_FILE: path.join(dir, "ca.pem"),
      };
      const { settings, prometheus } = requireCollector(loadConfig({ offset: "2m", tenantMap: "acme=a1,a2" }, env));
      expect(settings).toMatchObject({ window: 900_000, offset: 120_000, vllmFamily: "kserve_vllm", tenants: [{ name: "acme", namespaces: ["a1", "a2"] }] });
      expect(prometheus).toEqual({ url: "https://thanos.example:9091", bearerToken: "s3cret", caPem: "PEM" });
    });

    it("names the variable of a settings file with a bad field, and of a file that is missing", () => {
      const missing = problem(() => loadConfig({}, { MAAS_BILLING_PROMETHEUS_URL: "http://p:9090", MAAS_BILLING_PROMETHEUS_TOKEN_FILE: path.join(dir, "nope") }));
      expect(missing).toContain(`MAAS_BILLING_PROMETHEUS_TOKEN_FILE / --bearer-token-file: cannot read "${path.join(dir, "nope")}": ENOENT`);
      const bad = problem(() => loadConfig({ window: "ten minutes" }, { MAAS_BILLING_PROMETHEUS_URL: "http://p:9090" }));
      expect(bad).toContain('collector.window: expected a duration such as "30s", "5m" or "1h"');
      const url = problem(() => loadConfig({}, { MAAS_BILLING_PROMETHEUS_URL: "prometheus:9090/x y" }));
      expect(url).toContain(`MAAS_BILLING_PROMETHEUS_URL / --prometheus-url: expected an http(s) URL, got "prometheus:9090/x y". Example: http://127.0.0.1:9090`);
    });

    it("adds the tenant registry files the settings name (the platform's 16 shards) to `tenants`; a bad or missing one is named", async () => {
      await writeFile(path.join(dir, "shard-collector.yaml"), `strictTenants: true\ntenants: [{ name: acme, namespaces: [acme-models] }]\ntenantFiles: [${path.join(dir, "tenants-00.yaml")}, ${path.join(dir, "tenants-01.yaml")}]\n`);
      await writeFile(path.join(dir, "tenants-00.yaml"), "tenants:\n  - { name: globex, namespaces: [globex-models, globex-monitoring] }\n");
      await writeFile(path.join(dir, "tenants-01.yaml"), "tenants: []\n");
      const env = { MAAS_BILLING_PROMETHEUS_URL: "http://p:9090", MAAS_BILLING_COLLECTOR_CONFIG: path.join(dir, "shard-collector.yaml") };
      expect(requireCollector(loadConfig({}, env)).settings.tenants).toEqual([
        { name: "acme", namespaces: ["acme-models"] },
        { name: "globex", namespaces: ["globex-models", "globex-monitoring"] },
      ]);
      await writeFile(path.join(dir, "tenants-01.yaml"), "tenants:\n  - { name: initech }\n");
      expect(problem(() => loadConfig({}, env))).toContain(`${path.join(dir, "tenants-01.yaml")}: tenants.0.namespaces:`);
      await rm(path.join(dir, "tenants-01.yaml"));
      expect(problem(() => loadConfig({}, env))).toContain(`cannot read "${path.join(dir, "tenants-01.yaml")}": ENOENT`);
    });

    it("collect requires a Prometheus URL and says which flag or variable sets it", () => {
      expect(problem(() => requireCollector(loadConfig({}, {})))).toContain("MAAS_BILLING_PROMETHEUS_URL / --prometheus-url: required by collect");
    });
  });
});

describe("the CLI stops on a bad setting before it opens the database", () => {
  it.each([
    ["serve", { MAAS_BILLING_SPOOL_MAX_BYTES: "1G" }, "MAAS_BILLING_SPOOL_MAX_BYTES"],
    ["migrate", { MAAS_BILLING_AUTH_MODDE: "static" }, "did you mean MAAS_BILLING_AUTH_MODE?"],
    ["collect", { MAAS_BILLING_PROMETHEUS_URL: "http://127.0.0.1:9", MAAS_BILLING_COLLECTOR_CONFIG: "/nonexistent/collector.yaml" }, "MAAS_BILLING_COLLECTOR_CONFIG / --config"],
  ])("%s exits 2 naming the setting, and creates no data directory", async (command, extra, expected) => {
    const dataDir = path.join(dir, `data-${command}`);
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, MAAS_BILLING_DATA_DIR: dataDir, ...extra };
    const failed = await run(process.execPath, [BIN, command], { env, timeout: 60_000 }).then(
      () => undefined,
      (e: { code?: number; stderr?: string }) => e,
    );
    expect(failed?.code).toBe(2);
    expect(failed?.stderr).toContain(expected);
    expect(existsSync(dataDir)).toBe(false);
  }, 90_000);
});
