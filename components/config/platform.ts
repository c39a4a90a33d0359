import { z } from "zod";
import { defaultImageRef, defaultImages } from "./images";
import {
  dnsLabel,
  grafanaSchema,
  hostName,
  imageWithDigest,
  k8sQuantity,
  patternString,
  pinnedImage,
  promDuration,
  promSize,
  resources,
} from "./common";
import { DEFAULT_TIER_LABEL, GATEWAY_COUNTER_SUFFIXES, TIER_LABELS, VLLM_FAMILIES } from "../contract";
import { alertmanagerSchema } from "./alerting";
import { priceBookProblems, priceBookSchema, pricedTiers } from "./priceBook";
import { tierDefaultsSchema } from "../../billing-service/src/quota/defaults";
import { READ_APIS } from "../../billing-service/src/contract";
import { ALLOW_ENV, parseEgressAllowList } from "../../billing-service/src/net/egress";
import { s3BucketName, s3Endpoint, s3Prefix, s3Region } from "../../billing-service/src/close/s3-settings";
import { checkDatabaseConnections } from "./databaseConnections";

/*
 * Config of a platform stack (`maas-billing:platform`). Defaults are applied here, in one place, so
 * the components never invent values of their own. Every object is strict: a misspelt key is an
 * error, not a silently ignored setting.
 */

export const monitoringSchema = z
  .strictObject({
    namespace: dnsLabel.default("maas-monitoring").describe("Namespace of platform-owned monitoring pieces: the per-tenant federation proxies, and on `kubernetes` the platform Prometheus itself."),
    retention: promDuration.default("15d").describe("How long the central Prometheus keeps samples (UWM Prometheus on openshift)."),
    retentionSize: promSize.optional().describe("Optional size cap of the central Prometheus TSDB."),
    storageSize: k8sQuantity.default("50Gi").describe("Size of the central Prometheus data volume."),
    storageClassName: dnsLabel.meta({ examples: ["gp3-csi"] }).optional().describe("StorageClass of the central Prometheus data volume; the cluster default when omitted."),
    clusterMonitoringConfig: z.record(z.string(), z.unknown()).default({}).describe("Other settings already present in `openshift-monitoring/cluster-monitoring-config` key `config.yaml` (openshift only). The patch owns the whole `config.yaml` value, so carry the existing settings here; `enableUserWorkload: true` is always added."),
    forceClusterMonitoringConfig: z.boolean().default(false).describe("Take over `config.yaml` of cluster-monitoring-config even when another field manager owns it (server-side apply force). Off by default: a conflict stops `pulumi up` instead of overwriting."),
    prometheusImage: pinnedImage.default(defaultImageRef(defaultImages.prometheus)).describe("Prometheus image of the platform Prometheus (kubernetes only; prometheus-operator runs it; docs/images.md)."),
    resources: resources.default({ requests: { cpu: "200m", memory: "1Gi" }, limits: { cpu: "2", memory: "4Gi" } }).describe("Resources of the central Prometheus."),
  })
  .prefault({});

export const databaseSchema = z
  .strictObject({
    image: pinnedImage.default(defaultImageRef(defaultImages.timescaledb)).describe("PostgreSQL image; TimescaleDB by default, any PostgreSQL 14+ image with the official image's entrypoint works (POSTGRES_* environment, `postgres` command: the platform passes `postgres -c max_connections=...`; TimescaleDB is optional; docs/images.md)."),
    storageSize: k8sQuantity.default("20Gi").describe("Size of the data volume (a volumeClaimTemplate; changing it replaces the protected StatefulSet)."),
    storageClassName: dnsLabel.meta({ examples: ["gp3-csi"] }).optional().describe("StorageClass of the data volume; the cluster default when omitted."),
    databaseName: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, { error: 'expected a PostgreSQL identifier. Example: "maas_billing"' }).default("maas_billing").describe("Database name."),
    user: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, { error: 'expected a PostgreSQL identifier. Example: "billing"' }).default("billing").describe("Owner role: the image's bootstrap user, which owns the schema. Only the billing pods' `migrate` init container logs in as it."),
    appUser: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, { error: 'expected a PostgreSQL identifier. Example: "billing_app"' }).default("billing_app").describe("App role the billing service logs in as (created and granted by the `migrate` init container): it owns nothing, so it cannot alter or drop tables, disable the immutability triggers or change a final invoice (docs/threat-model.md B4)."),
    appPasswordRotation: z.number().int().min(0).default(0).describe("Bump to give the app role a new generated password (the init container sets it, the pods roll)."),
    runAsUser: z.number().int().positive().default(70).describe("UID/GID the database runs as on `kubernetes` (70 is the postgres user of the alpine-based TimescaleDB image). On `openshift` the restricted SCC assigns one, so it is not set."),
    resources: resources.default({ requests: { cpu: "250m", memory: "512Mi" }, limits: { cpu: "2", memory: "2Gi" } }),
    maxConnections: z
      .number()
      .int()
      .min(1)
      .max(262143)
      .default(100)
      .describe(
        "PostgreSQL `max_connections` of the database, rendered as `-c max_connections=<n>` (100 is PostgreSQL's default). Checked against the billing pods' pools: (`billing.replicas` + the rolling update's extra pods, 25 % rounded up) x 16 (serve's pool) + 3 reserved for superusers must fit, or the config is refused naming both fields (docs/scaling.md).",
      ),
  })
  .prefault({});

