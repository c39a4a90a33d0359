/*
 * The billing service's and database's spec builders (components/platform/*Specs.ts), called as
 * plain functions: no Pulumi mocks, no render. What they write is read back with the service's own
 * contract (env names, mount paths, collector.yaml parser).
 */
import { describe, expect, it } from "vitest";
import {
  COLLECTOR_CONFIG_PATH,
  PRICE_BOOK_PATH,
  SERVICE_ENV,
  parseCollectorSettingsYaml,
  parseTenantRegistryYaml,
} from "../billing-service/src/contract";
import { parseStackConfig } from "../components/config";
import type { PlatformConfig } from "../components/config/platform";
import {
  billingApiDeploymentSpec,
  billingApiEnv,
  billingApiPodTemplate,
  collectorFiles,
  collectorSettings,
  collectorTenantsConfigMapName,
  collectorYaml,
  type BillingApiPodArgs,
} from "../components/platform/billingServiceSpecs";
import { databaseNetworkPolicySpec, databaseStatefulSetSpec } from "../components/platform/databaseSpecs";
import { testImage, UNDIGESTED_DEFAULTS_OPT_IN } from "./support/stacks";

const platformConfig = (extra: Record<string, unknown> = {}): PlatformConfig =>
  parseStackConfig({ flavor: "openshift", allowImageTags: UNDIGESTED_DEFAULTS_OPT_IN, platform: { billing: { image: testImage }, tenants: [{ name: "tenant-a" }, { name: "tenant-b", namespaces: ["b-models"] }], ...extra } })
    .platform!;

const podArgs = (config: PlatformConfig, extra: Partial<BillingApiPodArgs> = {}): BillingApiPodArgs => ({
  flavor: "openshift",
  billing: config.billing,
  databaseSecretName: "maas-billing-db",
  appDatabaseSecretName: "maas-billing-db-app",
  appDatabaseRevision: "app-r1",
  prometheusUrl: "https://thanos-querier.openshift-monitoring.svc:9091",
  ...collectorFiles(collectorSettings(config)),
  tokens: { secretName: "maas-billing-api-tokens", tenantSecretNames: ["maas-billing-api-tokens-tenants-00", "maas-billing-api-tokens-tenants-01"], revision: "r1", secrets: [] },
  ...extra,
});

const envValue = (env: { name: string; value?: string }[], name: string) => env.find((e) => e.name === name)?.value;

describe("collector settings", () => {
  it("the rendered collector.yaml is what the service's own parser reads: the tenant registry, strict, the vLLM family", () => {
    const parsed = parseCollectorSettingsYaml(collectorYaml(collectorSettings(platformConfig({ vllmMetricFamily: "vllm" }))));
    expect(parsed.vllmFamily).toBe("vllm");
    expect(parsed.strictTenants).toBe(true);
    expect(parsed.tenants).toEqual([
      { name: "tenant-a", namespaces: ["tenant-a-models", "tenant-a-monitoring"] },
      { name: "tenant-b", namespaces: ["b-models"] },
    ]);
  });

  it("the collector's read API comes from platform.billing.collectorReadApi (query by default) into collector.yaml", () => {
    expect(parseCollectorSettingsYaml(collectorYaml(collectorSettings(platformConfig()))).readApi).toBe("query");
    const remote = platformConfig({ billing: { image: testImage, collectorReadApi: "remote-read" } });
    expect(parseCollectorSettingsYaml(collectorYaml(collectorSettings(remote))).readApi).toBe("remote-read");
  });

  it("the pods get the registry split over 16 shard files that collector.yaml names and the pod mounts next to it", () => {
    const config = platformConfig();
    const files = collectorFiles(collectorSettings(config));
    const main = parseCollectorSettingsYaml(files.collectorYaml);
    expect(main.tenants).toEqual([]);
    expect(main.tenantFiles).toHaveLength(16);
    // Each named file is a source of the pod's collector-config volume, from its shard's ConfigMap.
    const volume = (billingApiPodTemplate(podArgs(config)) as any).spec.volumes.find((v: { name: string }) => v.name === "collector-config");
    const mountDir = COLLECTOR_CONFIG_PATH.slice(0, COLLECTOR_CONFIG_PATH.lastIndexOf("/"));
    const mounted = new Map<string, string>(volume.projected.sources.map((s: any) => [`${mountDir}/${s.configMap.items[0].path}`, s.configMap.name]));
    expect(mounted.get(COLLECTOR_CONFIG_PATH)).toBe("maas-billing-api-collector");
    main.tenantFiles.forEach((file, i) => expect(mounted.get(file)).toBe(collectorTenantsConfigMapName(i)));
    // The shards together hold the whole registry, each tenant once, as the service's reader parses it.
    const registry = files.collectorTenantShards.flatMap((text, i) => parseTenantRegistryYaml(text, `tenants-${i}.yaml`));
    expect(registry.sort((a, b) => a.name.localeCompare(b.name))).toEqual([
      { name: "tenant-a", namespaces: ["tenant-a-models", "tenant-a-monitoring"] },
      { name: "tenant-b", namespaces: ["b-models"] },
    ]);
  });

  it("the check can fail: the service's parser refuses settings it does not know", () => {
    expect(() => parseCollectorSettingsYaml(collectorYaml({ ...collectorSettings(platformConfig()), strictTenant: true } as never))).toThrow(/strictTenant/);
  });
});

