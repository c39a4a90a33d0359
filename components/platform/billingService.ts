import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { CollectorSettingsInput } from "../../billing-service/src/contract";
import { priceBookText } from "../config/priceBook";
import type { GatewayRef } from "../contract";
import { exposeService } from "../shared/exposure";
import { BILLING_LISTENER_NAME, billingGatewaySpec, createBillingGateway } from "./billingGateway";
import { appLabels } from "./security";
import {
  billingApiClusterRoleRules,
  billingApiDeploymentSpec,
  billingApiLabels,
  billingApiName,
  billingApiPort,
  billingApiServiceMonitorSpec,
  billingApiServiceSpec,
  billingExportsClaimName,
  billingExportsClaimSpec,
  billingMetricsLabels,
  billingMetricsServiceName,
  billingMetricsServiceSpec,
  collectorConfigMapName,
  collectorFiles,
  collectorTenantsConfigMapName,
  priceBookConfigMapName,
  type BillingApiPodArgs,
} from "./billingServiceSpecs";
import { shardSuffix } from "./tenantShards";

export { billingApiName, billingApiPort, billingApiSelector, billingMetricsPort, collectorSettings } from "./billingServiceSpecs";

/** The pod's inputs (documented on BillingApiPodArgs) plus where and how the service is exposed. */
export interface BillingServiceArgs
  extends Pick<BillingApiPodArgs, "flavor" | "billing" | "databaseSecretName" | "appDatabaseSecretName" | "appDatabaseRevision" | "prometheusUrl" | "tokens"> {
  /** Namespace to deploy into; must already exist. */
  readonly namespace: pulumi.Input<string>;
  /** Plain name of that namespace (what the billing Gateway's allowedRoutes select). */
  readonly namespaceName: string;
  /** The shared Gateway: with a billing host, the billing Gateway is created in its namespace (kubernetes only); the billing API never attaches to it. */
  readonly gateway: GatewayRef;
  /** Collector settings file content (collectorSettings()), mounted as MAAS_BILLING_COLLECTOR_CONFIG. */
  readonly collectorSettings: CollectorSettingsInput;
}

/**
 * The billing service: Deployment (image by digest), Service, ServiceAccount with the RBAC it needs
 * (TokenReview and SubjectAccessReview to authenticate callers; on OpenShift cluster-monitoring-view to
 * read metrics), a ServiceMonitor and external exposure (Route or HTTPRoute). The objects' specs are
 * built by billingServiceSpecs.ts.
 */
export class BillingService extends pulumi.ComponentResource {
  /** In-cluster base URL of the billing API. */
  public readonly url: pulumi.Output<string>;
  /** The billing API's Deployment: what waits for its pods to run the current code depends on it. */
  public readonly deployment: k8s.apps.v1.Deployment;
  /**
   * External URL of the tenant billing portal (`https://<host>/portal/`), exposed next to the API;
   * undefined when no host is known (kubernetes without `platform.billing.host`).
   */
  public readonly portalUrl: pulumi.Output<string | undefined>;