/** Names stay short so derived object names (`maas-fed-<tenant>-gateway`, `maas-billing-sender-<name>`) fit in 63 characters. */
const shortName = (example: string) => patternString(/^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$/, "a lowercase DNS label of at most 40 characters", example);
const tenantName = shortName("tenant-a");

export const billingSenderSchema = z.strictObject({
  name: shortName("gateway").describe("Sender name: its token is `sender-<name>` in the tokens file and Secret `maas-billing-sender-<name>`."),
  sources: z.array(z.string().min(1).max(256)).min(1).describe('Event `source` values this sender alone may write to `POST /v1/events`, e.g. `["//gateway/maas"]`: no tenant token (nor the admin token) may write them, so nobody can pre-claim the sender\'s event ids (docs/threat-model.md B1).'),
  namespace: dnsLabel.optional().describe("Namespace of the Secret with the sender's token (key `token`), where the sender runs; the billing namespace when omitted."),
  tokenRotation: z.number().int().min(0).default(0).describe("Bump to issue the sender a new token."),
});

export const monthEndCloseSchema = z.strictObject({
  graceHours: z.number().int().min(0).max(24 * 28).default(72).describe("Hours after the end of a month before `serve` closes it (late events, the collector's re-collection). Rendered as `MAAS_BILLING_CLOSE_GRACE_HOURS`."),
  sink: z
    .discriminatedUnion("kind", [
      z.strictObject({
        kind: z.literal("volume"),
        storageSize: k8sQuantity.default("5Gi").describe("Size of the exports PersistentVolumeClaim `maas-billing-exports`."),
        storageClassName: dnsLabel.meta({ examples: ["ocs-storagecluster-cephfs"] }).optional().describe("StorageClass of the exports volume (one that offers the access mode); the cluster default when omitted."),
        accessMode: z
          .enum(["ReadWriteMany", "ReadWriteOnce"])
          .default("ReadWriteMany")
          .describe("Every replica runs the close and the one holding the month's lock writes, so every billing pod mounts the volume: ReadWriteMany for 2+ replicas; ReadWriteOnce only with `billing.replicas: 1` (the Deployment then recreates its pod instead of rolling)."),
      }),
      z.strictObject({
        kind: z.literal("s3"),
        bucket: s3BucketName.describe("Bucket the exports are uploaded to."),
        endpoint: s3Endpoint.optional().describe("Endpoint of an S3-compatible server (Ceph RGW, NooBaa: e.g. `https://s3.openshift-storage.svc`); AWS S3 when omitted. Never with credentials in it."),
        region: s3Region.default("us-east-1").describe("Region of the bucket."),
        prefix: s3Prefix.default("").describe('Key prefix of the exports, e.g. "maas-billing/".'),
        pathStyle: z.boolean().optional().describe("Path-style URLs (`endpoint/bucket/key`); default true with an endpoint (most S3-compatible servers), false without."),
        credentialsSecret: z
          .strictObject({
            name: dnsLabel.describe("Secret in the billing namespace holding the bucket's access key (created by the operator or an ObjectBucketClaim, never in this config)."),
            accessKeyIdKey: z.string().min(1).default("AWS_ACCESS_KEY_ID").describe("Key of the access key id in the Secret."),
            secretAccessKeyKey: z.string().min(1).default("AWS_SECRET_ACCESS_KEY").describe("Key of the secret access key in the Secret."),
          })
          .describe("Where the pods get the bucket's credentials: env AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY via secretKeyRef, never a literal value in a manifest, the state or a URL."),
      }),
    ])
    .describe(
      "Where the exports go. `{kind: volume, storageSize (5Gi), storageClassName?, accessMode (ReadWriteMany | ReadWriteOnce, default ReadWriteMany)}`: PVC `maas-billing-exports` mounted into every billing pod at /var/lib/maas-billing-exports. `{kind: s3, bucket, endpoint?, region (us-east-1), prefix (\"\"), pathStyle?, credentialsSecret: {name, accessKeyIdKey (AWS_ACCESS_KEY_ID), secretAccessKeyKey (AWS_SECRET_ACCESS_KEY)}}`: an S3-compatible bucket, the keys read from that Secret in the billing namespace (secretKeyRef).",
    ),
});

/** The listener port and protocol of a Gateway the platform owns for one app (billing API, platform Grafana). */
const appGatewayPort = z.number().int().min(1).max(65535).default(443).describe("Port of the Gateway's one listener.");
const appGatewayProtocol = z.enum(["HTTPS", "HTTP"]).default("HTTPS").describe("`HTTPS` terminates TLS at the Gateway with `certificateSecret`; `HTTP` only where TLS ends before the Gateway.");

export const billingGatewaySchema = z
  .strictObject({
    name: dnsLabel
      .default("maas-billing")
      .describe("Name of the billing API's own Gateway, created in `platform.gateway.namespace` (where the Gateway controller already runs the shared Gateway, so the billing API's ingress policy admits its pods as it does the shared one's); must differ from `platform.gateway.name`."),
    gatewayClassName: dnsLabel
      .meta({ examples: ["istio"] })
      .optional()
      .describe(
        'GatewayClass of that Gateway, e.g. `istio` or `eg` (Envoy Gateway): usually the class of `platform.gateway` (`kubectl get gateway <platform.gateway.name> -n <platform.gateway.namespace> -o jsonpath=\'{.spec.gatewayClassName}\'`). Required on kubernetes when `host` is set (no default: a Gateway of a class no controller serves is never programmed and the billing API would be unreachable); not used on openshift (Routes).',
      ),
    port: appGatewayPort,
    protocol: appGatewayProtocol,
    certificateSecret: dnsLabel
      .default("maas-billing-tls")
      .describe("TLS Secret (`kubernetes.io/tls`, for the billing host) in `platform.gateway.namespace`, e.g. issued by cert-manager; not created by the platform. Used with `HTTPS`."),
  })
  .prefault({})
  .describe(
    "kubernetes only, when `host` is set: the billing API's own Gateway (one listener: hostname = `host`, HTTPRoutes from the billing namespace only), owned by the platform, so no tenant HTTPRoute can attach to the billing host and the shared Gateway is not touched (docs/tenants.md). Without `host` the billing API is not exposed on kubernetes (in-cluster only): `platform.gateway` is no place for it, its platform AuthPolicy refuses every request without an API key (review R12).",
  );

