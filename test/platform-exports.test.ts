/*
 * The month-end close's sink as the platform renders it (`platform.billing.monthEndClose`):
 *  - volume: a PersistentVolumeClaim `maas-billing-exports` mounted into every billing pod (any
 *    replica may win the close's lock and be the month's only writer), the service pointed at it;
 *  - s3: bucket settings as env, the credentials only as secretKeyRef to the operator's Secret.
 * Rendered objects pass the Kubernetes API schema (test/support/conformance.ts), and what the
 * pods get is read back with the service's own config parser (loadConfig).
 */
import { beforeAll, describe, expect, it } from "vitest";
import { EXPORTS_DIR, SERVICE_ENV } from "../billing-service/src/contract";
import { loadConfig } from "../billing-service/src/config";
import { parseStackConfig } from "../components/config";
import { billingApiName, billingExportsClaimName } from "../components/platform/billingServiceSpecs";
import { createConformanceValidator, type ConformanceValidator } from "./support/conformance";
import { findObject, renderConfig, testImage, UNDIGESTED_DEFAULTS_OPT_IN } from "./support/stacks";

let validator: ConformanceValidator;
beforeAll(() => {
  validator = createConformanceValidator();
});

const platform = (monthEndClose: unknown, extra: Record<string, unknown> = {}) => ({
  flavor: "kubernetes",
  allowImageTags: UNDIGESTED_DEFAULTS_OPT_IN,
  platform: { billing: { image: testImage, monthEndClose, ...extra }, tenants: [{ name: "tenant-a" }] },
});

type Env = Array<{ name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }>;
const podOf = (result: Awaited<ReturnType<typeof renderConfig>>) => (findObject(result, "Deployment", billingApiName).object as any).spec.template.spec;
const billingContainer = (pod: any) => pod.containers.find((c: { name: string }) => c.name === "billing-api");
/** The literal env of the billing container (values from Secrets left out: the cluster fills them in). */
const envOf = (env: Env): Record<string, string> => Object.fromEntries(env.filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]));
/** The close's settings of that env, for the service's parser (the rest points at files only a pod has). */
const closeEnv = (env: Env) => Object.fromEntries(Object.entries(envOf(env)).filter(([k]) => k.startsWith("MAAS_BILLING_CLOSE_")));

describe("month-end exports volume", () => {
  it("renders a ReadWriteMany claim mounted into every billing pod, and points the close at it; the objects pass the API schema", async () => {
    const result = await renderConfig("exports-volume", platform({ sink: { kind: "volume", storageSize: "10Gi", storageClassName: "cephfs" } }));
    const claim = findObject(result, "PersistentVolumeClaim", billingExportsClaimName).object as any;
    expect(claim.spec).toEqual({ accessModes: ["ReadWriteMany"], resources: { requests: { storage: "10Gi" } }, storageClassName: "cephfs" });
    const deployment = findObject(result, "Deployment", billingApiName).object as any;
    expect(claim.metadata.namespace).toBe(deployment.metadata.namespace);
    expect(deployment.spec.replicas).toBe(2);
    expect(deployment.spec.strategy).toBeUndefined(); // rolling: every node can attach a ReadWriteMany volume
    const pod = podOf(result);
    expect(pod.volumes).toContainEqual({ name: "exports", persistentVolumeClaim: { claimName: billingExportsClaimName } });
    expect(billingContainer(pod).volumeMounts).toContainEqual({ name: "exports", mountPath: EXPORTS_DIR });
    // The service reads what the platform writes: its own parser, on the rendered env.
    const config = loadConfig({}, closeEnv(billingContainer(pod).env));
    expect(config.close).toEqual({ sink: { kind: "dir", dir: EXPORTS_DIR }, graceMs: 72 * 3_600_000 });
    expect(await validator.validateAll([findObject(result, "PersistentVolumeClaim", billingExportsClaimName), findObject(result, "Deployment", billingApiName)])).toEqual([]);
  });

  it("defaults: 5Gi, ReadWriteMany, the cluster's default StorageClass, 72 h grace", () => {
    const close = parseStackConfig(platform({ sink: { kind: "volume" } })).platform!.billing.monthEndClose!;
    expect(close).toEqual({ graceHours: 72, sink: { kind: "volume", storageSize: "5Gi", accessMode: "ReadWriteMany" } });
  });

  it("refuses ReadWriteOnce with two replicas, naming the key and the ways out; with one replica it recreates the pod instead of rolling", async () => {
    expect(() => parseStackConfig(platform({ sink: { kind: "volume", accessMode: "ReadWriteOnce" } }))).toThrow(
      /billing\.monthEndClose\.sink\.accessMode: ReadWriteOnce with billing\.replicas 2: .*Use ReadWriteMany/,
    );
    const result = await renderConfig("exports-rwo", platform({ sink: { kind: "volume", accessMode: "ReadWriteOnce" }, graceHours: 24 }, { replicas: 1 }));
    const deployment = findObject(result, "Deployment", billingApiName).object as any;
    expect(deployment.spec.strategy).toEqual({ type: "Recreate" });
    expect((findObject(result, "PersistentVolumeClaim", billingExportsClaimName).object as any).spec.accessModes).toEqual(["ReadWriteOnce"]);
    expect(envOf(billingContainer(podOf(result)).env)[SERVICE_ENV.closeGraceHours]).toBe("24");
    expect(await validator.validateAll([findObject(result, "Deployment", billingApiName)])).toEqual([]);
  });

  it("renders no claim, mount or close settings without monthEndClose", async () => {
    const result = await renderConfig("exports-none", { flavor: "kubernetes", platform: { billing: { image: testImage }, tenants: [{ name: "tenant-a" }] } });
    expect(result.objects.filter((o) => o.object.kind === "PersistentVolumeClaim" && o.object.metadata.name === billingExportsClaimName)).toEqual([]);
    const env = envOf(billingContainer(podOf(result)).env);
    expect(Object.keys(env).filter((k) => k.startsWith("MAAS_BILLING_CLOSE_"))).toEqual([]);
    expect(loadConfig({}, closeEnv(billingContainer(podOf(result)).env)).close).toBeUndefined();
  });
});