describe("billing API pod", () => {
  it("names every variable through the service contract, and points them at what it mounts", () => {
    const config = platformConfig();
    const template = billingApiPodTemplate(podArgs(config)) as any;
    const container = template.spec.containers[0];
    const names = (container.env as { name: string }[]).map((e) => e.name);
    const known = new Set<string>(Object.values(SERVICE_ENV));
    expect(names.filter((n) => !known.has(n))).toEqual([]);
    expect(envValue(container.env, SERVICE_ENV.collectorConfig)).toBe(COLLECTOR_CONFIG_PATH);
    const mounted = (container.volumeMounts as { mountPath: string }[]).map((m) => m.mountPath);
    expect(mounted).toContain(COLLECTOR_CONFIG_PATH.slice(0, COLLECTOR_CONFIG_PATH.lastIndexOf("/")));
    // No price book configured: the image's own, no variable.
    expect(names).not.toContain(SERVICE_ENV.priceBook);
  });

  it("the owner's credentials reach only the migrate init container; the service connects as the app role", () => {
    const template = billingApiPodTemplate(podArgs(platformConfig())) as any;
    const [init] = template.spec.initContainers;
    const [service] = template.spec.containers;
    const secretsOf = (c: { env: { valueFrom?: { secretKeyRef?: { name: string } } }[] }) => c.env.flatMap((e) => e.valueFrom?.secretKeyRef?.name ?? []);
    expect(init.args).toEqual(["migrate"]);
    expect(init.env.map((e: { name: string }) => e.name).filter((n: string) => !(Object.values(SERVICE_ENV) as string[]).includes(n))).toEqual([]);
    expect(secretsOf(init)).toContain("maas-billing-db");
    expect(secretsOf(service)).toEqual(["maas-billing-db-app"]);
    // A rotated app password rolls the pods.
    const rotated = billingApiPodTemplate(podArgs(platformConfig(), { appDatabaseRevision: "app-r2" })) as any;
    expect(rotated.metadata.annotations["maas.opendatahub.io/db-app-credentials"]).not.toBe(template.metadata.annotations["maas.opendatahub.io/db-app-credentials"]);
  });

  it("gives serve's start-up work minutes before the liveness probe counts (a kill would roll it back and start it again)", () => {
    const container = (billingApiPodTemplate(podArgs(platformConfig())) as any).spec.containers[0];
    expect(container.startupProbe.httpGet).toEqual({ path: "/healthz", port: "http" });
    expect(container.startupProbe.periodSeconds * container.startupProbe.failureThreshold).toBeGreaterThanOrEqual(600);
    expect(container.livenessProbe.httpGet.path).toBe("/healthz");
  });

  it("mounts a configured price book and rolls the pods when it changes", () => {
    const config = platformConfig();
    const a = billingApiPodTemplate(podArgs(config, { priceBookYaml: "currency: EUR\n" })) as any;
    const b = billingApiPodTemplate(podArgs(config, { priceBookYaml: "currency: USD\n" })) as any;
    expect(envValue(a.spec.containers[0].env, SERVICE_ENV.priceBook)).toBe(PRICE_BOOK_PATH);
    expect(a.metadata.annotations["maas.opendatahub.io/price-book"]).not.toBe(b.metadata.annotations["maas.opendatahub.io/price-book"]);
    // A new tenant registry rolls them too.
    const other = billingApiPodTemplate(podArgs(config, { priceBookYaml: "currency: EUR\n", ...collectorFiles({ ...collectorSettings(config), tenants: [] }) })) as any;
    expect(other.metadata.annotations["maas.opendatahub.io/collector-config"]).not.toBe(a.metadata.annotations["maas.opendatahub.io/collector-config"]);
  });

  it("reads Thanos with the pod's token on openshift, the platform Prometheus without one on kubernetes", () => {
    const config = platformConfig();
    const openshift = billingApiEnv(podArgs(config)) as { name: string; value?: string }[];
    const kubernetes = billingApiEnv(podArgs(config, { flavor: "kubernetes", prometheusUrl: "http://prometheus-operated.maas-monitoring.svc:9090" })) as { name: string; value?: string }[];
    expect(envValue(openshift, SERVICE_ENV.prometheusTokenFile)).toBe("/var/run/secrets/kubernetes.io/serviceaccount/token");
    expect(kubernetes.map((e) => e.name)).not.toContain(SERVICE_ENV.prometheusTokenFile);
    expect(envValue(kubernetes, SERVICE_ENV.prometheusUrl)).toBe("http://prometheus-operated.maas-monitoring.svc:9090");
    expect(billingApiDeploymentSpec(podArgs(config)).replicas).toBe(config.billing.replicas);
  });
});