export const billingSchema = z
  .strictObject({
    image: imageWithDigest.describe("Billing service image, pinned by digest (CI sets it: `pulumi config set --path 'maas-billing:platform.billing.image' ...`)."),
    replicas: z.number().int().min(1).max(20).default(2).describe("Number of billing API replicas."),
    host: hostName.optional().describe("External host of the billing API: the Route host on openshift (the router assigns one when omitted), the HTTPRoute hostname and the hostname of the billing API's own Gateway (`gateway`) on kubernetes. Without it the billing API is not exposed on kubernetes (in-cluster only; not on `platform.gateway`, whose platform AuthPolicy refuses every request without an API key: docs/platform.md, Gateway enforcement step 4): set it to reach the billing API and the portal from outside the cluster. Upgrading a kubernetes stack that had no host: its HTTPRoute on `platform.gateway` (which worked where the platform's Gateway AuthPolicy is not rendered, e.g. quota enforcement off) is deleted at the next `up` without a warning, so set `host` before it to keep external access (docs/platform.md, Gateway enforcement step 4, upgrade note)."),
    gateway: billingGatewaySchema,
    prometheusUrl: z.url({ error: 'expected a URL. Example: "https://thanos-querier.openshift-monitoring.svc:9091"' }).optional().describe("Prometheus/Thanos query URL the collector reads; flavor default when omitted."),
    collectorReadApi: z
      .enum(READ_APIS)
      .default("query")
      .describe(
        "API the collector reads raw counter samples through (collector setting `readApi`, docs/scaling.md \"Reading the counters\"): `query` (PromQL range selectors; every query endpoint, Thanos querier included), `remote-read` (Prometheus' POST /api/v1/read: its stored XOR chunks, about 8x fewer bytes than the JSON and a fraction of Prometheus' and the collector's CPU; SAMPLES from a source without streamed chunks), or `auto` (remote read where the endpoint answers it: the choice for a collector reading a Prometheus directly). Both paths bill the same to the token.",
      ),
    resources: resources.default({ requests: { cpu: "100m", memory: "256Mi" }, limits: { cpu: "1", memory: "512Mi" } }),
    adminTokenRotation: z.number().int().min(0).default(0).describe("Bump to issue a new platform admin billing API token (Secret `maas-billing-admin-token` in the billing namespace)."),
    priceBook: priceBookSchema,
    quotaDefaults: tierDefaultsSchema
      .optional()
      .describe(
        'Default quotas per tier, checked with the service\'s parser: `{"<tier>": [{kind: tokens|requests|cost, period: day|month, limit}]}` (cost in minor units). A default applies to each user (API key) of the tier without a quota of its own for that kind and period. Rendered as `MAAS_BILLING_QUOTA_DEFAULTS`.',
      ),
    monthEndClose: monthEndCloseSchema
      .optional()
      .describe(
        "Month-end close in `serve` (docs/billing-service.md): after `graceHours` it drafts the closed month, finalizes the invoices without blocking flags and writes the FOCUS 1.2 and CSV exports to `sink`. Omitted: no automatic close (invoices are made with the CLI/API).",
      ),
    senders: z.array(billingSenderSchema).default([]).describe("Principals that post usage events (a gateway plugin, an app): each gets a generated token bound to its `sources`."),
    webhookAllow: z
      .array(z.string().min(1))
      .default([])
      .superRefine((entries, ctx) => {
        try {
          parseEgressAllowList(entries.join(","));
        } catch (e) {
          ctx.addIssue({ code: "custom", message: (e as Error).message.replace(`${ALLOW_ENV}: `, "") });
        }
      })
      .describe(
        "In-cluster webhook receivers the tenants' endpoints may reach besides public addresses: CIDRs (`10.96.0.0/12`), addresses, host names or `.domain` suffixes (`.svc.cluster.local`). Default none: a webhook URL that is or resolves to a private, loopback, link-local (cloud metadata) or other internal address is refused at delivery (docs/threat-model.md Q7). Rendered as `MAAS_BILLING_WEBHOOK_ALLOW`.",
      ),
    shortfallBilling: z
      .strictObject({ tier: z.string().min(1).describe("Tier the model server's excess is priced at (the model server does not know the caller's tier): e.g. the tenant's most expensive allowed tier.") })
      .optional()
      .describe(
        "Bill max(gateway, model server) per tenant, model and window: where the model server served more tokens than the gateway counted beyond the collector's tolerance (5%), the excess is billed as usage of `tier` (no user), and the invoice lists those windows in flag `meteringShortfallBilled` (not blocking). Omitted (the default): such windows are the `meteringShortfall` flag, which blocks finalize until an admin accepts it (docs/threat-model.md B2).",
      ),
    models: z
      .array(z.string().regex(/^[^,\s]{1,256}$/, "expected a model name without commas or spaces, as events carry it"))
      .optional()
      .describe(
        "The served model names (e.g. the registered model routes), rendered as `MAAS_BILLING_MODELS`: events and quota checks with any other model are refused (400 naming the field), besides the models the price book names. Set it when the price book prices models only with `*`: otherwise the model field of events is open and a tenant token can add a ledger key and /metrics series per invented model name (bounded only by the request limit and the ServiceMonitor's sampleLimit; docs/threat-model.md W7).",
      ),
  })
  .meta({ examples: [{ image: "quay.io/example/maas-billing@sha256:" + "0".repeat(63) + "1" }] });

