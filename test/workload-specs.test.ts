/*
 * The shared Deployment spec builder (components/shared/workload.ts) and the access-log Collector's
 * specs (components/platform/accessLogCollectorSpecs.ts), called as plain functions: no Pulumi
 * mocks, no render.
 */
import * as YAML from "yaml";
import { describe, expect, it } from "vitest";
import { parseStackConfig } from "../components/config";
import type { AccessLogsConfig } from "../components/config/platform";
import { accessLogCollectorConfigYaml, accessLogCollectorDeploymentSpec } from "../components/platform/accessLogCollectorSpecs";
import { workloadDeploymentSpec, type WorkloadSpecArgs } from "../components/shared/workload";
import { testImage, UNDIGESTED_DEFAULTS_OPT_IN } from "./support/stacks";

const workload = (extra: Partial<WorkloadSpecArgs> = {}): WorkloadSpecArgs => ({
  flavor: "kubernetes",
  replicas: 2,
  selector: { app: "x" },
  podLabels: { app: "x", team: "billing" },
  rollOn: { "example.com/config-sha256": "abc" },
  containers: [{ name: "c", image: "img" }],
  volumes: [{ name: "v", emptyDir: {} }],
  ...extra,
});

describe("workloadDeploymentSpec", () => {
  it("selects its pods by the selector, labels them, and puts the roll-on checksums on the pod template", () => {
    const spec = workloadDeploymentSpec(workload()) as any;
    expect(spec.replicas).toBe(2);
    expect(spec.selector).toEqual({ matchLabels: { app: "x" } });
    expect(spec.template.metadata).toEqual({ labels: { app: "x", team: "billing" }, annotations: { "example.com/config-sha256": "abc" } });
    expect(spec.template.spec.containers).toEqual([{ name: "c", image: "img" }]);
    expect(spec.template.spec.volumes).toEqual([{ name: "v", emptyDir: {} }]);
  });

  it("never automounts a service account token, also when the pod names its service account", () => {
    const none = workloadDeploymentSpec(workload()) as any;
    expect(none.template.spec.automountServiceAccountToken).toBe(false);
    expect(none.template.spec).not.toHaveProperty("serviceAccountName");
    const named = workloadDeploymentSpec(workload({ serviceAccountName: "reader" })) as any;
    expect(named.template.spec).toMatchObject({ serviceAccountName: "reader", automountServiceAccountToken: false });
  });

  it("runs as the image's user on kubernetes and leaves the UID to the SCC on openshift, non-root both ways", () => {
    const k8s = workloadDeploymentSpec(workload({ uid: 472 })) as any;
    expect(k8s.template.spec.securityContext).toEqual({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" }, runAsUser: 472, runAsGroup: 472, fsGroup: 472 });
    const os = workloadDeploymentSpec(workload({ flavor: "openshift", uid: 472 })) as any;
    expect(os.template.spec.securityContext).toEqual({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
  });
});

const COLLECTOR_IMAGE = `docker.io/otel/opentelemetry-collector-contrib@sha256:${"4c".repeat(32)}`;
const accessLogs = (extra: Record<string, unknown> = {}): AccessLogsConfig =>
  parseStackConfig({
    flavor: "kubernetes",
    allowImageTags: UNDIGESTED_DEFAULTS_OPT_IN,
    platform: {
      billing: { image: testImage, senders: [{ name: "access-logs", sources: ["//gateway/access-log"] }] },
      accessLogs: { sender: "access-logs", collectorImage: COLLECTOR_IMAGE, ...extra },
    },
  }).platform!.accessLogs!;

describe("accessLogCollectorDeploymentSpec", () => {
  it("runs the pinned image with the sender token from its Secret and the config mounted, rolled by the config's checksum", () => {
    const spec = accessLogCollectorDeploymentSpec({ flavor: "kubernetes", config: accessLogs({ replicas: 3 }), labels: { team: "billing" }, configChecksum: "sum-1" }) as any;
    expect(spec.replicas).toBe(3);
    expect(spec.template.metadata.annotations).toEqual({ "maas.opendatahub.io/collector-config": "sum-1" });
    expect(spec.template.metadata.labels).toMatchObject({ team: "billing", ...spec.selector.matchLabels });
    const [c] = spec.template.spec.containers;
    expect(c.image).toBe(COLLECTOR_IMAGE);
    expect(c.env).toEqual([{ name: "MAAS_BILLING_SENDER_TOKEN", valueFrom: { secretKeyRef: { name: "maas-billing-sender-access-logs", key: "token" } } }]);
    expect(c.volumeMounts).toEqual([{ name: "config", mountPath: "/etc/otelcol", readOnly: true }]);
    expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true });
    expect(spec.template.spec.automountServiceAccountToken).toBe(false);
  });

  it("mounts the CA bundle where config.yaml's exporter reads it, only when a CA ConfigMap is given", () => {
    const config = accessLogs({ caConfigMap: { name: "billing-ca", key: "bundle.pem" } });
    const spec = accessLogCollectorDeploymentSpec({ flavor: "openshift", config, labels: {}, configChecksum: "sum" }) as any;
    const mount = spec.template.spec.containers[0].volumeMounts.find((m: { name: string }) => m.name === "billing-ca");
    expect(spec.template.spec.volumes).toContainEqual({ name: "billing-ca", configMap: { name: "billing-ca" } });
    const exporter = YAML.parse(accessLogCollectorConfigYaml(config, "https://billing.example.com/v1/logs")).exporters["otlp_http/billing"];
    expect(exporter.tls.ca_file).toBe(`${mount.mountPath}/bundle.pem`);
    expect(exporter.headers.Authorization).toBe("Bearer ${env:MAAS_BILLING_SENDER_TOKEN}");
  });
});
