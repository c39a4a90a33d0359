/*
 * Alert delivery as rendered: the tenant's own Alertmanager (example tenant-b), the tenant
 * Prometheus' `alerting:` block, and the platform's Alertmanager on both flavors. Delivery itself is
 * tested with the real Alertmanager in alert-delivery.test.ts.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import * as YAML from "yaml";
import { readStackConfigFile, render, type RenderResult } from "../scripts/render";
import { findObject, ofKind, renderConfig, repoRoot, testImage } from "./support/stacks";

const fixture = JSON.parse(fs.readFileSync(path.join(repoRoot, "test/fixtures/platform-outputs.json"), "utf8")) as Record<string, unknown>;
const receivers = [
  { name: "ops-hook", webhook: { url: "https://alerts.example.com/maas", bearerTokenSecret: { name: "ops-hook", key: "token" } } },
  { name: "ops-mail", email: { to: "ops@example.com", from: "maas@example.com", smarthost: "smtp.example.com:587", authUsername: "maas", authPasswordSecret: { name: "smtp", key: "password" } } },
];

let tenantB: RenderResult;
let kubernetes: RenderResult;
let openshift: RenderResult;
beforeAll(async () => {
  const { config, secretKeys } = readStackConfigFile(path.join(repoRoot, "Pulumi.tenant-b.yaml"));
  tenantB = await render({ stack: "tenant-b", config, secretKeys, stackReferenceOutputs: { [config["maas-billing:platformStack"] as string]: fixture } });
  kubernetes = await renderConfig("alerting-kubernetes", { flavor: "kubernetes", platform: { billing: { image: testImage }, alerting: { receivers } } });
  openshift = await renderConfig("alerting-openshift", { flavor: "openshift", platform: { billing: { image: testImage }, alerting: { receivers } } });
});

describe("tenant Alertmanager", () => {
  it("the tenant Prometheus sends its alerts to the tenant's own Alertmanager", () => {
    const cm = findObject(tenantB, "ConfigMap", "tenant-b-prometheus-config");
    const prom = YAML.parse((cm.object.data as Record<string, string>)["prometheus.yml"]);
    expect(prom.alerting.alertmanagers).toEqual([
      { scheme: "http", api_version: "v2", static_configs: [{ targets: ["tenant-b-alertmanager.tenant-b-monitoring.svc:9093"] }] },
    ]);
  });

  it("delivers only tenant-b's alerts, reads the token from the mounted Secret, and only the tenant Prometheus may reach it", () => {
    const secret = findObject(tenantB, "Secret", "tenant-b-alertmanager-config");
    const am = YAML.parse((secret.object.stringData as Record<string, string>)["alertmanager.yml"]);
    expect(am.route.receiver).toBe("discard");
    expect(am.route.routes).toEqual([{ receiver: "oncall", continue: true, matchers: ['tenant="tenant-b"'] }]);
    expect(am.receivers[1].webhook_configs[0].http_config.authorization.credentials_file).toBe("/etc/alertmanager/secrets/tenant-b-alert-hook/token");
    const deployment = findObject(tenantB, "Deployment", "tenant-b-alertmanager");
    const pod = (deployment.object.spec as { template: { spec: { volumes: { secret?: { secretName: string } }[]; containers: { volumeMounts: { mountPath: string }[] }[] } } }).template.spec;
    expect(pod.volumes.map((v) => v.secret?.secretName)).toContain("tenant-b-alert-hook");
    expect(pod.containers[0]!.volumeMounts.map((m) => m.mountPath)).toContain("/etc/alertmanager/secrets/tenant-b-alert-hook");
    const netpol = findObject(tenantB, "NetworkPolicy", "tenant-b-alertmanager");
    expect((netpol.object.spec as { ingress: unknown[] }).ingress).toEqual([
      { from: [{ podSelector: { matchLabels: { "app.kubernetes.io/name": "prometheus", "app.kubernetes.io/instance": "tenant-b", "app.kubernetes.io/part-of": "maas-billing", "maas-billing.io/tenant": "tenant-b" } } }], ports: [{ port: 9093 }] },
    ]);
  });
});

describe("platform Alertmanager", () => {
  it("kubernetes: a prometheus-operator Alertmanager with the rendered config and the receivers' Secrets, and the platform Prometheus points at it", () => {
    const am = findObject(kubernetes, "Alertmanager", "maas-alertmanager");
    expect((am.object.spec as { secrets: string[] }).secrets).toEqual(["ops-hook", "smtp"]);
    const config = findObject(kubernetes, "Secret", "maas-alertmanager-config");
    const yaml = YAML.parse((config.object.stringData as Record<string, string>)["alertmanager.yaml"]);
    expect(yaml.receivers.map((r: { name: string }) => r.name)).toEqual(["discard", "ops-hook", "ops-mail"]);
    expect(yaml.receivers[2].email_configs[0].auth_password_file).toBe("/etc/alertmanager/secrets/smtp/password");
    const prometheus = findObject(kubernetes, "Prometheus", "maas-prometheus");
    expect((prometheus.object.spec as { alerting: unknown }).alerting).toEqual({
      alertmanagers: [{ namespace: "maas-monitoring", name: "alertmanager-operated", port: "web", apiVersion: "v2" }],
    });
  });

  it("openshift: the user-workload Alertmanager is turned on and reads an AlertmanagerConfig with Secret references", () => {
    const uwm = ofKind(openshift, "ConfigMap").find((o) => o.object.metadata?.name === "user-workload-monitoring-config")!;
    expect(YAML.parse((uwm.object.data as Record<string, string>)["config.yaml"]).alertmanager).toEqual({ enabled: true, enableAlertmanagerConfig: true });
    const amc = findObject(openshift, "AlertmanagerConfig", "maas-alertmanager");
    const spec = amc.object.spec as { receivers: { webhookConfigs?: { httpConfig: unknown }[]; emailConfigs?: { authPassword: unknown }[] }[] };
    expect(spec.receivers[0]!.webhookConfigs![0]!.httpConfig).toEqual({ authorization: { type: "Bearer", credentials: { name: "ops-hook", key: "token" } } });
    expect(spec.receivers[1]!.emailConfigs![0]!.authPassword).toEqual({ name: "smtp", key: "password" });
  });

  it("without receivers nothing is rendered", async () => {
    const plain = await renderConfig("alerting-none", { flavor: "kubernetes", platform: { billing: { image: testImage } } });
    expect(ofKind(plain, "Alertmanager")).toEqual([]);
    expect((findObject(plain, "Prometheus", "maas-prometheus").object.spec as { alerting?: unknown }).alerting).toBeUndefined();
  });
});