export const gatewayRefSchema = z
  .strictObject({
    name: dnsLabel.default("maas-default-gateway").describe("Name of the Gateway that serves the models (TelemetryPolicy target, HTTPRoute parent)."),
    namespace: dnsLabel.default("openshift-ingress").describe("Namespace of that Gateway."),
  })
  .prefault({});

export const quotaEnforcementSchema = z
  .strictObject({
    enabled: z.boolean().default(true).describe("Render the platform's Gateway-level AuthPolicy that refuses (429) requests of an identity whose quota is exhausted (docs/platform.md \"Gateway enforcement\")."),
    failureMode: z.enum(["open", "closed"]).default("open").describe("When the billing service cannot answer: `open` lets requests through (billed as usual, quotas may be overrun), `closed` refuses them with 429."),
    cacheTtlSeconds: z.number().int().min(1).max(300).default(5).describe("How long Authorino reuses a quota answer per (API key's namespace, user, tier; a namespace belongs to one tenant): added to the billing service's own staleness bound."),
    authorinoNamespace: dnsLabel.default("kuadrant-system").describe("Namespace of Authorino (where Kuadrant materialises AuthConfigs): the gateway's billing token Secret goes there."),
    gatewayTokenRotation: z.number().int().min(0).default(0).describe("Bump to issue the gateway a new billing token (Secret `maas-billing-gateway-token` in `authorinoNamespace`; it may only call the quota check)."),
  })
  .prefault({});

export const limitadorSchema = z
  .strictObject({
    name: dnsLabel.default("limitador").describe("Name of the existing Limitador custom resource (created by kuadrant-operator)."),
    namespace: dnsLabel.default("kuadrant-system").describe("Namespace of the Limitador custom resource."),
    image: pinnedImage.optional().describe("Image override patched into `spec.image` of the Limitador CR. Omit to leave the operator's default; removing it later returns Limitador to that default (the patch's field ownership is dropped)."),
    verbosity: z.number().int().min(1).max(4).optional().describe("Limitador log verbosity 1-4, patched only together with `image`."),
    serviceMonitor: z.boolean().default(true).describe("Create the platform ServiceMonitor for Limitador (with the `route_namespace` relabeling tenants need). Turn off when `Kuadrant.spec.observability.enable` already scrapes Limitador, or sums double."),
  })
  .prefault({});

/** Where Limitador's series are scraped on openshift (docs/platform.md, "Where the gateway metrics live"). */
export const GATEWAY_METRICS_SOURCES = ["clusterMonitoring", "userWorkload"] as const;
export type GatewayMetricsSource = (typeof GATEWAY_METRICS_SOURCES)[number];

export const gatewayMetricsSchema = z
  .strictObject({
    source: z
      .enum(GATEWAY_METRICS_SOURCES)
      .optional()
      .describe(
        "openshift only: which monitoring stack scrapes Limitador (`limitador.namespace`). `clusterMonitoring` (default, as MaaS installs it: the namespace carries `openshift.io/cluster-monitoring=true`, so the platform Prometheus `prometheus-k8s` scrapes it and user-workload monitoring ignores it): the tenants' gateway federation proxies read `prometheus-k8s` `/federate`, and the platform lets `prometheus-k8s` discover the Limitador Service. `userWorkload`: the label is removed, UWM scrapes the platform's ServiceMonitor, the proxies read UWM `/federate` like the other roles. The billing collector reads the Thanos querier, which spans both. kubernetes has one platform Prometheus: leave unset.",
      ),
    federateUrl: z
      .url({ error: 'expected a URL. Example: "https://prometheus-k8s.openshift-monitoring.svc:9091"' })
      .optional()
      .describe("Base URL of the `/federate` endpoint holding Limitador's series, for the tenants' gateway proxies; the source's default when omitted (`prometheus-k8s.openshift-monitoring.svc:9091` for clusterMonitoring, the central upstream otherwise)."),
  })
  .prefault({});

export const telemetrySchema = z
  .strictObject({
    enabled: z.boolean().default(true).describe("Create the TelemetryPolicy on the Gateway."),
    meteringPolicy: z.boolean().default(true).describe("Create the platform-owned TokenRateLimitPolicy `maas-billing-metering` on the Gateway: an override (merge strategy) that meters every route attached to it, whatever the tenants' own policies say (docs/threat-model.md B2). Turn off only if another platform-owned policy meters every route."),
    tierLabel: z.enum(TIER_LABELS).default(DEFAULT_TIER_LABEL).describe("Name of the label carrying the tier or subscription: MaaS used `tier`, later `subscription`."),
    labels: z.record(z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/), z.string().min(1)).optional().describe("Metric label -> CEL expression. Each expression is guarded with `has()` so a missing field yields \"\" instead of aborting label evaluation (field notes \u00a75.3)."),
    counterSuffix: z
      .enum(GATEWAY_COUNTER_SUFFIXES)
      .default("")
      .describe("How the central Prometheus names Limitador's counters, for the billing collector, the dashboards, the rules and the tenants' federation (platform output `gatewayCounterSuffix`): `\"\"` = `authorized_hits` (Limitador's own /metrics), `\"_total\"` = `authorized_hits_total` (the Red Hat OpenShift AI monitoring stack). One of them, never both (reading both counts twice)."),
    attributeLabels: z
      .array(z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, { error: "expected a Prometheus label name. Example: organization_id" }))
      .max(8)
      .default([])
      .describe("Gateway labels the billing collector carries into usage rows, invoice lines, FOCUS Tags and the usage API group-by, e.g. MaaS subscriptions' `organization_id` and `cost_center`, or `group`."),
  })
  .prefault({});

