import * as pulumi from "@pulumi/pulumi";
import type { Flavor } from "../config";
import { checkAllowedKeyTiers, TenantSpec, tenantNamespaces } from "../config/tenant";
import { tenantFederation, type PlatformOutputs } from "../contract";
import { createTenantApiKeys } from "./apiKeys";
import { createTenantWebhooks } from "./webhooks";
import { tenantDashboardFiles, tierTokenLimits } from "./dashboards";
import { createTenantGrafana } from "./grafana";
import { createTenantPolicies } from "./policies";
import { createTenantAlertmanager } from "./alertmanager";
import { createTenantPrometheus, tenantPrometheusLabels } from "./prometheus";

export interface TenantStackArgs {
  /** The validated tenant config (components/config/tenant.ts); plain, since it decides which resources exist. */
  readonly spec: TenantSpec;
  /** Cluster flavor: `openshift` exposes Grafana with a Route, `kubernetes` with a Gateway API HTTPRoute. */
  readonly flavor: Flavor;
  /** Outputs of the platform stack this tenant runs on (components/contract.ts). */
  readonly platform: PlatformOutputs;
}

/**
 * Everything one tenant runs in its own namespaces: a Prometheus fed only through the platform's
 * label-enforcing proxies, Grafana with the tenant dashboards, API keys and the Kuadrant policies per
 * tier. Declares no cluster-scoped object and no namespace (the platform creates those), so a tenant
 * admin holding the Role in docs/tenants.md can run it.
 */
export class TenantStack extends pulumi.ComponentResource {
  /** The tenant's name. */
  public readonly tenantName: string;
  /** Namespace of the tenant's models, HTTPRoutes, policies and API keys. */
  public readonly modelsNamespace: string;
  /** Namespace of the tenant's Prometheus and Grafana. */
  public readonly monitoringNamespace: string;
  /** In-cluster URL of the tenant Prometheus. */
  public readonly prometheusUrl: string;
  /** Name of the Secret holding Grafana's generated admin credentials. */
  public readonly grafanaAdminSecret: string;
  /** Grafana admin password (secret output). */
  public readonly grafanaAdminPassword: pulumi.Output<string>;
  /** External Grafana URL when exposed with a host name. */
  public readonly grafanaUrl: string | undefined;
  /** API key values by key name (secret output; never in plain text). */
  public readonly apiKeys: pulumi.Output<Record<string, string>>;

  constructor(name: string, args: TenantStackArgs, opts?: pulumi.ComponentResourceOptions) {
    // Args stay out of super(): Outputs in them crash the SDK (pulumi/pulumi#23953).
    super("maas:tenant:TenantStack", name, {}, opts);
    const { spec, flavor, platform } = args;
    const ns = tenantNamespaces(spec);
    const tenant = spec.name;

    // The platform's registry decides this tenant's endpoints; a tenant missing there is a setup error
    // on the platform side, reported with the fix.
    const federation = pulumi.output(platform.federation).apply((all) => tenantFederation(all, tenant, spec.prometheus.mode));
    const namespacesFromPlatform = pulumi
      .output(platform.tenantNamespaces)
      .apply((all) => all?.[tenant] ?? [ns.models, ns.monitoring]);

    const grafanaPodLabels = { "maas-billing.io/prometheus-client": tenant };
    const alertmanager = spec.alerting
      ? createTenantAlertmanager(name, { tenant, settings: spec.alerting, flavor, namespace: ns.monitoring, prometheusPodLabels: tenantPrometheusLabels(tenant) }, this)
      : undefined;
    const prometheus = createTenantPrometheus(
      name,
      {
        spec,
        flavor,
        namespace: ns.monitoring,
        federation,
        tenantNamespaces: namespacesFromPlatform,
        vllmMetricFamily: platform.vllmMetricFamily,
        tierLabel: platform.tierLabel,
        gatewayCounterSuffix: platform.gatewayCounterSuffix,
        alertmanagerUrl: alertmanager?.url,
        grafanaPodLabels,
      },
      this,
    );
    const grafana = createTenantGrafana(
      name,
      {
        spec,
        flavor,
        namespace: ns.monitoring,
        prometheusUrl: prometheus.url,
        dashboards: pulumi
          .all([platform.vllmMetricFamily, platform.tierLabel, federation, platform.billingPortalUrl, platform.gatewayCounterSuffix])
          // The billing dashboard only where the tenant Prometheus federates billing series (federate-billing job);
          // a link to the tenant's billing portal pages where the platform knows the portal's URL.
          .apply(([vllmFamily, tierLabel, endpoints, portalUrl, counterSuffix]) =>
            tenantDashboardFiles({
              tenant,
              vllmFamily,
              tierLabel,
              counterSuffix,
              tokenLimits: tierTokenLimits(spec.tiers),
              portalUrl,
              includeBilling: spec.prometheus.mode === "federated" && Boolean(endpoints.billingUrl),
            }),
          ),
        gateway: platform.gateway,
        podLabels: grafanaPodLabels,
      },
      this,
    );
    // The platform pins the tiers this tenant may use: a key of another tier fails the preview.
    pulumi.output(platform.tenantAllowedTiers).apply((all) => checkAllowedKeyTiers(spec, all?.[tenant]));
    const apiKeys = createTenantApiKeys(name, { spec, namespace: ns.models }, this);
    createTenantWebhooks(name, { spec, flavor, namespace: ns.monitoring, billingApiUrl: platform.billingApiUrl }, this);
    createTenantPolicies(
      name,
      { spec, keyNamespace: ns.models, defaultRouteNamespace: ns.models },
      this,
    );

    this.tenantName = tenant;
    this.modelsNamespace = ns.models;
    this.monitoringNamespace = ns.monitoring;
    this.prometheusUrl = prometheus.url;
    this.grafanaAdminSecret = grafana.adminSecretName;
    this.grafanaAdminPassword = grafana.adminPassword;
    this.grafanaUrl = grafana.url;
    this.apiKeys = apiKeys;
    this.registerOutputs({ ...this.publicOutputs(), ...this.secretOutputs() });
  }

  /** Outputs that are not secret. */
  public publicOutputs() {
    return {
      modelsNamespace: this.modelsNamespace,
      monitoringNamespace: this.monitoringNamespace,
      prometheusUrl: this.prometheusUrl,
      grafanaAdminSecret: this.grafanaAdminSecret,
      ...(this.grafanaUrl ? { grafanaUrl: this.grafanaUrl } : {}),
    };
  }

  /** Generated credentials, each a Pulumi secret. */
  public secretOutputs() {
    return { apiKeys: this.apiKeys, grafanaAdminPassword: this.grafanaAdminPassword };
  }

  /** What a tenant-only stack exports: the public outputs plus the secret ones (each a Pulumi secret). */
  public outputs() {
    return { tenant: this.tenantName, ...this.publicOutputs(), ...this.secretOutputs() };
  }
}
