import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as YAML from "yaml";
import type { Flavor } from "../config";
import { platformTenantNamespaces, type PlatformConfig } from "../config/platform";
import { priceBookText } from "../config/priceBook";
import { billingTokensDir, billingTokensFile, type BillingTokens } from "./billingTokens";
import { contentChecksum } from "../shared/checksum";
import { exposeService } from "../shared/exposure";
import { containerSecurityContext, podSecurityContext } from "../shared/podSecurity";
import { appLabels } from "./security";

export interface BillingServiceArgs {
  /** Cluster flavor: Route + cluster-monitoring-view on openshift, HTTPRoute on kubernetes. */
  readonly flavor: Flavor;
  /** Namespace to deploy into; must already exist. */
  readonly namespace: pulumi.Input<string>;
  /** The validated `platform.billing` config (image by digest, replicas, host, resources, optional price book). */
  readonly billing: PlatformConfig["billing"];
  /** The owner role's Secret (keys `url`): only the `migrate` init container reads it (BillingDatabase.secretName). */
  readonly databaseSecretName: pulumi.Input<string>;
  /** The app role's Secret (keys `url`, `username`, `password`): the service container's DATABASE_URL (BillingDatabase.appSecretName). */
  readonly appDatabaseSecretName: pulumi.Input<string>;
  /** Changes when the app role's password is rotated (`platform.database.appPasswordRotation`): a pod annotation, so the pods roll. */
  readonly appDatabaseRevision: string;
  /** Central Prometheus/Thanos query URL the collector reads. */
  readonly prometheusUrl: string;
  /** Gateway the HTTPRoute attaches to (kubernetes only). */
  readonly gateway: { name: string; namespace: string };
  /** Collector settings file content (collectorSettings()), mounted as MAAS_BILLING_COLLECTOR_CONFIG. */
  readonly collectorSettings: Record<string, unknown>;
  /** The static tokens file Secret (billingTokens.ts), mounted as MAAS_BILLING_TOKENS_FILE. */
  readonly tokens: BillingTokens;
}

/** Where the collector settings file is mounted in the billing pod. */
export const collectorConfigPath = "/etc/maas-billing/collector.yaml";
/** Where the configured price book is mounted (its own directory: a ConfigMap volume owns its mount directory). */
export const priceBookDir = "/etc/maas-billing-pricebook";
export const priceBookPath = `${priceBookDir}/pricebook.yaml`;
/** ConfigMap holding the configured price book (`platform.billing.priceBook`). */
export const priceBookConfigMapName = "maas-billing-api-pricebook";

/**
 * The collector settings the platform knows (billing-service/src/contract/collector-settings.ts): the vLLM
 * metric family and the tenant registry, strict so that a namespace no tenant owns is never billed
 * as a tenant of its own.
 */
export function collectorSettings(config: PlatformConfig): Record<string, unknown> {
  return {
    vllmFamily: config.vllmMetricFamily,
    gatewayCounterSuffix: config.telemetry.counterSuffix,
    attributeLabels: config.telemetry.attributeLabels,
    tenants: config.tenants.map((t) => ({ name: t.name, namespaces: platformTenantNamespaces(t) })),
    strictTenants: true,
  };
}

/** Name of the billing API objects (Deployment, Service, ServiceAccount, RBAC). */
export const billingApiName = "maas-billing-api";
export const billingApiPort = 8080;
/** Scrape-only port of the billing pods (GET /metrics): only the monitoring scraper reaches it (networkPolicies.ts). */
export const billingMetricsPort = 8081;
/** The metrics-only Service, selected by the ServiceMonitor; clients' Service, Route and HTTPRoute never carry this port. */
export const billingMetricsServiceName = `${billingApiName}-metrics`;
/**
 * Most samples one scrape of the billing service may return (ServiceMonitor sampleLimit): above it
 * Prometheus drops the whole scrape instead of storing a label explosion. Series grow with tenants x
 * models x tiers; 20,000 leaves room for ~50 tenants with 40 model/tier pairs each.
 */