export const federationSchema = z
  .strictObject({
    proxyImage: pinnedImage.default(defaultImageRef(defaultImages.promLabelProxy)).describe("prom-label-proxy image for the per-tenant federation proxies. The default is a tag (no public digest could be cited, docs/images.md): give it a digest, or allow the tag with `allowImageTags`."),
    upstreamUrl: z.url({ error: 'expected a URL. Example: "http://prometheus-operated.maas-monitoring.svc:9090"' }).optional().describe("Upstream /federate endpoint the proxies forward to; flavor default when omitted."),
    resources: resources.default({ requests: { cpu: "20m", memory: "32Mi" }, limits: { cpu: "200m", memory: "128Mi" } }),
    upstreamAuth: z
      .enum(["serviceAccountToken", "none"])
      .optional()
      .describe("How the proxies authenticate to the upstream. `serviceAccountToken` (openshift default): an nginx sidecar replaces the client's Authorization with the proxy pod's own token, so tenants never hold a token for the central endpoint. `none` (kubernetes default): plain in-cluster HTTP."),
    authProxyImage: pinnedImage.default(defaultImageRef(defaultImages.nginxUnprivileged)).describe("nginx image (with the njs module, as in the official images) of the upstream-auth sidecar (federation proxies, and the platform Grafana on openshift). The default is a tag (no public digest could be cited, docs/images.md): give it a digest, or allow the tag with `allowImageTags`."),
    authProxyResources: resources.default({ requests: { cpu: "10m", memory: "16Mi" }, limits: { cpu: "200m", memory: "64Mi" } }),
  })
  .prefault({});

/**
 * The exposed platform Grafana's own Gateway (kubernetes; review R12): like the billing API's
 * (`billingGatewaySchema`), because the platform's Gateway AuthPolicy on `platform.gateway` refuses
 * every request without an API key.
 */
export const grafanaGatewaySchema = z
  .strictObject({
    name: dnsLabel
      .default("maas-grafana")
      .describe("Name of the platform Grafana's own Gateway, created in `platform.gateway.namespace`; must differ from `platform.gateway.name` and `platform.billing.gateway.name`."),
    gatewayClassName: dnsLabel
      .meta({ examples: ["istio"] })
      .optional()
      .describe("GatewayClass of that Gateway; default `platform.billing.gateway.gatewayClassName`. One of the two is required on kubernetes when `grafana.expose.enabled` (usually the class of `platform.gateway`)."),
    port: appGatewayPort,
    protocol: appGatewayProtocol,
    certificateSecret: dnsLabel
      .default("maas-grafana-tls")
      .describe("TLS Secret (`kubernetes.io/tls`, for `grafana.expose.host`) in `platform.gateway.namespace`, e.g. issued by cert-manager; not created by the platform. Used with `HTTPS`."),
  })
  .prefault({})
  .describe(
    "kubernetes only, when `expose.enabled`: the platform Grafana's own Gateway (one listener: hostname = `expose.host`, HTTPRoutes from the monitoring namespace only), owned by the platform. Grafana is not on `platform.gateway`, whose platform AuthPolicy refuses every request without an API key (docs/platform.md, Gateway enforcement step 4).",
  );

export const platformGrafanaSchema = grafanaSchema
  .extend({
    enabled: z.boolean().default(true).describe("Run the platform Grafana (`maas-grafana` in the monitoring namespace) with the billing dashboard over all tenants. Turn off when the platform team provisions `dashboards/` into a Grafana of its own."),
    gateway: grafanaGatewaySchema,
  })
  .prefault({});


export const platformTenantSchema = z.strictObject({
  name: tenantName.describe("Tenant name; the same as `tenant.name` in that tenant's stack."),
  namespaces: z.array(dnsLabel).min(1).optional().describe("Namespaces the platform creates for the tenant. Defaults to `<name>-models` and `<name>-monitoring`."),
  monitoringNamespace: dnsLabel.optional().describe("The tenant's monitoring namespace (where its Grafana runs), one of `namespaces`: the platform puts the tenant's billing API token there (Secret `maas-billing-token`). Defaults to `<name>-monitoring` when that is one of the namespaces, else the last of them."),
  billingTokenRotation: z.number().int().min(0).default(0).describe("Bump to issue the tenant a new billing API token (the old one stops working once the billing pods restart, which the change triggers)."),
  allowedTiers: z
    .array(z.string().min(1))
    .min(1)
    .optional()
    .describe(
      "Tiers this tenant's API keys may use (its price tiers are pinned by the platform, not by the key labels the tenant writes). Default: every tier the price book names (`billing.priceBook`); unrestricted when no price book is configured or the book prices every tier (a `*` tier entry). A tenant stack with a key of another tier fails at preview naming the key, and the platform's Gateway AuthPolicy denies such a key (docs/threat-model.md B3).",
    ),
  domains: z
    .array(hostName)
    .optional()
    .describe(
      "DNS domains the tenant's HTTPRoutes may use as hostnames (a hostname equal to or under one of them). An admission policy refuses any other hostname, and a route without hostnames, in the tenant's namespaces; without domains the tenant can create no HTTPRoute. Must not cover the billing host or another tenant's domains.",
    ),
  adminGroup: z.string().min(1).optional().describe("Group bound as tenant admin in the tenant's namespaces: the `maas-tenant-admin` Role of docs/tenants.md (exactly what a tenant stack needs), nothing else."),
});

