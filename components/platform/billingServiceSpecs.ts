import { posix } from "node:path";
import type * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import * as YAML from "yaml";
import {
  COLLECTOR_CONFIG_PATH,
  DATA_DIR,
  EXPORTS_DIR,
  METRICS_PORT,
  PRICE_BOOK_DIR,
  PRICE_BOOK_PATH,
  SERVICE_ENV,
  SERVICE_PORT,
  type CollectorSettingsInput,
} from "../../billing-service/src/contract";
import { S3_CREDENTIAL_ENV } from "../../billing-service/src/close/s3-settings";
import type { Flavor } from "../config";
import { platformTenantNamespaces, type PlatformConfig } from "../config/platform";
import { billingDeploymentRecreates } from "../config/databaseConnections";
import { contentChecksum } from "../shared/checksum";
import { containerSecurityContext, podSecurityContext } from "../shared/podSecurity";
import { billingTokensDir, billingTokensFileName, tenantTokensFileName, type BillingTokens } from "./billingTokens";
import { appLabels } from "./security";
import { byTenantShard, shardSuffix } from "./tenantShards";

/*
 * The billing service's Kubernetes objects as plain specs, from typed arguments: the env names,
 * mount paths and collector settings come from the service's own contract
 * (billing-service/src/contract), so the service reads what the platform writes. BillingService
 * (billingService.ts) only declares these; tests call them without Pulumi mocks.
 */

/** Name of the billing API objects (Deployment, Service, ServiceAccount, RBAC). */
export const billingApiName = "maas-billing-api";
export const billingApiPort = SERVICE_PORT;
/** Scrape-only port of the billing pods (GET /metrics): only the monitoring scraper reaches it (networkPolicies.ts). */
export const billingMetricsPort = METRICS_PORT;
/** The metrics-only Service, selected by the ServiceMonitor; clients' Service, Route and HTTPRoute never carry this port. */
export const billingMetricsServiceName = `${billingApiName}-metrics`;
/** Labels of the metrics-only Service (the ServiceMonitor selects them). */
export const billingMetricsLabels = appLabels(billingMetricsServiceName, "billing-metrics");
/**
 * Most samples one scrape of the billing service may return (ServiceMonitor sampleLimit): above it
 * Prometheus drops the whole scrape instead of storing a label explosion. Series grow with tenants x
 * models x tiers; 20,000 leaves room for ~50 tenants with 40 model/tier pairs each.
 */
export const billingScrapeSampleLimit = 20_000;
/** Pod labels of the billing service; the database NetworkPolicy admits exactly these. */
export const billingApiSelector = { "app.kubernetes.io/name": billingApiName, "app.kubernetes.io/component": "billing-api" };
/** Labels of every billing API object. */
export const billingApiLabels = appLabels(billingApiName, "billing-api");
/** ConfigMap with collector.yaml. */
export const collectorConfigMapName = `${billingApiName}-collector`;
/** ConfigMap holding the configured price book (`platform.billing.priceBook`). */
export const priceBookConfigMapName = "maas-billing-api-pricebook";
/** PersistentVolumeClaim of the month-end exports (`billing.monthEndClose.sink.kind: volume`). */
export const billingExportsClaimName = "maas-billing-exports";
/**
 * UID/GID the billing pods run as on kubernetes (OpenShift's SCC assigns one). Not the image's own
 * `USER 1000:1000` (billing-service/Dockerfile, the node base image's user): the pod sets its own,
 * and everything it writes is an emptyDir (data, /tmp) or the exports volume, owned via fsGroup.
 */
const BILLING_UID = 65532;

/**
 * The collector settings the platform knows (billing-service/src/contract/collector-settings.ts): the
 * vLLM metric family and the tenant registry, strict so that a namespace no tenant owns is never
 * billed as a tenant of its own.
 */