export const billingScrapeSampleLimit = 20_000;
/** Pod labels of the billing service; the database NetworkPolicy admits exactly these. */
export const billingApiSelector = { "app.kubernetes.io/name": billingApiName, "app.kubernetes.io/component": "billing-api" };

/**
 * How the collector authenticates to the central query API. OpenShift's Thanos querier sits behind
 * kube-rbac-proxy with a service-CA certificate: the pod's own token (bound to cluster-monitoring-view
 * above) and the service CA that OpenShift mounts next to it. The kubernetes platform Prometheus is
 * plain in-cluster HTTP.
 */
export function prometheusAuthEnv(flavor: "openshift" | "kubernetes"): { name: string; value: string }[] {
  if (flavor !== "openshift") return [];
  const sa = "/var/run/secrets/kubernetes.io/serviceaccount";
  return [
    { name: "MAAS_BILLING_PROMETHEUS_TOKEN_FILE", value: `${sa}/token` },
    { name: "MAAS_BILLING_PROMETHEUS_CA_FILE", value: `${sa}/service-ca.crt` },
  ];
}

/**
 * The billing service: Deployment (image by digest), Service, ServiceAccount with the RBAC it needs
 * (TokenReview and SubjectAccessReview to authenticate callers; on OpenShift cluster-monitoring-view to
 * read metrics), a ServiceMonitor and external exposure (Route or HTTPRoute).
 */
export class BillingService extends pulumi.ComponentResource {
  /** In-cluster base URL of the billing API. */
  public readonly url: pulumi.Output<string>;
  /**
   * External URL of the tenant billing portal (`https://<host>/portal/`), exposed next to the API;
   * undefined when no host is known (kubernetes without `platform.billing.host`).
   */
  public readonly portalUrl: pulumi.Output<string | undefined>;