  constructor(name: string, args: BillingServiceArgs, opts?: pulumi.ComponentResourceOptions) {
    super("maas:platform:BillingService", name, {}, opts);
    const b = args.billing;
    const labels = billingApiLabels;
    const meta = { name: billingApiName, namespace: args.namespace, labels };

    const serviceAccount = new k8s.core.v1.ServiceAccount(`${name}-sa`, { metadata: meta }, { parent: this });
    const clusterRole = new k8s.rbac.v1.ClusterRole(
      `${name}-auth-role`,
      {
        metadata: { name: billingApiName, labels },
        rules: billingApiClusterRoleRules,
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

    const collector = collectorFiles(args.collectorSettings);
    new k8s.core.v1.ConfigMap(
      `${name}-collector-config`,
      { metadata: { name: collectorConfigMapName, namespace: args.namespace, labels }, data: { "collector.yaml": collector.collectorYaml } },
      { parent: this },
    );
    // Every shard exists, empty or not: the pods mount all of them (a missing one keeps a pod waiting
    // rather than starting without some tenants' namespaces).
    collector.collectorTenantShards.forEach((tenants, i) => {
      new k8s.core.v1.ConfigMap(
        `${name}-collector-tenants-${shardSuffix(i)}`,
        { metadata: { name: collectorTenantsConfigMapName(i), namespace: args.namespace, labels }, data: { "tenants.yaml": tenants } },
        { parent: this },
      );
    });

    // Optional: without a configured price book the service uses the one baked into its image.
    const priceBookYaml = b.priceBook === undefined ? undefined : priceBookText(b.priceBook);
    if (priceBookYaml !== undefined) {
      new k8s.core.v1.ConfigMap(
        `${name}-pricebook`,
        { metadata: { name: priceBookConfigMapName, namespace: args.namespace, labels }, data: { "pricebook.yaml": priceBookYaml } },
        { parent: this },
      );
    }

    // The month-end exports volume (billing.monthEndClose.sink.kind: volume), mounted by every pod.
    const exportsClaim = billingExportsClaimSpec(b);
    if (exportsClaim !== undefined) {
      new k8s.core.v1.PersistentVolumeClaim(
        `${name}-exports`,
        { metadata: { name: billingExportsClaimName, namespace: args.namespace, labels }, spec: exportsClaim },
        // Finance's exports outlive a `pulumi destroy` of the stack unless someone deletes them on purpose.
        { parent: this, retainOnDelete: true },
      );
    }

    this.deployment = new k8s.apps.v1.Deployment(
      `${name}-deployment`,
      {
        metadata: meta,
        spec: billingApiDeploymentSpec({ ...args, ...collector, priceBookYaml }),
      },
      // The pods read the tokens files once, at start: roll them only after every Secret holds its new content.
      { parent: this, dependsOn: [...args.tokens.secrets] },
    );

    const service = new k8s.core.v1.Service(`${name}-service`, { metadata: meta, spec: billingApiServiceSpec }, { parent: this });

    // Metrics have their own Service so the clients' Service never carries the metrics port.
    new k8s.core.v1.Service(
      `${name}-metrics-service`,
      { metadata: { name: billingMetricsServiceName, namespace: args.namespace, labels: billingMetricsLabels }, spec: billingMetricsServiceSpec },
      { parent: this },
    );
    new k8s.apiextensions.CustomResource(
      `${name}-service-monitor`,
      { apiVersion: "monitoring.coreos.com/v1", kind: "ServiceMonitor", metadata: meta, spec: billingApiServiceMonitorSpec },
      { parent: this },
    );

    // The API and the tenant billing portal, on one origin (the portal's cookie and CSRF rules rely on
    // it). Health, OpenAPI and anything else on the port stay in-cluster. On openshift each prefix is a
    // Route of its own (`maas-billing-api` for /v1/, `maas-billing-api-portal` for /portal/).
    // kubernetes with a host: the API on a Gateway of its own, which tenant HTTPRoutes cannot attach to (billingGateway.ts).
    // kubernetes without a host: in-cluster only. Not on the shared Gateway: the platform's AuthPolicy
    // there refuses every request without an API key, which billing callers never send (review R12).
    let routeHost: pulumi.Output<string | undefined> = pulumi.output(b.host);
    if (args.flavor === "openshift" || b.host !== undefined) {
      const ownGateway =
        args.flavor === "kubernetes" && b.host !== undefined
          ? createBillingGateway(
              name,
              billingGatewaySpec(args.gateway.namespace, b.host, args.namespaceName, { ...b.gateway, gatewayClassName: requiredClass(b.gateway.gatewayClassName) }, billingGatewayLabels),
              { parent: this },
            )
          : undefined;
      routeHost = exposeService(
        name,
        args.flavor,
        {
          name: billingApiName,
          namespace: args.namespace,
          labels,
          serviceName: service.metadata.name,
          port: billingApiPort,
          host: b.host,
          gateway: ownGateway ? { name: b.gateway.name, namespace: args.gateway.namespace } : args.gateway,
          ...(ownGateway ? { sectionName: BILLING_LISTENER_NAME } : {}),
          pathPrefixes: ["/v1/", "/portal/"],
        },
        { parent: this, ...(ownGateway ? { dependsOn: [ownGateway] } : {}) },
      ).host;
    }

    this.url = pulumi.interpolate`http://${service.metadata.name}.${args.namespace}.svc:${billingApiPort}`;
    // https: the portal's session cookie is Secure (TLS at the router or gateway).
    this.portalUrl = routeHost.apply((host) => (host ? `https://${host}/portal/` : undefined));
    this.registerOutputs({ url: this.url, portalUrl: this.portalUrl });
  }
}

/** Labels of the billing Gateway (not the billing API's: Gateway controllers copy a Gateway's labels to the pods they run for it). */
export const billingGatewayLabels = appLabels("maas-billing-gateway", "gateway");

function requiredClass(gatewayClassName: string | undefined): string {
  // The config schema requires it on kubernetes with a host (components/config/index.ts).
  if (gatewayClassName === undefined) throw new Error("platform.billing.gateway.gatewayClassName is required on kubernetes when platform.billing.host is set");
  return gatewayClassName;
}