describe("month-end exports to an S3-compatible bucket", () => {
  const s3 = {
    kind: "s3",
    bucket: "finance-exports",
    endpoint: "https://s3.openshift-storage.svc",
    prefix: "maas-billing/",
    credentialsSecret: { name: "finance-exports-bucket" },
  };

  it("renders the bucket settings as env and the credentials only as secretKeyRef; the service parses them", async () => {
    const result = await renderConfig("exports-s3", platform({ sink: s3 }));
    const env: Env = billingContainer(podOf(result)).env;
    expect(env.find((e) => e.name === "AWS_ACCESS_KEY_ID")).toEqual({ name: "AWS_ACCESS_KEY_ID", valueFrom: { secretKeyRef: { name: "finance-exports-bucket", key: "AWS_ACCESS_KEY_ID" } } });
    expect(env.find((e) => e.name === "AWS_SECRET_ACCESS_KEY")).toEqual({ name: "AWS_SECRET_ACCESS_KEY", valueFrom: { secretKeyRef: { name: "finance-exports-bucket", key: "AWS_SECRET_ACCESS_KEY" } } });
    expect(loadConfig({}, closeEnv(env)).close).toEqual({
      sink: { kind: "s3", bucket: "finance-exports", prefix: "maas-billing/", endpoint: "https://s3.openshift-storage.svc", region: "us-east-1", forcePathStyle: true },
      graceMs: 72 * 3_600_000,
    });
    // No claim for an s3 sink.
    expect(result.objects.some((o) => o.object.kind === "PersistentVolumeClaim" && o.object.metadata.name === billingExportsClaimName)).toBe(false);
    expect(await validator.validateAll([findObject(result, "Deployment", billingApiName)])).toEqual([]);
  });

  it("refuses credentials in the endpoint and a malformed bucket, naming the key", () => {
    expect(() => parseStackConfig(platform({ sink: { ...s3, endpoint: "https://AKIA:secret@s3.openshift-storage.svc" } }))).toThrow(/billing\.monthEndClose\.sink\.endpoint: must not carry credentials/);
    expect(() => parseStackConfig(platform({ sink: { ...s3, bucket: "Finance_Exports" } }))).toThrow(/billing\.monthEndClose\.sink\.bucket: expected an S3 bucket name/);
    expect(() => parseStackConfig(platform({ sink: { ...s3, credentialsSecret: undefined } }))).toThrow(/billing\.monthEndClose\.sink\.credentialsSecret/);
  });
});