describe("billing database", () => {
  it("one PostgreSQL pod, UID only on kubernetes, credentials from the Secret, never in the spec", () => {
    const db = platformConfig().database;
    const k = databaseStatefulSetSpec("kubernetes", db) as any;
    const o = databaseStatefulSetSpec("openshift", db) as any;
    expect(k.replicas).toBe(1);
    expect(k.template.spec.securityContext.runAsUser).toBe(db.runAsUser);
    expect(o.template.spec.securityContext.runAsUser).toBeUndefined();
    const env = k.template.spec.containers[0].env as { name: string; value?: string; valueFrom?: unknown }[];
    expect(env.find((e) => e.name === "POSTGRES_PASSWORD")).toEqual({ name: "POSTGRES_PASSWORD", valueFrom: { secretKeyRef: { name: "maas-billing-db", key: "password" } } });
    expect(k.volumeClaimTemplates[0].spec.resources.requests.storage).toBe(db.storageSize);
  });

  it("admits only the given client pods, on 5432 only", () => {
    expect(databaseNetworkPolicySpec({ app: "billing" })).toEqual({
      podSelector: { matchLabels: { "app.kubernetes.io/name": "maas-billing-db", "app.kubernetes.io/component": "database" } },
      policyTypes: ["Ingress"],
      ingress: [{ from: [{ podSelector: { matchLabels: { app: "billing" } } }], ports: [{ protocol: "TCP", port: 5432 }] }],
    });
  });
});

describe("platform.billing.shortfallBilling", () => {
  it("reaches collector.yaml, where the service's own reader finds the tier; omitted, the collector bills the gateway counter only", () => {
    const withMax = parseStackConfig({ flavor: "openshift", allowImageTags: UNDIGESTED_DEFAULTS_OPT_IN, platform: { billing: { image: testImage, shortfallBilling: { tier: "premium" } }, tenants: [{ name: "tenant-a" }] } }).platform!;
    expect(parseCollectorSettingsYaml(collectorYaml(collectorSettings(withMax))).shortfallBilling).toEqual({ tier: "premium" });
    expect(parseCollectorSettingsYaml(collectorYaml(collectorSettings(platformConfig()))).shortfallBilling).toBeUndefined();
  });
});

describe("platform.billing.shortfallBilling with a price book", () => {
  it("refuses a tier without a list price (the excess could not be invoiced)", () => {
    const book = { currency: "USD", versions: [{ effectiveFrom: "2025-01-01T00:00:00Z", prices: [{ tier: "premium", model: "*", inputPerMillionTokens: "1.00", outputPerMillionTokens: "2.00", perRequest: "0" }] }] };
    expect(() => parseStackConfig({ flavor: "openshift", allowImageTags: UNDIGESTED_DEFAULTS_OPT_IN, platform: { billing: { image: testImage, priceBook: book, shortfallBilling: { tier: "gold" } } } })).toThrow(
      'maas-billing:platform.billing.shortfallBilling.tier: tier "gold" has no list price in billing.priceBook (it prices "premium")',
    );
    expect(() => parseStackConfig({ flavor: "openshift", allowImageTags: UNDIGESTED_DEFAULTS_OPT_IN, platform: { billing: { image: testImage, priceBook: book, shortfallBilling: { tier: "premium" } } } })).not.toThrow();
  });
});