export function collectorSettings(config: PlatformConfig): CollectorSettingsInput {
  return {
    vllmFamily: config.vllmMetricFamily,
    gatewayCounterSuffix: config.telemetry.counterSuffix,
    attributeLabels: config.telemetry.attributeLabels,
    tenants: config.tenants.map((t) => ({ name: t.name, namespaces: platformTenantNamespaces(t) })),
    strictTenants: true,
    readApi: config.billing.collectorReadApi,
    ...(config.billing.shortfallBilling !== undefined ? { shortfallBilling: config.billing.shortfallBilling } : {}),
    // With the access-log pipeline (or the Loki pull) the per-request records are billed, the gateway counters kept for reconciliation.
    billableSource: config.accessLogs || config.lokiPull ? "access-log" : "gateway",
    ...(config.lokiPull ? { lokiPull: Object.fromEntries(Object.entries(config.lokiPull).filter(([, v]) => v !== undefined)) as CollectorSettingsInput["lokiPull"] } : {}),
  };
}

/** collector.yaml as mounted into the pods (keys sorted: a stable checksum). */
export function collectorYaml(settings: CollectorSettingsInput): string {
  return YAML.stringify(settings, { sortMapEntries: true });
}

/** ConfigMap of one shard of the collector's tenant registry (key tenants.yaml). */
export const collectorTenantsConfigMapName = (shard: number): string => `${collectorConfigMapName}-tenants-${shardSuffix(shard)}`;
/** Where a registry shard is mounted: next to collector.yaml, in the same projected volume. */
export const collectorTenantsPath = (shard: number): string => posix.join(posix.dirname(COLLECTOR_CONFIG_PATH), `tenants-${shardSuffix(shard)}.yaml`);

/** The collector's files as the pods get them: collector.yaml and the tenant registry shards. */
export interface CollectorFiles {
  /** collector.yaml: the settings without `tenants`, naming the shard files in `tenantFiles`. */
  readonly collectorYaml: string;
  /** Per shard (index = shard, tenantShards.ts), `tenants: [...]` of the tenants whose names hash there. */
  readonly collectorTenantShards: readonly string[];
}

/**
 * Splits the settings' tenant registry over the tenant shards, so that no ConfigMap lists every
 * tenant (a ConfigMap's data may not exceed 1 MiB: docs/scaling.md); the service adds the
 * `tenantFiles` to `tenants` when it starts (billing-service/src/config.ts).
 */
export function collectorFiles(settings: CollectorSettingsInput): CollectorFiles {
  const { tenants = [], ...rest } = settings;
  const shards = byTenantShard(tenants, (t) => t.name).map((shard) => YAML.stringify({ tenants: shard }, { sortMapEntries: true }));
  return { collectorYaml: collectorYaml({ ...rest, tenantFiles: shards.map((_, i) => collectorTenantsPath(i)) }), collectorTenantShards: shards };
}

/** Cluster-wide rights of the billing API: authenticate callers (TokenReview) and authorize them (SubjectAccessReview). */
export const billingApiClusterRoleRules: k8s.types.input.rbac.v1.PolicyRule[] = [
  { apiGroups: ["authentication.k8s.io"], resources: ["tokenreviews"], verbs: ["create"] },
  { apiGroups: ["authorization.k8s.io"], resources: ["subjectaccessreviews"], verbs: ["create"] },
];

/**
 * How the collector authenticates to the central query API. OpenShift's Thanos querier sits behind
 * kube-rbac-proxy with a service-CA certificate: the pod's own token (bound to cluster-monitoring-view)
 * and the service CA that OpenShift mounts next to it. The kubernetes platform Prometheus is plain
 * in-cluster HTTP.
 */
export function prometheusAuthEnv(flavor: Flavor): { name: string; value: string }[] {
  if (flavor !== "openshift") return [];
  const sa = "/var/run/secrets/kubernetes.io/serviceaccount";
  return [
    { name: SERVICE_ENV.prometheusTokenFile, value: `${sa}/token` },
    { name: SERVICE_ENV.prometheusCaFile, value: `${sa}/service-ca.crt` },
  ];
}