export const accessLogsSchema = z.strictObject({
  sender: shortName("access-logs").describe("The `platform.billing.senders` entry the Collector posts as: its token (Secret `maas-billing-sender-<name>`, in that sender's namespace, where the Collector then runs) and its first source, which the access-log rows carry."),
  collectorImage: pinnedImage.describe("OpenTelemetry Collector image with the otlp receiver, batch, transform and groupbyattrs processors and the otlphttp exporter (e.g. the contrib distribution, or one built with the Collector Builder like tools/otelcol), pinned."),
  endpoint: z.url().optional().describe("URL of the billing service's OTLP logs endpoint. Default: `https://<billing.host>/v1/logs` (TLS through the Route/HTTPRoute) when `billing.host` is set, else the in-cluster `http://maas-billing-api.<namespace>.svc:8080/v1/logs` (plain HTTP inside the cluster, behind the billing namespace's NetworkPolicy)."),
  caConfigMap: z.strictObject({ name: dnsLabel, key: z.string().min(1).default("ca.crt") }).optional().describe("ConfigMap (in the Collector's namespace) with the PEM CA bundle that signs the billing host's certificate; the system roots when omitted."),
  replicas: z.number().int().min(1).max(10).default(2).describe("Collector replicas (records through two replicas still count once: ids are derived from the records, docs/usage-sources.md)."),
  resources: resources.default({ requests: { cpu: "100m", memory: "128Mi" }, limits: { cpu: "1", memory: "512Mi" } }),
  gatewayEnvoyFilter: z
    .boolean()
    .default(false)
    .describe(
      "Render the Istio `EnvoyFilter` `maas-billing-access-logs` in the Gateway's namespace that makes the Gateway's Envoy send one OpenTelemetry access-log record per inference POST to this Collector, with the attributes the billing service reads (identity from the platform's Authorino identity filter, tokens and model from the response body; docs/usage-sources.md \"The gateway side\"). Needs an Istio-based Gateway (Istio, OpenShift Service Mesh): the EnvoyFilter CRD must exist. Off by default, as upstream MaaS's usage logging is.",
    ),
});
export type AccessLogsConfig = z.output<typeof accessLogsSchema>;

const durationText = z.string().regex(/^\d+(ms|s|m|h|d)$/, 'expected a duration such as "30s", "2m" or "1h"');
export const lokiPullSchema = z.strictObject({
  url: z.url().describe("Base URL of Loki's HTTP API, or of MaaS's usage tenancy proxy in front of it (e.g. `https://usage-tenancy-proxy.opendatahub.svc:8443`): the billing service calls `GET <url>/loki/api/v1/query_range`."),
  query: z.string().min(1).optional().describe('LogQL log query selecting the gateway\'s usage records. Default `{service_name="models-as-a-service"}` (the resource attribute the gateway\'s access log sets).'),
  limit: z.number().int().min(1).max(5000).optional().describe("Entries per query_range request (Loki's `max_entries_limit_per_query` caps it, 5000 by default). Default 1000."),
  lag: durationText.optional().describe("How far behind now a pass ends: Loki must hold a window's entries by then (entries arriving later are not pulled again). Default 2m."),
  interval: durationText.optional().describe("How often a pass runs. Default 1m."),
  bearerTokenFile: z.string().min(1).optional().describe("File in the billing pod holding the bearer token the tenancy proxy checks, e.g. the pod's own ServiceAccount token `/var/run/secrets/kubernetes.io/serviceaccount/token` (read on every pass); the proxy must let that identity read every user's records. None when omitted."),
});

