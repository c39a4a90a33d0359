import * as pulumi from "@pulumi/pulumi";
import type { Flavor } from "./config";
import type { GatewayCounterSuffix, GatewayRef, PlatformOutputs, TierLabel, VllmFamily } from "./contract";
import { platformAllowedTiers, type PlatformConfig } from "./config/platform";
import { BillingService, billingApiSelector, collectorSettings } from "./platform/billingService";
import { createBillingTokens } from "./platform/billingTokens";
import { createAccessLogCollector, createGatewayAccessLogFilter } from "./platform/accessLogCollector";
import { BillingDatabase } from "./platform/database";
import { createFederationProxies, type FederationEndpoints } from "./platform/federation";
import { platformTenantNamespaces } from "./config/platform";
import { createLimitadorImagePatch, createLimitadorServiceMonitor } from "./platform/limitador";
import { createPlatformAlerting } from "./platform/alerting";
import { createMonitoring, gatewayMetricsPlacement } from "./platform/monitoring";
import { createPlatformGrafana } from "./platform/grafana";
import { createRestrictedNamespace } from "./platform/namespaces";
import { createPlatformIngressPolicies } from "./platform/networkPolicies";
import { createRouteAdmission } from "./platform/routeAdmission";
import { createAuthPolicyAdmission } from "./platform/authPolicyAdmission";
import { createServiceAdmission } from "./platform/serviceAdmission";
import { createPlatformRules } from "./platform/rules";
import { createGatewayAuth } from "./platform/gatewayAuth";
import { createMeteringPolicy } from "./platform/gatewayMetering";
import { createTelemetryPolicy } from "./platform/telemetry";
import { createTenantAccess } from "./platform/tenantAccess";

export interface PlatformArgs {
  /** Cluster flavor: `openshift` (user-workload monitoring, Routes) or `kubernetes` (prometheus-operator, Gateway API). */
  readonly flavor: Flavor;
  /** The validated `platform` stack config (components/config/platform.ts); defaults already applied. */
  readonly config: PlatformConfig;
}

/**
 * The platform layer, run once per environment by a cluster admin: central monitoring, the billing
 * namespace with PostgreSQL and the billing service, the Limitador image patch, the Gateway
 * TelemetryPolicy, and per tenant its namespaces, admin RBAC and label-enforcing federation proxies.
 * Its public outputs are what tenant stacks read (docs/contract.md, "Platform outputs").
 */
export class Platform extends pulumi.ComponentResource {
  /** Namespace of the billing service and database. */
  public readonly billingNamespace: pulumi.Output<string>;
  /** In-cluster URL of the billing API. */
  public readonly billingApiUrl: pulumi.Output<string>;
  /** External URL of the tenant billing portal, when the billing host is known (tenant Grafana links to it). */
  public readonly billingPortalUrl: pulumi.Output<string | undefined>;
  /** Per tenant: `url` (namespace-enforcing proxy), `gatewayUrl` (route_namespace) and `billingUrl` (tenant=<name>). */
  public readonly federation: pulumi.Output<Record<string, FederationEndpoints>>;
  /** The Gateway the TelemetryPolicy targets and tenant HTTPRoutes attach to. */
  public readonly gateway: pulumi.Output<GatewayRef>;
  /** vLLM metric-name family used by dashboards and federation. */
  public readonly vllmMetricFamily: pulumi.Output<VllmFamily>;
  /** Namespaces the platform created for each tenant. */
  public readonly tenantNamespaces: pulumi.Output<Record<string, string[]>>;
  /** Label carrying the tier or subscription on gateway metrics (the TelemetryPolicy's choice). */
  public readonly tierLabel: pulumi.Output<TierLabel>;
  /** Tiers each tenant's API keys may use (tenants without a restriction are left out). */
  public readonly tenantAllowedTiers: pulumi.Output<Record<string, string[]>>;
  /** Suffix of Limitador's counter names in the central Prometheus (`telemetry.counterSuffix`). */
  public readonly gatewayCounterSuffix: pulumi.Output<GatewayCounterSuffix>;
  /** The database component (tests check that its StatefulSet is protected). */
  public readonly database: BillingDatabase;
  /** Per tenant, its entry of `federation` and of `tenantNamespaces` (see outputsFor). */
  private readonly perTenant: { federation: Record<string, pulumi.Output<FederationEndpoints>>; namespaces: Record<string, pulumi.Output<string[]>> };