export interface BillingApiPodArgs {
  /** Cluster flavor: decides the UID and the Prometheus credentials. */
  readonly flavor: Flavor;
  /** The validated `platform.billing` config. */
  readonly billing: PlatformConfig["billing"];
  /** The owner role's Secret (key `url`): only the `migrate` init container reads it. */
  readonly databaseSecretName: pulumi.Input<string>;
  /** The app role's Secret (keys `url`, `username`, `password`): the service container's database. */
  readonly appDatabaseSecretName: pulumi.Input<string>;
  /** Changes when the app role's password is rotated: a pod annotation, so the pods roll. */
  readonly appDatabaseRevision: string;
  /** Central Prometheus/Thanos query URL, used unless `billing.prometheusUrl` overrides it. */
  readonly prometheusUrl: string;
  /** collector.yaml text (collectorFiles()). */
  readonly collectorYaml: string;
  /** The tenant registry shards (collectorFiles()): each mounted as collectorTenantsPath(shard). */
  readonly collectorTenantShards: readonly string[];
  /** The configured price book's text; the image's own book when undefined. */
  readonly priceBookYaml?: string;
  /** The tokens file Secret and its revision (billingTokens.ts). */
  readonly tokens: BillingTokens;
}

/**
 * The month-end close's settings (`billing.monthEndClose`): where the exports go. The bucket's
 * credentials only as secretKeyRef to the operator's Secret: no key material in the manifest.
 */
export function monthEndCloseEnv(billing: PlatformConfig["billing"]): k8s.types.input.core.v1.EnvVar[] {
  const close = billing.monthEndClose;
  if (close === undefined) return [];
  const grace = { name: SERVICE_ENV.closeGraceHours, value: String(close.graceHours) };
  const sink = close.sink;
  if (sink.kind === "volume") return [{ name: SERVICE_ENV.closeSinkDir, value: EXPORTS_DIR }, grace];
  return [
    { name: SERVICE_ENV.closeS3Bucket, value: sink.bucket },
    ...(sink.endpoint !== undefined ? [{ name: SERVICE_ENV.closeS3Endpoint, value: sink.endpoint }] : []),
    { name: SERVICE_ENV.closeS3Region, value: sink.region },
    ...(sink.prefix !== "" ? [{ name: SERVICE_ENV.closeS3Prefix, value: sink.prefix }] : []),
    ...(sink.pathStyle !== undefined ? [{ name: SERVICE_ENV.closeS3PathStyle, value: String(sink.pathStyle) }] : []),
    { name: S3_CREDENTIAL_ENV.accessKeyId, valueFrom: { secretKeyRef: { name: sink.credentialsSecret.name, key: sink.credentialsSecret.accessKeyIdKey } } },
    { name: S3_CREDENTIAL_ENV.secretAccessKey, valueFrom: { secretKeyRef: { name: sink.credentialsSecret.name, key: sink.credentialsSecret.secretAccessKeyKey } } },
    grace,
  ];
}

/** The exports PersistentVolumeClaim's spec, when the close writes to a volume. */
export function billingExportsClaimSpec(billing: PlatformConfig["billing"]): k8s.types.input.core.v1.PersistentVolumeClaimSpec | undefined {
  const sink = billing.monthEndClose?.sink;
  if (sink?.kind !== "volume") return undefined;
  return {
    accessModes: [sink.accessMode],
    resources: { requests: { storage: sink.storageSize } },
    ...(sink.storageClassName !== undefined ? { storageClassName: sink.storageClassName } : {}),
  };
}

/** The environment of the billing container, named through the service contract. */
export function billingApiEnv(args: BillingApiPodArgs): k8s.types.input.core.v1.EnvVar[] {
  return [
    { name: SERVICE_ENV.port, value: String(billingApiPort) },
    { name: SERVICE_ENV.metricsPort, value: String(billingMetricsPort) },
    { name: SERVICE_ENV.databaseUrl, valueFrom: { secretKeyRef: { name: args.appDatabaseSecretName, key: "url" } } },
    { name: SERVICE_ENV.authMode, value: "kubernetes" },
    { name: SERVICE_ENV.dataDir, value: DATA_DIR },
    { name: SERVICE_ENV.prometheusUrl, value: args.billing.prometheusUrl ?? args.prometheusUrl },
    ...prometheusAuthEnv(args.flavor),
    { name: SERVICE_ENV.collectorConfig, value: COLLECTOR_CONFIG_PATH },
    // Static tokens (hashes only) of the tenants and the platform admin, next to TokenReview: the
    // directory of the tokens volume (every *.yaml file in it is read).
    { name: SERVICE_ENV.tokensFile, value: billingTokensDir },
    ...(args.priceBookYaml !== undefined ? [{ name: SERVICE_ENV.priceBook, value: PRICE_BOOK_PATH }] : []),
    ...(args.billing.quotaDefaults !== undefined ? [{ name: SERVICE_ENV.quotaDefaults, value: JSON.stringify(args.billing.quotaDefaults) }] : []),
    // In-cluster webhook receivers the tenants may use; everything else internal is refused (threat model Q7).
    ...(args.billing.webhookAllow.length > 0 ? [{ name: SERVICE_ENV.webhookAllow, value: args.billing.webhookAllow.join(",") }] : []),
    ...(args.billing.models !== undefined ? [{ name: SERVICE_ENV.models, value: args.billing.models.join(",") }] : []),
    ...monthEndCloseEnv(args.billing),
  ];
}

