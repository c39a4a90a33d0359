// Platform wiring of the access-log pipeline (platform.accessLogs): the OpenTelemetry Collector's
// config is the MaaS pipeline shape (otlp -> batch/transform/groupbyattrs -> otlp_http) to the
// billing service with TLS and the sender token from its Secret (never in the config), the billing
// service bills the access logs instead of the gateway counters, the NetworkPolicies let exactly
// the gateway reach the Collector and the Collector reach the billing API, and conformance and the
// security invariants hold on the render. (A real Collector runs this config in `npm run e2e`,
// stage otelcol.)
import * as YAML from "yaml";
import { beforeAll, describe, expect, it } from "vitest";
import { parseCollectorSettingsYaml } from "../billing-service/src/contract";
import { parseTokenFile } from "../billing-service/src/auth/static";
import type { RenderResult } from "../scripts/render";
import { createConformanceValidator } from "./support/conformance";
import { checkSecurityInvariants } from "./support/invariants";
import { findObject, renderConfig, testImage } from "./support/stacks";

const COLLECTOR_IMAGE = `docker.io/otel/opentelemetry-collector-contrib@sha256:${"4c".repeat(32)}`;
const platform = (accessLogs: Record<string, unknown> | undefined, host?: string) => ({
  billing: { image: testImage, ...(host ? { host } : {}), senders: [{ name: "access-logs", sources: ["//gateway/access-log"] }] },
  tenants: [{ name: "tenant-a" }],
  ...(accessLogs ? { accessLogs } : {}),
});

let openshift: RenderResult;
let kubernetes: RenderResult;
beforeAll(async () => {
  openshift = await renderConfig("unit-access-logs-openshift", { flavor: "openshift", platform: platform({ sender: "access-logs", collectorImage: COLLECTOR_IMAGE, caConfigMap: { name: "billing-ca" } }, "billing.apps.example.com") });
  kubernetes = await renderConfig("unit-access-logs-kubernetes", { flavor: "kubernetes", platform: platform({ sender: "access-logs", collectorImage: COLLECTOR_IMAGE }) });
});

const collectorConfig = (r: RenderResult) => YAML.parse((findObject(r, "ConfigMap", "maas-access-log-collector").object.data as Record<string, string>)["config.yaml"]);

