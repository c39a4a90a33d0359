import { z } from "zod";
import {
  dnsLabel,
  hostName,
  imageWithDigest,
  k8sQuantity,
  patternString,
  pinnedImage,
  promDuration,
  promSize,
  resources,
} from "./common";

/*
 * Config of a platform stack (`maas-billing:platform`). Defaults are applied here, in one place, so
 * the components never invent values of their own. Every object is strict: a misspelt key is an
 * error, not a silently ignored setting.
 */

export const monitoringSchema = z
  .strictObject({
    /**
     * Namespace of platform-owned monitoring pieces: the per-tenant federation proxies, and on
     * `kubernetes` the platform Prometheus itself.
     */
    namespace: dnsLabel.default("maas-monitoring"),
    /** How long the central Prometheus keeps samples (UWM Prometheus on openshift). */
    retention: promDuration.default("15d"),
    /** Optional size cap of the central Prometheus TSDB. */
    retentionSize: promSize.optional(),
    /** Size of the central Prometheus data volume. */
    storageSize: k8sQuantity.default("50Gi"),
    /** StorageClass of the central Prometheus data volume; the cluster default when omitted. */
    storageClassName: dnsLabel.optional(),
    /**
     * Other settings already present in `openshift-monitoring/cluster-monitoring-config` key
     * `config.yaml` (openshift only). The patch owns the whole `config.yaml` value, so carry the
     * existing settings here; `enableUserWorkload: true` is always added.
     */
    clusterMonitoringConfig: z.record(z.string(), z.unknown()).default({}),
    /**
     * Take over `config.yaml` of cluster-monitoring-config even when another field manager owns it
     * (server-side apply force). Off by default: a conflict stops `pulumi up` instead of overwriting.
     */
    forceClusterMonitoringConfig: z.boolean().default(false),
    /** Prometheus image of the platform Prometheus (kubernetes only; prometheus-operator runs it). */
    prometheusImage: pinnedImage.default("quay.io/prometheus/prometheus:v3.5.0"),
    /** Resources of the central Prometheus. */
    resources: resources.default({ requests: { cpu: "200m", memory: "1Gi" }, limits: { cpu: "2", memory: "4Gi" } }),
  })
  .prefault({});

export const databaseSchema = z
  .strictObject({
    /** PostgreSQL image; TimescaleDB by default, any PostgreSQL 14+ image works (TimescaleDB is optional). */
    image: pinnedImage.default("docker.io/timescale/timescaledb:2.17.2-pg16"),
    /** Size of the data volume (a volumeClaimTemplate; changing it replaces the protected StatefulSet). */
    storageSize: k8sQuantity.default("20Gi"),
    /** StorageClass of the data volume; the cluster default when omitted. */
    storageClassName: dnsLabel.optional(),
    /** Database name. */
    databaseName: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, { error: 'expected a PostgreSQL identifier. Example: "maas_billing"' }).default("maas_billing"),
    /** Database role the billing service logs in as. */
    user: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, { error: 'expected a PostgreSQL identifier. Example: "billing"' }).default("billing"),
    /**
     * UID/GID the database runs as on `kubernetes` (70 is the postgres user of the alpine-based
     * TimescaleDB image). On `openshift` the restricted SCC assigns one, so it is not set.
     */
    runAsUser: z.number().int().positive().default(70),
    resources: resources.default({ requests: { cpu: "250m", memory: "512Mi" }, limits: { cpu: "2", memory: "2Gi" } }),
  })
  .prefault({});

export const billingSchema = z
  .strictObject({
    /** Billing service image, pinned by digest (CI sets it: `pulumi config set maas-billing:platform.billing.image ...`). */
    image: imageWithDigest,
    /** Number of billing API replicas. */
    replicas: z.number().int().min(1).max(20).default(2),
    /** External host for the billing API (Route on openshift, HTTPRoute on kubernetes). No exposure when omitted. */
    host: hostName.optional(),
    /** Prometheus/Thanos query URL the collector reads; flavor default when omitted. */
    prometheusUrl: z.url({ error: 'expected a URL. Example: "https://thanos-querier.openshift-monitoring.svc:9091"' }).optional(),
    resources: resources.default({ requests: { cpu: "100m", memory: "256Mi" }, limits: { cpu: "1", memory: "512Mi" } }),
  })
  .meta({ examples: [{ image: "quay.io/example/maas-billing@sha256:" + "0".repeat(63) + "1" }] });

export const gatewayRefSchema = z
  .strictObject({
    /** Name of the Gateway that serves the models (TelemetryPolicy target, HTTPRoute parent). */
    name: dnsLabel.default("maas-default-gateway"),
    /** Namespace of that Gateway. */
    namespace: dnsLabel.default("openshift-ingress"),
  })
  .prefault({});