/**
 * The `migrate` init container: migrations as the schema owner, which also creates/updates the app
 * role; the service container never sees the owner's credentials (docs/threat-model.md B4).
 */
export function billingMigrateContainer(args: BillingApiPodArgs): k8s.types.input.core.v1.Container {
  return {
    name: "migrate",
    image: args.billing.image,
    args: ["migrate"],
    env: [
      { name: SERVICE_ENV.databaseUrl, valueFrom: { secretKeyRef: { name: args.databaseSecretName, key: "url" } } },
      { name: SERVICE_ENV.appDatabaseRole, valueFrom: { secretKeyRef: { name: args.appDatabaseSecretName, key: "username" } } },
      { name: SERVICE_ENV.appDatabasePassword, valueFrom: { secretKeyRef: { name: args.appDatabaseSecretName, key: "password" } } },
    ],
    resources: args.billing.resources,
    securityContext: containerSecurityContext(),
    volumeMounts: [{ name: "tmp", mountPath: "/tmp" }],
  };
}

/** The collector-config volume's sources: collector.yaml and each registry shard's tenants.yaml as tenants-NN.yaml. */
export const collectorVolumeSources = (shards: number): k8s.types.input.core.v1.VolumeProjection[] => [
  { configMap: { name: collectorConfigMapName, items: [{ key: "collector.yaml", path: posix.basename(COLLECTOR_CONFIG_PATH) }] } },
  ...Array.from({ length: shards }, (_, i) => ({ configMap: { name: collectorTenantsConfigMapName(i), items: [{ key: "tenants.yaml", path: posix.basename(collectorTenantsPath(i)) }] } })),
];

/** The tokens volume's sources: the platform tokens Secret and every tenant shard, each as its own file. */
export const billingTokensVolumeSources = (tokens: BillingTokens): k8s.types.input.core.v1.VolumeProjection[] => [
  { secret: { name: tokens.secretName, items: [{ key: billingTokensFileName, path: billingTokensFileName }] } },
  ...tokens.tenantSecretNames.map((name, i) => ({ secret: { name, items: [{ key: billingTokensFileName, path: tenantTokensFileName(i) }] } })),
];