describe("platform.accessLogs", () => {
  it("renders the MaaS pipeline shape, exporting to the billing host over TLS with the sender token from the environment", () => {
    const cfg = collectorConfig(openshift);
    expect(cfg.service.pipelines["logs/usage"]).toEqual({ receivers: ["otlp"], processors: ["batch", "transform/usage", "groupbyattrs/usage"], exporters: ["otlp_http/billing"] });
    expect(cfg.processors["groupbyattrs/usage"].keys).toEqual(["subscription", "model", "response_type"]);
    const exporter = cfg.exporters["otlp_http/billing"];
    expect(exporter.logs_endpoint).toBe("https://billing.apps.example.com/v1/logs");
    expect(exporter.tls).toEqual({ insecure: false, ca_file: "/etc/maas-billing-ca/ca.crt" });
    expect(exporter.headers).toEqual({ Authorization: "Bearer ${env:MAAS_BILLING_SENDER_TOKEN}" });
    // 10 requests in flight, rendered rather than left to the Collector release's default: the number
    // the OTLP bench row sends with (scripts/bench.ts) and serve's pool of 10 connections holds.
    expect(exporter.sending_queue).toEqual({ enabled: true, num_consumers: 10, queue_size: 1000 });
    const deployment = findObject(openshift, "Deployment", "maas-access-log-collector").object as unknown as { spec: { template: { spec: { containers: Array<{ image: string; env: unknown[] }> } } } };
    const container = deployment.spec.template.spec.containers[0];
    expect(container.image).toBe(COLLECTOR_IMAGE);
    expect(container.env).toEqual([{ name: "MAAS_BILLING_SENDER_TOKEN", valueFrom: { secretKeyRef: { name: "maas-billing-sender-access-logs", key: "token" } } }]);
    // The token is nowhere in the config or the manifests, only in its Secret.
    const tokens = parseTokenFile((findObject(openshift, "Secret", "maas-billing-api-tokens").object.stringData as Record<string, string>)["tokens.yaml"], "tokens.yaml");
    expect(tokens.find((t) => t.name === "sender-access-logs")?.sources).toEqual(["//gateway/access-log"]);
    checkSecurityInvariants(openshift);
  });

  it("bills the access logs instead of the gateway counters", () => {
    const settings = (r: RenderResult) => parseCollectorSettingsYaml((findObject(r, "ConfigMap", "maas-billing-api-collector").object.data as Record<string, string>)["collector.yaml"], "collector.yaml");
    expect(settings(openshift).billableSource).toBe("access-log");
    expect(settings(kubernetes).billableSource).toBe("access-log");
  });

  it("without a billing host, exports in-cluster; lets the gateway reach the Collector and the Collector the billing API", async () => {
    expect(collectorConfig(kubernetes).exporters["otlp_http/billing"].logs_endpoint).toBe("http://maas-billing-api.maas-billing.svc:8080/v1/logs");
    const collectorIngress = findObject(kubernetes, "NetworkPolicy", "maas-access-log-collector-ingress").object as unknown as { spec: { ingress: Array<{ from: unknown[]; ports: Array<{ port: number }> }> } };
    expect(collectorIngress.spec.ingress).toEqual([
      { from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "openshift-ingress" } } }], ports: [{ protocol: "TCP", port: 4317 }, { protocol: "TCP", port: 4318 }] },
    ]);
    const api = findObject(kubernetes, "NetworkPolicy", "maas-billing-api-ingress").object as unknown as { spec: { ingress: Array<{ from: Array<{ podSelector?: unknown }> }> } };
    expect(api.spec.ingress.some((rule) => rule.from.some((p) => JSON.stringify(p.podSelector ?? {}).includes("maas-access-log-collector")))).toBe(true);
    const validator = createConformanceValidator();
    expect(await validator.validateAll(kubernetes.objects)).toEqual([]);
  });

  it("platform.lokiPull renders the service's Loki pull settings (parsed by the service's own reader) and bills the access logs", async () => {
    const r = await renderConfig("unit-access-logs-loki", {
      flavor: "kubernetes",
      platform: { ...platform(undefined), lokiPull: { url: "https://usage-tenancy-proxy.opendatahub.svc:8443", lag: "3m", bearerTokenFile: "/var/run/secrets/loki/token" } },
    });
    const settings = parseCollectorSettingsYaml((findObject(r, "ConfigMap", "maas-billing-api-collector").object.data as Record<string, string>)["collector.yaml"], "collector.yaml");
    expect(settings.billableSource).toBe("access-log");
    expect(settings.lokiPull).toEqual({
      url: "https://usage-tenancy-proxy.opendatahub.svc:8443",
      query: '{service_name="models-as-a-service"}',
      source: "//gateway/loki",
      limit: 1000,
      lag: 180_000,
      interval: 60_000,
      bearerTokenFile: "/var/run/secrets/loki/token",
    });
  });

  it("refuses a sender that is not in billing.senders, naming the field", async () => {
    await expect(renderConfig("unit-access-logs-bad", { flavor: "kubernetes", platform: platform({ sender: "nobody", collectorImage: COLLECTOR_IMAGE }) })).rejects.toThrow(
      'maas-billing:platform.accessLogs.sender: no sender "nobody" in billing.senders',
    );
  });

  it("without platform.accessLogs, renders no Collector and keeps billing the gateway counters", async () => {
    const plain = await renderConfig("unit-access-logs-off", { flavor: "kubernetes", platform: platform(undefined) });
    expect(plain.objects.some((o) => o.object.metadata.name === "maas-access-log-collector")).toBe(false);
    const settings = parseCollectorSettingsYaml((findObject(plain, "ConfigMap", "maas-billing-api-collector").object.data as Record<string, string>)["collector.yaml"], "collector.yaml");
    expect(settings.billableSource).toBe("gateway");
  });
});