export const limitadorSchema = z
  .strictObject({
    /** Name of the existing Limitador custom resource (created by kuadrant-operator). */
    name: dnsLabel.default("limitador"),
    /** Namespace of the Limitador custom resource. */
    namespace: dnsLabel.default("kuadrant-system"),
    /**
     * Image override patched into `spec.image` of the Limitador CR. Omit to leave the operator's
     * default; removing it later returns Limitador to that default (the patch's field ownership is dropped).
     */
    image: pinnedImage.optional(),
    /** Limitador log verbosity 1-4, patched only together with `image`. */
    verbosity: z.number().int().min(1).max(4).optional(),
    /**
     * Create the platform ServiceMonitor for Limitador (with the `route_namespace` relabeling tenants
     * need). Turn off when `Kuadrant.spec.observability.enable` already scrapes Limitador, or sums double.
     */
    serviceMonitor: z.boolean().default(true),
  })
  .prefault({});

export const telemetrySchema = z
  .strictObject({
    /** Create the TelemetryPolicy on the Gateway. */
    enabled: z.boolean().default(true),
    /** Name of the label carrying the tier or subscription: MaaS used `tier`, later `subscription`. */
    tierLabel: z.enum(["tier", "subscription"]).default("tier"),
    /**
     * Metric label -> CEL expression. Each expression is guarded with `has()` so a missing field
     * yields "" instead of aborting label evaluation (field notes §5.3).
     */
    labels: z.record(z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/), z.string().min(1)).optional(),
  })
  .prefault({});

export const federationSchema = z
  .strictObject({
    /** prom-label-proxy image for the per-tenant federation proxies. */
    proxyImage: pinnedImage.default("quay.io/prometheuscommunity/prom-label-proxy:v0.14.0"),
    /** Upstream /federate endpoint the proxies forward to; flavor default when omitted. */
    upstreamUrl: z.url({ error: 'expected a URL. Example: "http://prometheus-operated.maas-monitoring.svc:9090"' }).optional(),
    resources: resources.default({ requests: { cpu: "20m", memory: "32Mi" }, limits: { cpu: "200m", memory: "128Mi" } }),
  })
  .prefault({});

/** Tenant names stay short so derived object names (`maas-fed-<tenant>-gateway`) fit in 63 characters. */
const tenantName = patternString(/^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$/, "a lowercase DNS label of at most 40 characters", "tenant-a");

export const platformTenantSchema = z.strictObject({
  /** Tenant name; the same as `tenant.name` in that tenant's stack. */
  name: tenantName,
  /** Namespaces the platform creates for the tenant. Defaults to `<name>-models` and `<name>-monitoring`. */
  namespaces: z.array(dnsLabel).min(1).optional(),
  /** Group bound as tenant admin in the tenant's namespaces (ClusterRole `admin` + the `maas-tenant-admin` Role). */
  adminGroup: z.string().min(1).optional(),
});

export const platformSchema = z
  .strictObject({
    /** Namespace of the billing service and its database. */
    namespace: dnsLabel.default("maas-billing"),
    /** vLLM metric-name family: `kserve_vllm` when KServe's PodMonitor renames the series, else `vllm`. */
    vllmMetricFamily: z.enum(["vllm", "kserve_vllm"]).default("kserve_vllm"),
    monitoring: monitoringSchema,
    database: databaseSchema,
    billing: billingSchema,
    gateway: gatewayRefSchema,
    limitador: limitadorSchema,
    telemetry: telemetrySchema,
    federation: federationSchema,
    /** The tenants this platform serves: namespaces, admin RBAC and federation proxies per tenant. */
    tenants: z.array(platformTenantSchema).default([]),
  })
  .superRefine((p, ctx) => {
    const seen = new Set<string>();
    const owner = new Map<string, string>();
    p.tenants.forEach((t, i) => {
      if (seen.has(t.name)) ctx.addIssue({ code: "custom", path: ["tenants", i, "name"], message: `duplicate tenant "${t.name}"` });
      seen.add(t.name);
      for (const ns of platformTenantNamespaces(t)) {
        const other = owner.get(ns);
        if (other !== undefined && other !== t.name) {
          ctx.addIssue({ code: "custom", path: ["tenants", i, "namespaces"], message: `namespace "${ns}" already belongs to tenant "${other}"` });
        }
        owner.set(ns, t.name);
      }
    });
    if (p.limitador.verbosity !== undefined && p.limitador.image === undefined) {
      ctx.addIssue({ code: "custom", path: ["limitador", "verbosity"], message: 'verbosity is patched only together with image. Example: image: "quay.io/kuadrant/limitador:v2.0.0"' });
    }
  });

export type PlatformConfig = z.infer<typeof platformSchema>;
export type PlatformTenant = z.infer<typeof platformTenantSchema>;

/** The namespaces of one tenant, defaults applied in one place. */
export function platformTenantNamespaces(t: PlatformTenant): string[] {
  return t.namespaces ?? [`${t.name}-models`, `${t.name}-monitoring`];
}