/** The pod template of the billing Deployment. */
export function billingApiPodTemplate(args: BillingApiPodArgs): k8s.types.input.core.v1.PodTemplateSpec {
  const withPriceBook = args.priceBookYaml !== undefined;
  // Every replica mounts it: any of them may win the close's lock and be the month's only writer.
  const withExports = billingExportsClaimSpec(args.billing) !== undefined;
  return {
    metadata: {
      labels: { ...billingApiLabels, ...billingApiSelector },
      // The service reads these files only at start: a new tenant registry (so the collector attributes
      // the new namespaces), a new or rotated token, or a price change rolls the pods.
      annotations: {
        "maas.opendatahub.io/collector-config": contentChecksum([args.collectorYaml, ...args.collectorTenantShards].join("\n---\n")),
        "maas.opendatahub.io/billing-tokens": args.tokens.revision,
        // A rotated app-role password: the init container sets it, the service reads it at start.
        "maas.opendatahub.io/db-app-credentials": args.appDatabaseRevision,
        ...(args.priceBookYaml !== undefined ? { "maas.opendatahub.io/price-book": contentChecksum(args.priceBookYaml) } : {}),
      },
    },
    spec: {
      serviceAccountName: billingApiName,
      securityContext: podSecurityContext(args.flavor, BILLING_UID),
      initContainers: [billingMigrateContainer(args)],
      containers: [
        {
          name: "billing-api",
          image: args.billing.image,
          ports: [
            { name: "http", containerPort: billingApiPort },
            { name: "metrics", containerPort: billingMetricsPort },
          ],
          env: billingApiEnv(args),
          // serve listens only after its start-up work (the book's price change points: at the
          // first start after an upgrade each new point re-cuts its day of quota rows under the
          // drain lock). Killed by the liveness probe meanwhile, the work rolls back and starts
          // again at the next start: the startup probe gives it up to 10 minutes before liveness counts.
          startupProbe: { httpGet: { path: "/healthz", port: "http" }, periodSeconds: 10, failureThreshold: 60 },
          livenessProbe: { httpGet: { path: "/healthz", port: "http" }, periodSeconds: 20 },
          readinessProbe: { httpGet: { path: "/readyz", port: "http" }, periodSeconds: 10 },
          resources: args.billing.resources,
          securityContext: containerSecurityContext(),
          volumeMounts: [
            { name: "data", mountPath: DATA_DIR },
            { name: "tmp", mountPath: "/tmp" },
            { name: "collector-config", mountPath: posix.dirname(COLLECTOR_CONFIG_PATH), readOnly: true },
            { name: "tokens", mountPath: billingTokensDir, readOnly: true },
            ...(withPriceBook ? [{ name: "pricebook", mountPath: PRICE_BOOK_DIR, readOnly: true }] : []),
            ...(withExports ? [{ name: "exports", mountPath: EXPORTS_DIR }] : []),
          ],
        },
      ],
      volumes: [
        // Spool for events accepted while the database is unreachable; survives container restarts.
        { name: "data", emptyDir: {} },
        { name: "tmp", emptyDir: {} },
        // collector.yaml and, next to it, one file per tenant registry shard.
        { name: "collector-config", projected: { sources: collectorVolumeSources(args.collectorTenantShards.length) } },
        // 0440: readable by the pod's fsGroup (set on kubernetes, assigned by the SCC on openshift).
        // One directory: the platform tokens' file and one file per tenant tokens shard.
        { name: "tokens", projected: { defaultMode: 0o440, sources: billingTokensVolumeSources(args.tokens) } },
        ...(withPriceBook ? [{ name: "pricebook", configMap: { name: priceBookConfigMapName } }] : []),
        ...(withExports ? [{ name: "exports", persistentVolumeClaim: { claimName: billingExportsClaimName } }] : []),
      ],
    },
  };
}

/** The billing Deployment's spec. */
export function billingApiDeploymentSpec(args: BillingApiPodArgs): k8s.types.input.apps.v1.DeploymentSpec {
  // The same decision the config's database connection check counts pods by.
  const recreate = billingDeploymentRecreates(args.billing);
  return {
    replicas: args.billing.replicas,
    ...(recreate ? { strategy: { type: "Recreate" } } : {}),
    selector: { matchLabels: billingApiSelector },
    template: billingApiPodTemplate(args),
  };
}

/** The Service in front of the billing pods. */
export const billingApiServiceSpec: k8s.types.input.core.v1.ServiceSpec = {
  selector: billingApiSelector,
  ports: [{ name: "http", port: billingApiPort, targetPort: "http" }],
};

/** The metrics-only Service: the clients' Service never carries the metrics port. */
export const billingMetricsServiceSpec: k8s.types.input.core.v1.ServiceSpec = {
  selector: billingApiSelector,
  ports: [{ name: "metrics", port: billingMetricsPort, targetPort: "metrics" }],
};

/** The ServiceMonitor that has the platform Prometheus scrape `/metrics` on the metrics Service, within a sample limit. */
export const billingApiServiceMonitorSpec = {
  selector: { matchLabels: billingMetricsLabels },
  endpoints: [{ port: "metrics", path: "/metrics", interval: "30s" }],
  sampleLimit: billingScrapeSampleLimit,
};