  constructor(name: string, args: PlatformArgs, opts?: pulumi.ComponentResourceOptions) {
    // Args stay out of super(): they are plain config, and Outputs there crash the SDK (pulumi/pulumi#23953).
    super("maas:platform:Platform", name, {}, opts);
    const { flavor, config } = args;

    const monitoring = createMonitoring(name, { flavor, monitoring: config.monitoring, alerting: config.alerting !== undefined }, this);
    if (config.alerting) createPlatformAlerting(name, { flavor, namespace: monitoring.namespace.metadata.name, settings: config.alerting }, this);
    // Retained on delete: deleting the namespace would take the database volume with it.
    const billingNamespace = createRestrictedNamespace(`${name}-billing-namespace`, config.namespace, "billing", this, {}, true);
    this.database = new BillingDatabase(
      `${name}-database`,
      { flavor, namespace: billingNamespace.metadata.name, database: config.database, clientPodLabels: billingApiSelector },
      { parent: this },
    );
    const namespacesPerTenant = createTenantAccess(name, config.tenants, flavor, this);
    this.tenantNamespaces = pulumi.output(namespacesPerTenant);
    const tokens = createBillingTokens(
      name,
      { namespace: billingNamespace.metadata.name, tenants: config.tenants, tenantNamespaces: namespacesPerTenant, billing: config.billing, quotaEnforcement: config.quotaEnforcement },
      this,
    );
    const billing = new BillingService(
      `${name}-billing`,
      {
        flavor,
        namespace: billingNamespace.metadata.name,
        namespaceName: config.namespace,
        billing: config.billing,
        databaseSecretName: this.database.secretName,
        appDatabaseSecretName: this.database.appSecretName,
        appDatabaseRevision: String(config.database.appPasswordRotation),
        prometheusUrl: monitoring.queryUrl,
        gateway: config.gateway,
        collectorSettings: collectorSettings(config),
        tokens,
      },
      { parent: this },
    );
    if (config.accessLogs) {
      const accessLogs = config.accessLogs;
      const sender = config.billing.senders.find((s) => s.name === accessLogs.sender);
      const collectorNamespace = sender?.namespace ?? billingNamespace.metadata.name;
      createAccessLogCollector(
        name,
        {
          flavor,
          namespace: collectorNamespace,
          config: accessLogs,
          logsEndpoint: accessLogs.endpoint ?? (config.billing.host ? `https://${config.billing.host}/v1/logs` : pulumi.interpolate`${billing.url}/v1/logs`),
        },
        this,
      );
      if (accessLogs.gatewayEnvoyFilter) createGatewayAccessLogFilter(name, { gateway: config.gateway, collectorNamespace }, this);
    }
    const gatewayMetrics = gatewayMetricsPlacement(flavor, config, config.federation.upstreamUrl ?? monitoring.federationUpstream);
    createLimitadorImagePatch(name, config.limitador, this);
    createLimitadorServiceMonitor(name, config.limitador, this, gatewayMetrics.source === "clusterMonitoring");
    createTelemetryPolicy(name, config.telemetry, config.gateway, this);
    if (config.telemetry.meteringPolicy) createMeteringPolicy(name, config.gateway, this);
    createGatewayAuth(
      name,
      {
        gateway: config.gateway,
        enforcement: config.quotaEnforcement,
        tenants: config.tenants,
        allowedTiers: platformAllowedTiers(config),
        accessLogs: config.accessLogs !== undefined || config.lokiPull !== undefined,
        billingUrl: billing.url,
        billingDeployment: billing.deployment,
        ...(tokens.gatewayToken ? { gatewayToken: tokens.gatewayToken } : {}),
      },
      this,
    );
    if (config.grafana.enabled) {
      createPlatformGrafana(
        name,
        {
          flavor,
          namespace: monitoring.namespace.metadata.name,
          namespaceName: config.monitoring.namespace,
          grafana: config.grafana,
          prometheusUrl: config.billing.prometheusUrl ?? monitoring.queryUrl,
          gateway: config.gateway,
          gatewayClassName: config.grafana.gateway.gatewayClassName ?? config.billing.gateway.gatewayClassName,
          sidecar: { image: config.federation.authProxyImage, resources: config.federation.authProxyResources },
        },
        this,
      );
    }
    createPlatformRules(
      name,
      { namespace: monitoring.namespace.metadata.name, vllmFamily: config.vllmMetricFamily, tierLabel: config.telemetry.tierLabel, counterSuffix: config.telemetry.counterSuffix },
      this,
    );
    const federationPerTenant = createFederationProxies(
      name,
      {
        flavor,
        tenants: config.tenants,
        namespace: monitoring.namespace.metadata.name,
        federation: config.federation,
        defaultUpstream: monitoring.federationUpstream,
        gatewayUpstream: gatewayMetrics.federateUrl,
        gatewayUpstreamIsClusterMonitoring: gatewayMetrics.source === "clusterMonitoring" && config.gatewayMetrics.federateUrl === undefined,
        sourceNamespaces: { billing: config.namespace, gateway: config.limitador.namespace },
      },
      this,
    );

    // Tenant HTTPRoutes only within the tenant's domains (the shared Gateway's hostnames are not theirs), on the shared Gateway only.
    createRouteAdmission(name, config.gateway, this);
    // Tenant AuthPolicies authenticate with API keys only, identity untouched (threat model B3I).
    createAuthPolicyAdmission(name, this);
    // Tenant Services stay in the cluster: ClusterIP, no externalIPs (threat model B3S).
    createServiceAdmission(name, this);
    // Default-deny ingress in the monitoring and billing namespaces, then exactly the platform's peers.
    createPlatformIngressPolicies(
      name,
      {
        flavor,
        monitoringNamespace: config.monitoring.namespace,
        billingNamespace: config.namespace,
        gatewayNamespace: config.gateway.namespace,
        tenants: config.tenants.map((t) => ({ name: t.name, namespaces: platformTenantNamespaces(t) })),
        grafana: { enabled: config.grafana.enabled, exposed: config.grafana.enabled && config.grafana.expose.enabled },
        ...(config.accessLogs
          ? { accessLogCollectorNamespace: config.billing.senders.find((s) => s.name === config.accessLogs?.sender)?.namespace ?? config.namespace }
          : {}),
      },
      this,
      [monitoring.namespace, billingNamespace],
    );

    this.federation = pulumi.output(federationPerTenant);
    this.perTenant = { federation: federationPerTenant, namespaces: namespacesPerTenant };

    this.billingNamespace = billingNamespace.metadata.name;
    this.billingApiUrl = billing.url;
    this.billingPortalUrl = billing.portalUrl;
    this.gateway = pulumi.output({ name: config.gateway.name, namespace: config.gateway.namespace });
    this.vllmMetricFamily = pulumi.output(config.vllmMetricFamily);
    this.tierLabel = pulumi.output(config.telemetry.tierLabel);
    this.tenantAllowedTiers = pulumi.output(platformAllowedTiers(config));
    this.gatewayCounterSuffix = pulumi.output(config.telemetry.counterSuffix);
    this.registerOutputs(this.outputs());
  }