export const platformSchema = z
  .strictObject({
    namespace: dnsLabel.default("maas-billing").describe("Namespace of the billing service and its database."),
    vllmMetricFamily: z.enum(VLLM_FAMILIES).default("kserve_vllm").describe("vLLM metric-name family: `kserve_vllm` when KServe's PodMonitor renames the series, else `vllm`."),
    monitoring: monitoringSchema,
    database: databaseSchema,
    billing: billingSchema,
    gateway: gatewayRefSchema,
    quotaEnforcement: quotaEnforcementSchema.describe("Quota enforcement at the gateway."),
    limitador: limitadorSchema,
    gatewayMetrics: gatewayMetricsSchema.describe("Where the gateway's (Limitador's) series live and how the tenants' gateway federation reaches them."),
    telemetry: telemetrySchema,
    federation: federationSchema,
    grafana: platformGrafanaSchema.describe("The platform team's Grafana (billing dashboard over all tenants)."),
    tenants: z.array(platformTenantSchema).default([]).describe("The tenants this platform serves: namespaces, admin RBAC and federation proxies per tenant."),
    accessLogs: accessLogsSchema
      .optional()
      .describe("Per-request usage from the gateway's access logs (docs/usage-sources.md): an OpenTelemetry Collector receiving the gateway's OTLP access logs and exporting them to the billing service, which then bills them (collector `billableSource: access-log`) instead of the gateway counters. The Envoy/Istio side is documented there."),
    lokiPull: lokiPullSchema
      .optional()
      .describe(
        "Pull the gateway's access logs from Loki instead of (or besides) receiving them over OTLP (docs/usage-sources.md \"Pulling from Loki\"): LogQL query_range into the same idempotent per-request rows, with a watermark. The access logs are then the billable source. Tested against a stand-in for Loki's documented API only, not a real Loki.",
      ),
    alerting: alertmanagerSchema
      .optional()
      .describe("Where the platform alerts (quota, Limitador, scrape, collector) go. kubernetes: a prometheus-operator Alertmanager `maas-alertmanager` in the monitoring namespace; openshift: the user-workload Alertmanager (turned on) with an AlertmanagerConfig. Omitted: no delivery."),
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
      if (platformTenantNamespaces(t).includes(p.gateway.namespace)) {
        ctx.addIssue({
          code: "custom",
          path: ["tenants", i, "namespaces"],
          message: `"${p.gateway.namespace}" is the Gateway's namespace: the tenant-admin Role there would cover the platform's metering and auth policies. Give the tenant namespaces of its own`,
        });
      }
      if (t.monitoringNamespace !== undefined && !platformTenantNamespaces(t).includes(t.monitoringNamespace)) {
        ctx.addIssue({ code: "custom", path: ["tenants", i, "monitoringNamespace"], message: `"${t.monitoringNamespace}" is not one of the tenant's namespaces (${platformTenantNamespaces(t).join(", ")})` });
      }
    });
    if (p.billing.host !== undefined && p.billing.gateway.name === p.gateway.name) {
      ctx.addIssue({
        code: "custom",
        path: ["billing", "gateway", "name"],
        message: `"${p.gateway.name}" is platform.gateway.name: the billing API's own Gateway is created next to it in "${p.gateway.namespace}" and would replace it. Give it a name of its own (default "maas-billing")`,
      });
    }
    const sink = p.billing.monthEndClose?.sink;
    if (sink?.kind === "volume" && sink.accessMode === "ReadWriteOnce" && p.billing.replicas > 1) {
      ctx.addIssue({
        code: "custom",
        path: ["billing", "monthEndClose", "sink", "accessMode"],
        message: `ReadWriteOnce with billing.replicas ${p.billing.replicas}: every billing pod mounts the exports volume (any replica may win the close's lock), and pods on other nodes could not attach it. Use ReadWriteMany (a StorageClass that offers it), an s3 sink, or billing.replicas: 1`,
      });
    }
    const sourceOwner = new Map<string, string>();
    const senderNames = new Set<string>();
    p.billing.senders.forEach((sender, i) => {
      if (senderNames.has(sender.name)) ctx.addIssue({ code: "custom", path: ["billing", "senders", i, "name"], message: `duplicate sender "${sender.name}"` });
      sender.sources.forEach((source, j) => {
        const other = sourceOwner.get(source);
        if (other !== undefined) ctx.addIssue({ code: "custom", path: ["billing", "senders", i, "sources", j], message: `source "${source}" is already bound to sender "${other}": one source, one sender` });
        sourceOwner.set(source, sender.name);
      });
      senderNames.add(sender.name);
    });
    if (p.accessLogs !== undefined && !p.billing.senders.some((s) => s.name === p.accessLogs?.sender)) {
      ctx.addIssue({ code: "custom", path: ["accessLogs", "sender"], message: `no sender "${p.accessLogs.sender}" in billing.senders: add one, e.g. { name: "${p.accessLogs.sender}", sources: ["//gateway/access-log"] }` });
    }
    const bookProblems = p.billing.priceBook !== undefined ? priceBookProblems(p.billing.priceBook) : [];
    if (p.billing.priceBook !== undefined && bookProblems.length === 0) {
      const book = pricedTiers(p.billing.priceBook);
      // The max-of-counters rows are priced at this tier for every tenant: a list price must exist.
      const listTiers = book.forTenant(""); // "" is no tenant name: list entries only
      if (p.billing.shortfallBilling !== undefined && listTiers !== undefined && !listTiers.includes(p.billing.shortfallBilling.tier)) {
        ctx.addIssue({ code: "custom", path: ["billing", "shortfallBilling", "tier"], message: `tier "${p.billing.shortfallBilling.tier}" has no list price in billing.priceBook (it prices ${listTiers.map((x) => `"${x}"`).join(", ")}): the model server's excess could not be invoiced` });
      }
      // A contract for a tenant the platform does not know is a typo that would silently bill list prices.
      for (const name of book.contractTenants) {
        if (!seen.has(name)) {
          ctx.addIssue({ code: "custom", path: ["billing", "priceBook"], message: `contract prices for tenant "${name}", which is not in platform.tenants (${p.tenants.map((t) => `"${t.name}"`).join(", ") || "none"}): fix the entry's tenant or register the tenant` });
        }
      }
      p.tenants.forEach((t, i) => {
        if (t.allowedTiers === undefined) return;
        const tiers = book.forTenant(t.name);
        const priced = tiers ?? [];
        const pricesAll = tiers === undefined;
        t.allowedTiers.forEach((tier, j) => {
          if (!pricesAll && !priced.includes(tier)) {
            ctx.addIssue({ code: "custom", path: ["tenants", i, "allowedTiers", j], message: `tier "${tier}" has no price of its own in billing.priceBook (it prices ${priced.map((x) => `"${x}"`).join(", ")})` });
          }
        });
      });
    }
    // A tenant namespace gets the tenant-admin Role bound in it: never a system or platform namespace.
    const platformNamespaces = new Map<string, string>([
      [p.namespace, "the billing namespace"],
      [p.monitoring.namespace, "the platform monitoring namespace"],
      [p.gateway.namespace, "the Gateway's namespace"],
      [p.limitador.namespace, "Limitador's namespace"],
    ]);
    const under = (host: string, domain: string) => host === domain || host.endsWith(`.${domain}`);
    const covered = domainsCovered(p.tenants);
    p.tenants.forEach((t, i) => {
      for (const ns of platformTenantNamespaces(t)) {
        const why = platformNamespaces.get(ns) ?? systemNamespaceReason(ns);
        if (why !== undefined) {
          ctx.addIssue({ code: "custom", path: ["tenants", i, "namespaces"], message: `"${ns}" is ${why}: a tenant namespace gets the tenant-admin Role, so it must be one of the tenant's own (e.g. "${t.name}-models")` });
        }
      }
      (t.domains ?? []).forEach((d, j) => {
        if (p.billing.host !== undefined && under(p.billing.host, d)) {
          ctx.addIssue({ code: "custom", path: ["tenants", i, "domains", j], message: `"${d}" covers the billing host "${p.billing.host}": a tenant route there would receive the callers' billing tokens` });
        }
        for (const { tenant: o, domain: od } of covered.get(`${i}/${j}`) ?? []) {
          ctx.addIssue({ code: "custom", path: ["tenants", i, "domains", j], message: `"${d}" covers "${od}" of tenant "${o.name}": one tenant's routes could take the other's traffic` });
        }
      });
    });
    if (p.billing.priceBook !== undefined) {
      for (const problem of bookProblems) {
        ctx.addIssue({ code: "custom", path: ["billing", "priceBook"], message: `the billing service would refuse it: ${problem}` });
      }
    }
    if (p.limitador.verbosity !== undefined && p.limitador.image === undefined) {
      ctx.addIssue({ code: "custom", path: ["limitador", "verbosity"], message: 'verbosity is patched only together with image. Example: image: "quay.io/kuadrant/limitador:v2.0.0"' });
    }
  })
  .superRefine(checkDatabaseConnections);