  constructor(name: string, args: BillingServiceArgs, opts?: pulumi.ComponentResourceOptions) {
    super("maas:platform:BillingService", name, {}, opts);
    const b = args.billing;
    const labels = appLabels(billingApiName, "billing-api");
    const meta = { name: billingApiName, namespace: args.namespace, labels };

    const serviceAccount = new k8s.core.v1.ServiceAccount(`${name}-sa`, { metadata: meta }, { parent: this });
    const clusterRole = new k8s.rbac.v1.ClusterRole(
      `${name}-auth-role`,
      {
        metadata: { name: billingApiName, labels },
        rules: [
          { apiGroups: ["authentication.k8s.io"], resources: ["tokenreviews"], verbs: ["create"] },
          { apiGroups: ["authorization.k8s.io"], resources: ["subjectaccessreviews"], verbs: ["create"] },
        ],
      },
      { parent: this },
    );
    const subjects = [{ kind: "ServiceAccount", name: serviceAccount.metadata.name, namespace: args.namespace }];
    new k8s.rbac.v1.ClusterRoleBinding(
      `${name}-auth-binding`,
      {
        metadata: { name: billingApiName, labels },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: clusterRole.metadata.name },
        subjects,
      },
      { parent: this },
    );
    if (args.flavor === "openshift") {
      // Thanos querier authorizes metric reads with this cluster role (the collector needs raw samples of every tenant).
      new k8s.rbac.v1.ClusterRoleBinding(
        `${name}-metrics-binding`,
        {
          metadata: { name: `${billingApiName}-monitoring-view`, labels },
          roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "cluster-monitoring-view" },
          subjects,
        },
        { parent: this },
      );
    }

    const collectorYaml = YAML.stringify(args.collectorSettings, { sortMapEntries: true });
    new k8s.core.v1.ConfigMap(
      `${name}-collector-config`,
      { metadata: { name: `${billingApiName}-collector`, namespace: args.namespace, labels }, data: { "collector.yaml": collectorYaml } },
      { parent: this },
    );

    // Optional: without a configured price book the service uses the one baked into its image.
    const priceBookYaml = b.priceBook === undefined ? undefined : priceBookText(b.priceBook);
    if (priceBookYaml !== undefined) {
      new k8s.core.v1.ConfigMap(
        `${name}-pricebook`,
        { metadata: { name: priceBookConfigMapName, namespace: args.namespace, labels }, data: { "pricebook.yaml": priceBookYaml } },
        { parent: this },
      );
    }

    new k8s.apps.v1.Deployment(
      `${name}-deployment`,
      {
        metadata: meta,
        spec: {
          replicas: b.replicas,
          selector: { matchLabels: billingApiSelector },
          template: {
            metadata: {
              labels: { ...labels, ...billingApiSelector },
              // A new tenant registry rolls the pods, so the collector attributes the new namespaces; a
              // new or rotated token too, since the service reads the tokens file at start.
              annotations: {
                "maas.opendatahub.io/collector-config": contentChecksum(collectorYaml),
                "maas.opendatahub.io/billing-tokens": args.tokens.revision,
                // A rotated app-role password: the init container sets it, the service reads it at start.
                "maas.opendatahub.io/db-app-credentials": args.appDatabaseRevision,
                // A price change rolls the pods too: the service loads the price book at start.
                ...(priceBookYaml !== undefined ? { "maas.opendatahub.io/price-book": contentChecksum(priceBookYaml) } : {}),
              },
            },
            spec: {
              serviceAccountName: billingApiName,
              securityContext: podSecurityContext(args.flavor, 65532),
              // Migrations as the owner, which also creates/updates the app role; the service container
              // never sees the owner's credentials (docs/threat-model.md B4).
              initContainers: [
                {
                  name: "migrate",
                  image: b.image,
                  args: ["migrate"],
                  env: [
                    { name: "DATABASE_URL", valueFrom: { secretKeyRef: { name: args.databaseSecretName, key: "url" } } },
                    { name: "MAAS_BILLING_APP_DB_ROLE", valueFrom: { secretKeyRef: { name: args.appDatabaseSecretName, key: "username" } } },
                    { name: "MAAS_BILLING_APP_DB_PASSWORD", valueFrom: { secretKeyRef: { name: args.appDatabaseSecretName, key: "password" } } },
                  ],
                  resources: b.resources,
                  securityContext: containerSecurityContext(),
                  volumeMounts: [{ name: "tmp", mountPath: "/tmp" }],
                },
              ],
              containers: [
                {
                  name: "billing-api",
                  image: b.image,
                  ports: [
                    { name: "http", containerPort: billingApiPort },
                    { name: "metrics", containerPort: billingMetricsPort },
                  ],
                  env: [
                    { name: "PORT", value: String(billingApiPort) },
                    { name: "MAAS_BILLING_METRICS_PORT", value: String(billingMetricsPort) },
                    { name: "DATABASE_URL", valueFrom: { secretKeyRef: { name: args.appDatabaseSecretName, key: "url" } } },
                    { name: "MAAS_BILLING_AUTH_MODE", value: "kubernetes" },
                    { name: "MAAS_BILLING_DATA_DIR", value: "/var/lib/maas-billing" },
                    { name: "MAAS_BILLING_PROMETHEUS_URL", value: b.prometheusUrl ?? args.prometheusUrl },
                    ...prometheusAuthEnv(args.flavor),
                    { name: "MAAS_BILLING_COLLECTOR_CONFIG", value: collectorConfigPath },
                    // Static tokens (hashes only) of the tenants and the platform admin, next to TokenReview.
                    { name: "MAAS_BILLING_TOKENS_FILE", value: billingTokensFile },
                    ...(priceBookYaml !== undefined ? [{ name: "MAAS_BILLING_PRICE_BOOK", value: priceBookPath }] : []),
                    ...(b.quotaDefaults !== undefined ? [{ name: "MAAS_BILLING_QUOTA_DEFAULTS", value: JSON.stringify(b.quotaDefaults) }] : []),
                  ],
                  livenessProbe: { httpGet: { path: "/healthz", port: "http" }, periodSeconds: 20 },
                  readinessProbe: { httpGet: { path: "/readyz", port: "http" }, periodSeconds: 10 },
                  resources: b.resources,
                  securityContext: containerSecurityContext(),
                  volumeMounts: [
                    { name: "data", mountPath: "/var/lib/maas-billing" },
                    { name: "tmp", mountPath: "/tmp" },
                    { name: "collector-config", mountPath: "/etc/maas-billing", readOnly: true },
                    { name: "tokens", mountPath: billingTokensDir, readOnly: true },
                    ...(priceBookYaml !== undefined ? [{ name: "pricebook", mountPath: priceBookDir, readOnly: true }] : []),
                  ],
                },
              ],
              volumes: [
                // Spool for events accepted while the database is unreachable; survives container restarts.
                { name: "data", emptyDir: {} },
                { name: "tmp", emptyDir: {} },
                { name: "collector-config", configMap: { name: `${billingApiName}-collector` } },
                // 0440: readable by the pod's fsGroup (set on kubernetes, assigned by the SCC on openshift).
                { name: "tokens", secret: { secretName: args.tokens.secretName, defaultMode: 0o440 } },
                ...(priceBookYaml !== undefined ? [{ name: "pricebook", configMap: { name: priceBookConfigMapName } }] : []),
              ],
            },
          },
        },
      },
      { parent: this },
    );

    const service = new k8s.core.v1.Service(
      `${name}-service`,
      {
        metadata: meta,
        spec: { selector: billingApiSelector, ports: [{ name: "http", port: billingApiPort, targetPort: "http" }] },
      },
      { parent: this },
    );

    // Metrics have their own Service so the clients' Service never carries the metrics port.
    const metricsLabels = { ...appLabels(billingMetricsServiceName, "billing-metrics") };
    new k8s.core.v1.Service(
      `${name}-metrics-service`,
      {
        metadata: { name: billingMetricsServiceName, namespace: args.namespace, labels: metricsLabels },
        spec: { selector: billingApiSelector, ports: [{ name: "metrics", port: billingMetricsPort, targetPort: "metrics" }] },
      },
      { parent: this },
    );
    new k8s.apiextensions.CustomResource(
      `${name}-service-monitor`,
      {
        apiVersion: "monitoring.coreos.com/v1",
        kind: "ServiceMonitor",
        metadata: meta,
        spec: {
          selector: { matchLabels: metricsLabels },
          endpoints: [{ port: "metrics", path: "/metrics", interval: "30s" }],
          sampleLimit: billingScrapeSampleLimit,
        },
      },
      { parent: this },
    );

    // The API and the tenant billing portal, on one origin (the portal's cookie and CSRF rules rely on
    // it). Health, OpenAPI and anything else on the port stay in-cluster. On openshift each prefix is a
    // Route of its own (`maas-billing-api` for /v1/, `maas-billing-api-portal` for /portal/).
    const { host: routeHost } = exposeService(
      name,
      args.flavor,
      {
        name: billingApiName,
        namespace: args.namespace,
        labels,
        serviceName: service.metadata.name,
        port: billingApiPort,
        host: b.host,
        gateway: args.gateway,
        pathPrefixes: ["/v1/", "/portal/"],
      },
      { parent: this },
    );

    this.url = pulumi.interpolate`http://${service.metadata.name}.${args.namespace}.svc:${billingApiPort}`;
    // https: the portal's session cookie is Secure (TLS at the router or gateway).
    this.portalUrl = routeHost.apply((host) => (host ? `https://${host}/portal/` : undefined));
    this.registerOutputs({ url: this.url, portalUrl: this.portalUrl });
  }
}