  /** The outputs a platform stack exports for tenant stacks (docs/contract.md, components/contract.ts). */
  public outputs(): PlatformOutputs {
    return {
      billingNamespace: this.billingNamespace,
      billingApiUrl: this.billingApiUrl,
      billingPortalUrl: this.billingPortalUrl,
      federation: this.federation,
      gateway: this.gateway,
      vllmMetricFamily: this.vllmMetricFamily,
      tenantNamespaces: this.tenantNamespaces,
      tierLabel: this.tierLabel,
      tenantAllowedTiers: this.tenantAllowedTiers,
      gatewayCounterSuffix: this.gatewayCounterSuffix,
    };
  }

  /**
   * The outputs as one tenant of this stack reads them: `federation` and `tenantNamespaces` hold that
   * tenant's entry only (empty when the registry lacks it, which the tenant reports). The values it
   * reads are the same as from outputs(); the difference is the dependencies: a tenant's resources
   * wait for its own namespaces and proxies, not for every tenant's, so n tenants in one stack record
   * O(n) dependencies instead of O(n^2) (docs/scaling.md, "Render").
   */
  public outputsFor(tenant: string): PlatformOutputs {
    const only = <T>(perTenant: Record<string, pulumi.Output<T>>) =>
      pulumi.output(Object.hasOwn(perTenant, tenant) ? { [tenant]: perTenant[tenant] } : {}) as pulumi.Output<Record<string, T>>;
    return { ...this.outputs(), federation: only(this.perTenant.federation), tenantNamespaces: only(this.perTenant.namespaces) };
  }
}
