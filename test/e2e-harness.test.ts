/*
 * The parts of the `npm run e2e` harness that need no Go-built server, checked on real renders (the
 * synth CLI) and with Debian's promtool: what it reads from the platform render, how it fills redacted
 * Secrets, how it rewires a tenant's Prometheus config, and that its metric fixture is valid
 * OpenMetrics. The servers themselves run only in `npm run e2e` (docs/e2e.md).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { fixtureSeries } from "../scripts/e2e/prometheus";
import { loadRender, renderStack } from "../scripts/e2e/render";
import { notKept, prepareRender } from "../scripts/e2e/stages";
import { rewireTenantConfig } from "../scripts/e2e/tenant-prometheus";
import { tenantsOfPlatform } from "../scripts/e2e/tenants";
import type { KubeObject } from "../scripts/e2e/kube-client";

const repoRoot = resolve(__dirname, "..");
let workDir: string;
let platform: ReturnType<typeof prepareRender>;
let tenantA: ReturnType<typeof prepareRender>;

beforeAll(() => {
  workDir = mkdtempSync(join(tmpdir(), "e2e-harness-test-"));
  platform = prepareRender(renderStack(repoRoot, "platform-openshift", join(workDir, "render")));
  tenantA = prepareRender(renderStack(repoRoot, "tenant-a", join(workDir, "render")));
});

afterAll(() => rmSync(workDir, { recursive: true, force: true }));

describe("e2e harness on real renders", () => {
  it("reads each tenant's namespaces, admin groups and proxy enforcement from the platform render", () => {
    const tenants = tenantsOfPlatform(platform.objects);
    expect(tenants.map((t) => t.name)).toEqual(["tenant-a", "tenant-b"]);
    const a = tenants[0];
    expect(a.namespaces.sort()).toEqual(["tenant-a-models", "tenant-a-monitoring"]);
    expect(a.adminGroups).toEqual(["tenant-a-admins"]);
    const byLabel = new Map(a.proxies.map((p) => [p.label, p]));
    expect([...byLabel.keys()].sort()).toEqual(["namespace", "route_namespace", "tenant"]);
    // Listen address and upstream are pod wiring and must not leak into the enforcement arguments.
    for (const proxy of a.proxies) expect(proxy.enforcementArgs.some((arg) => /listen-address|upstream/.test(arg))).toBe(false);
    expect(byLabel.get("namespace")!.enforcementArgs).toContain("--label-value=tenant-a-models");
  });

  it("replaces every redacted Secret value with a deterministic placeholder and leaves other objects alone", () => {
    const secrets = tenantA.objects.filter((o) => o.kind === "Secret") as Array<KubeObject & { data?: Record<string, string>; stringData?: Record<string, string> }>;
    expect(secrets.length).toBeGreaterThan(0);
    expect(tenantA.placeholders).toBeGreaterThan(0);
    for (const secret of secrets) {
      const values = [...Object.values(secret.data ?? {}).map((v) => Buffer.from(v, "base64").toString("utf8")), ...Object.values(secret.stringData ?? {})];
      expect(values.length).toBeGreaterThan(0);
      for (const value of values) expect(value).toMatch(/^e2e-placeholder-[0-9a-f]{16}$/);
    }
    // Same files prepared again: same placeholders, so two applies of one Secret never conflict.
    const again = prepareRender(loadRender(join(workDir, "render", "tenant-a")));
    expect(again.objects.filter((o) => o.kind === "Secret")).toEqual(secrets);
    const configMap = tenantA.objects.find((o) => o.kind === "ConfigMap")!;
    expect(JSON.stringify(configMap)).not.toContain("e2e-placeholder");
  });

  it("points the tenant Prometheus's federation targets at local proxies and refuses an unknown target", () => {
    const configMap = tenantA.objects.find((o) => o.kind === "ConfigMap" && (o.data as Record<string, string> | undefined)?.["prometheus.yml"]);
    const yaml = (configMap!.data as Record<string, string>)["prometheus.yml"];
    const proxies = new Map(
      ["models", "gateway", "billing"].map((role, i) => [`maas-fed-tenant-a-${role}`, `http://127.0.0.1:${20000 + i}`]),
    );
    const { config, federationJobs } = rewireTenantConfig(yaml, proxies, "/tmp/rules.yml", "127.0.0.1:19999");
    const parsed = parse(config) as { scrape_configs: Array<{ job_name: string; static_configs?: Array<{ targets: string[] }> }> };
    const targets = parsed.scrape_configs.flatMap((j) => j.static_configs ?? []).flatMap((s) => s.targets);
    expect(targets.every((t) => t.startsWith("127.0.0.1:"))).toBe(true);
    expect(federationJobs.length).toBe(3);
    expect(() => rewireTenantConfig(yaml, new Map(), "/tmp/rules.yml", "127.0.0.1:19999")).toThrow(/no local stand-in/);
  });

  it("writes a metric fixture that promtool backfills", () => {
    const file = join(workDir, "fixture.om");
    writeFileSync(file, fixtureSeries([{ tenant: "tenant-a", namespaces: ["tenant-a-models"] }], 1_800_000_000));
    const out = execFileSync("promtool", ["tsdb", "create-blocks-from", "openmetrics", file, join(workDir, "tsdb")], { encoding: "utf8" });
    expect(out).toMatch(/BLOCK ULID/);
  });
});

describe("e2e: what the API server kept of a rendered object", () => {
  it("names the fields it pruned or changed, and nothing when it only added its own", () => {
    const rendered = { targetRef: { name: "gw" }, overrides: { rules: { metadata: { quota: { http: { url: "http://b/v1/quota/authorize" } } } } } };
    expect(notKept(rendered, { ...rendered, defaults: { strategy: "atomic" } })).toEqual([]);
    expect(notKept(rendered, { targetRef: { name: "gw" }, overrides: { rules: { metadata: { quota: {} } } } })).toEqual(["/overrides/rules/metadata/quota/http"]);
    expect(notKept({ a: [1, 2] }, { a: [1] })).toEqual(["/a"]);
    expect(notKept({ a: { b: 1 } }, { a: "x" })).toEqual(["/a"]);
  });
});