export type PlatformConfig = z.infer<typeof platformSchema>;
export type PlatformTenant = z.infer<typeof platformTenantSchema>;

/**
 * The tiers each tenant's keys may use, defaults applied in one place: `allowedTiers`, else every
 * tier the price book names; tenants without a restriction (no allowedTiers, and no price book or one
 * pricing every tier with "*") are
 * left out.
 */
export function platformAllowedTiers(p: PlatformConfig): Record<string, string[]> {
  const book = p.billing.priceBook !== undefined ? pricedTiers(p.billing.priceBook) : undefined;
  return Object.fromEntries(
    p.tenants.flatMap((t) => {
      const allowed = t.allowedTiers ?? book?.forTenant(t.name);
      return allowed !== undefined && allowed.length > 0 ? [[t.name, [...allowed].sort()]] : [];
    }),
  );
}

/**
 * For each tenant domain (key `i/j`: tenant i's domain j), the other tenants' domains it covers
 * (equal, or a subdomain of it), in tenant and domain order. A host is under a domain exactly when
 * the domain is the host or the host's part after one of its dots, so each host looks up its own
 * suffixes instead of every tenant's domains: linear in the domains, not quadratic in the tenants.
 */
function domainsCovered(tenants: PlatformTenant[]): Map<string, Array<{ tenant: PlatformTenant; domain: string }>> {
  const where = new Map<string, Array<{ i: number; j: number }>>();
  const add = <T>(map: Map<string, T[]>, key: string, value: T) => {
    const list = map.get(key);
    if (list === undefined) map.set(key, [value]);
    else list.push(value);
  };
  tenants.forEach((t, i) => (t.domains ?? []).forEach((d, j) => add(where, d, { i, j })));
  const covered = new Map<string, Array<{ tenant: PlatformTenant; domain: string }>>();
  tenants.forEach((o, k) => {
    for (const host of o.domains ?? []) {
      const suffixes = [host];
      for (let dot = host.indexOf("."); dot !== -1; dot = host.indexOf(".", dot + 1)) suffixes.push(host.slice(dot + 1));
      for (const { i, j } of suffixes.flatMap((suffix) => where.get(suffix) ?? [])) {
        if (i === k) continue;
        add(covered, `${i}/${j}`, { tenant: o, domain: host });
      }
    }
  });
  return covered;
}

/** Why `ns` is a system namespace no tenant may own (Kubernetes' and OpenShift's own), or undefined. */
export function systemNamespaceReason(ns: string): string | undefined {
  if (["default", "kube-system", "kube-public", "kube-node-lease"].includes(ns) || ns.startsWith("kube-")) return "a Kubernetes system namespace";
  if (ns === "openshift" || ns.startsWith("openshift-")) return "an OpenShift system namespace";
  return undefined;
}

/** The namespaces of one tenant, defaults applied in one place. */
export function platformTenantNamespaces(t: PlatformTenant): string[] {
  return t.namespaces ?? [`${t.name}-models`, `${t.name}-monitoring`];
}

/** The tenant's monitoring namespace: configured, else `<name>-monitoring` when registered, else the last namespace. */
export function platformTenantMonitoringNamespace(t: PlatformTenant): string {
  const namespaces = platformTenantNamespaces(t);
  if (t.monitoringNamespace !== undefined) return t.monitoringNamespace;
  return namespaces.includes(`${t.name}-monitoring`) ? `${t.name}-monitoring` : namespaces[namespaces.length - 1];
}
