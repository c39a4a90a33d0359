/*
 * The tenant Prometheus configuration, checked by the real `promtool check config` (Debian's
 * prometheus package, /usr/bin/promtool), in both modes.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import * as YAML from "yaml";
import { renderPrometheusConfig, scrapeTarget, type PrometheusConfigInput } from "../components/tenant/prometheusConfig";
import { readStackConfigFile, render } from "../scripts/render";
import { findObject, repoRoot, platformOutputsFixture } from "./support/stacks";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tenant-promcfg-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Runs promtool on a config text; returns its exit code and output. */
function promtoolCheck(text: string, name: string): { code: number; output: string } {
  const file = path.join(tmp, `${name}.yml`);
  fs.writeFileSync(file, text);
  try {
    const out = execFileSync("promtool", ["check", "config", "--syntax-only", file], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    return { code: 0, output: out };
  } catch (err) {
    const e = err as { status: number; stdout: string; stderr: string };
    return { code: e.status, output: `${e.stdout}${e.stderr}` };
  }
}

const federated: PrometheusConfigInput = {
  tenant: "tenant-a",
  scrapeInterval: "30s",
  vllmMetricFamily: "kserve_vllm",
  source: {
    mode: "federated",
    modelsUrl: "http://maas-fed-tenant-a-models.maas-monitoring.svc:8080",
    gatewayUrl: "http://maas-fed-tenant-a-gateway.maas-monitoring.svc:8080",
  },
};
const direct: PrometheusConfigInput = {
  ...federated,
  vllmMetricFamily: "vllm",
  source: { mode: "direct", url: "https://prometheus-user-workload.openshift-user-workload-monitoring.svc:9092", namespaces: ["tenant-a-models", "tenant-a-monitoring"] },
};

describe("promtool accepts the rendered config", () => {
  it.each([
    ["federated", federated],
    ["federated with a billing proxy", { ...federated, source: { ...federated.source, billingUrl: "http://maas-fed-tenant-a-billing.maas-monitoring.svc:8080/prefix/" } }],
    ["direct", direct],
  ] as [string, PrometheusConfigInput][])("%s", (name, input) => {
    const result = promtoolCheck(renderPrometheusConfig(input), name.replace(/\s+/g, "-"));
    expect(result.output).toContain("SUCCESS");
    expect(result.code).toBe(0);
  });

  it("and the check can fail: promtool rejects a broken config", () => {
    const broken = renderPrometheusConfig(federated).replace("scrape_interval: 30s", "scrape_interval: thirty");
    const result = promtoolCheck(broken, "broken");
    expect(result.code).not.toBe(0);
    expect(result.output).toContain("FAILED");
  });
});

describe("the rendered ConfigMap of an example tenant", () => {
  it("passes a full promtool check: config and the rule file it loads", async () => {
    const { config, secretKeys } = readStackConfigFile(path.join(repoRoot, "Pulumi.tenant-a.yaml"));
    const fixture = platformOutputsFixture();
    const r = await render({ stack: "tenant-a", config, secretKeys, stackReferenceOutputs: { [config["maas-billing:platformStack"] as string]: fixture } });
    const data = (findObject(r, "ConfigMap", "tenant-a-prometheus-config").object as any).data as Record<string, string>;
    expect(Object.keys(data).sort()).toEqual(["prometheus.yml", "rules.yml"]);
    // The pod mounts the ConfigMap at /etc/prometheus; here both files sit side by side in a temp dir.
    const dir = fs.mkdtempSync(path.join(tmp, "rendered-"));
    fs.writeFileSync(path.join(dir, "rules.yml"), data["rules.yml"]);
    const prometheusYml = data["prometheus.yml"].replace("/etc/prometheus/rules.yml", path.join(dir, "rules.yml"));
    expect(prometheusYml).not.toBe(data["prometheus.yml"]);
    fs.writeFileSync(path.join(dir, "prometheus.yml"), prometheusYml);
    const out = execFileSync("promtool", ["check", "config", path.join(dir, "prometheus.yml")], { encoding: "utf8" });
    expect(out).toMatch(/SUCCESS: \d+ rules found/);
    // The federation-down alert watches exactly the federation jobs this config defines.
    expect(data["rules.yml"]).toContain('up{job=~"federate.*"} == 0');
  });
});

describe("what the tenant Prometheus asks for", () => {
  it("federated: metric families only; the proxies add the tenant scoping", () => {
    const config = YAML.parse(renderPrometheusConfig(federated));
    expect(config.global.external_labels).toEqual({ tenant: "tenant-a" });
    expect(config.scrape_configs.map((j: any) => [j.job_name, j.static_configs[0].targets[0], j.metrics_path, j.params?.["match[]"]])).toEqual([
      ["federate-models", "maas-fed-tenant-a-models.maas-monitoring.svc:8080", "/federate", ['{__name__=~"kserve_vllm:.+"}']],
      ["federate-gateway", "maas-fed-tenant-a-gateway.maas-monitoring.svc:8080", "/federate", ['{__name__=~"authorized_hits|authorized_calls|limited_calls"}']],
      ["prometheus", "localhost:9090", undefined, undefined],
    ]);
    // No credentials: the proxy holds the upstream token.
    expect(config.scrape_configs.some((j: any) => j.authorization || j.bearer_token_file)).toBe(false);
  });

  it("federated with the platform's gatewayCounterSuffix \"_total\": asks for those names only", () => {
    const config = YAML.parse(renderPrometheusConfig({ ...federated, gatewayCounterSuffix: "_total" }));
    const gateway = config.scrape_configs.find((j: any) => j.job_name === "federate-gateway");
    expect(gateway.params["match[]"]).toEqual(['{__name__=~"authorized_hits_total|authorized_calls_total|limited_calls_total"}']);
  });

  it("direct: selectors of its own and the pod token (which can read every tenant)", () => {
    const [job] = YAML.parse(renderPrometheusConfig(direct)).scrape_configs;
    expect(job.params["match[]"]).toEqual([
      '{namespace=~"tenant-a-models|tenant-a-monitoring",__name__=~"vllm:.+"}',
      '{__name__=~"authorized_hits|authorized_calls|limited_calls",limitador_namespace=~"(tenant-a-models|tenant-a-monitoring)/.*"}',
    ]);
    expect(job.authorization).toEqual({ credentials_file: "/var/run/secrets/kubernetes.io/serviceaccount/token" });
    expect(job.tls_config).toEqual({ ca_file: "/var/run/secrets/kubernetes.io/serviceaccount/service-ca.crt" });
  });

  it.each([
    ["http://a.b.svc:8080", { scheme: "http", target: "a.b.svc:8080", metricsPath: "/federate" }],
    ["https://a.b.svc", { scheme: "https", target: "a.b.svc:443", metricsPath: "/federate" }],
    ["http://a.b.svc/tenant-a/", { scheme: "http", target: "a.b.svc:80", metricsPath: "/tenant-a/federate" }],
  ])("scrapeTarget(%s)", (url, want) => {
    expect(scrapeTarget(url)).toEqual(want);
  });

  it("refuses a non-HTTP federation URL", () => {
    expect(() => scrapeTarget("ftp://a.b.svc")).toThrow('federation URL "ftp://a.b.svc": expected http or https');
  });
});
