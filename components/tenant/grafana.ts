import * as crypto from "node:crypto";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { stringify } from "yaml";
import { TENANT_PROMETHEUS_DS_UID, dashboardProviderConfig } from "../../dashboards";
import { TenantSpec } from "../config/tenant";
import type { Flavor } from "../config";
import { containerSecurityContext, podSecurityContext } from "../platform/security";

/** UID of the `grafana` user in the upstream image. */
const GRAFANA_UID = 472;
const PORT = 3000;
/** Fixed datasource uid the tenant dashboards refer to. */
export const TENANT_PROMETHEUS_DATASOURCE_UID = TENANT_PROMETHEUS_DS_UID;

export interface TenantGrafanaArgs {
  /** Validated tenant config. */
  readonly spec: TenantSpec;
  /** Cluster flavor: Route on openshift, HTTPRoute on kubernetes. */
  readonly flavor: Flavor;
  /** Namespace Grafana runs in (the tenant's monitoring namespace). */
  readonly namespace: string;
  /** In-cluster URL of the tenant Prometheus. */
  readonly prometheusUrl: string;
  /** Dashboards to provision: file name -> dashboard JSON text. */
  readonly dashboards: pulumi.Input<Record<string, string>>;
  /** Gateway the HTTPRoute attaches to (kubernetes flavor, when exposed). */
  readonly gateway: pulumi.Input<{ name: string; namespace: string }>;
  /** Labels put on the Grafana pods (the Prometheus NetworkPolicy admits exactly these). */
  readonly podLabels: Record<string, string>;
}

export interface TenantGrafana {
  /** Name of the Secret holding `admin-user` and `admin-password`. */
  adminSecretName: string;
  /** Generated admin password (secret output). */
  adminPassword: pulumi.Output<string>;
  /** External URL when exposed with a known host. */
  url?: string;
}

/** Grafana datasource provisioning file: the tenant Prometheus under its fixed uid. */
export function renderDatasources(tenant: string, prometheusUrl: string, scrapeInterval: string): string {
  return stringify({
    apiVersion: 1,
    datasources: [
      {
        name: `Prometheus (${tenant})`,
        uid: TENANT_PROMETHEUS_DATASOURCE_UID,
        type: "prometheus",
        access: "proxy",
        url: prometheusUrl,
        isDefault: true,
        editable: false,
        jsonData: { timeInterval: scrapeInterval },
      },
    ],
  });
}

/** Where the dashboards ConfigMap is mounted. */
const DASHBOARDS_PATH = "/etc/grafana/dashboards";

/** Grafana dashboard provider file: dashboards from the mounted ConfigMap, not editable in the UI. */
export function renderDashboardProvider(): string {
  return stringify(dashboardProviderConfig("MaaS", DASHBOARDS_PATH));
}

/**
 * Creates Grafana for one tenant: generated admin password in a Secret, provisioned datasource and
 * dashboards, Deployment, Service and, when asked, a Route (openshift) or HTTPRoute (kubernetes).
 */
export function createTenantGrafana(name: string, args: TenantGrafanaArgs, parent: pulumi.Resource): TenantGrafana {
  const { spec, namespace } = args;
  const g = spec.grafana;
  const objectName = `${spec.name}-grafana`;
  if (g.expose.enabled && args.flavor === "kubernetes" && !g.expose.host) {
    throw new Error(
      `tenant ${spec.name}: grafana.expose.host is required when grafana.expose.enabled is true on flavor kubernetes (an HTTPRoute needs a host name). Example: "grafana.${spec.name}.example.com"`,
    );
  }
  const labels = {
    "app.kubernetes.io/name": "grafana",
    "app.kubernetes.io/instance": spec.name,
    "app.kubernetes.io/part-of": "maas-billing",
    "maas-billing.io/tenant": spec.name,
  };
  const podLabels = { ...labels, ...args.podLabels };
  const opts = { parent };

  // Never a default password (the seed guide shipped admin/changeme-please).
  const password = new random.RandomPassword(`${name}-grafana-admin-password`, { length: 32, special: false }, opts);
  const adminSecret = new k8s.core.v1.Secret(
    `${name}-grafana-admin`,
    {
      metadata: { name: `${objectName}-admin`, namespace, labels },
      type: "Opaque",
      stringData: { "admin-user": "admin", "admin-password": password.result },
    },
    opts,
  );

  const datasources = renderDatasources(spec.name, args.prometheusUrl, spec.prometheus.scrapeInterval);
  const dashboardProvider = renderDashboardProvider();
  const provisioning = new k8s.core.v1.ConfigMap(
    `${name}-grafana-provisioning`,
    {
      metadata: { name: `${objectName}-provisioning`, namespace, labels },
      data: {
        "datasources.yaml": datasources,
        "dashboards.yaml": dashboardProvider,
      },
    },
    opts,
  );
  const dashboards = new k8s.core.v1.ConfigMap(
    `${name}-grafana-dashboards`,
    { metadata: { name: `${objectName}-dashboards`, namespace, labels }, data: args.dashboards },
    opts,
  );

  const provisioningHash = pulumi
    .output(args.dashboards)
    .apply((files) => sha256(JSON.stringify([datasources, dashboardProvider, Object.entries(files).sort()])));

  const rootUrl = g.expose.enabled && g.expose.host ? `https://${g.expose.host}/` : undefined;
  const env: k8s.types.input.core.v1.EnvVar[] = [
    { name: "GF_SECURITY_ADMIN_USER", valueFrom: { secretKeyRef: { name: adminSecret.metadata.name, key: "admin-user" } } },
    { name: "GF_SECURITY_ADMIN_PASSWORD", valueFrom: { secretKeyRef: { name: adminSecret.metadata.name, key: "admin-password" } } },
    { name: "GF_AUTH_ANONYMOUS_ENABLED", value: "false" },
    { name: "GF_USERS_ALLOW_SIGN_UP", value: "false" },
    { name: "GF_ANALYTICS_REPORTING_ENABLED", value: "false" },
    { name: "GF_ANALYTICS_CHECK_FOR_UPDATES", value: "false" },
    // Logs to stdout only: the root filesystem is read-only.
    { name: "GF_LOG_MODE", value: "console" },
    ...(rootUrl ? [{ name: "GF_SERVER_ROOT_URL", value: rootUrl }] : []),
  ];

  new k8s.apps.v1.Deployment(
    `${name}-grafana`,
    {
      metadata: { name: objectName, namespace, labels },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: {
          metadata: {
            labels: podLabels,
            // Grafana reads provisioning only at start (and subPath mounts never update): roll on change.
            annotations: { "maas-billing.io/provisioning-sha256": provisioningHash },
          },
          spec: {
            automountServiceAccountToken: false,
            securityContext: podSecurityContext(args.flavor, GRAFANA_UID),
            containers: [
              {
                name: "grafana",
                image: g.image,
                env,
                ports: [{ name: "http", containerPort: PORT }],
                readinessProbe: { httpGet: { path: "/api/health", port: "http" }, periodSeconds: 10 },
                livenessProbe: { httpGet: { path: "/api/health", port: "http" }, periodSeconds: 30, failureThreshold: 6 },
                resources: g.resources,
                securityContext: containerSecurityContext(),
                volumeMounts: [
                  { name: "data", mountPath: "/var/lib/grafana" },
                  { name: "tmp", mountPath: "/tmp" },
                  { name: "provisioning", mountPath: "/etc/grafana/provisioning/datasources/datasources.yaml", subPath: "datasources.yaml", readOnly: true },
                  { name: "provisioning", mountPath: "/etc/grafana/provisioning/dashboards/dashboards.yaml", subPath: "dashboards.yaml", readOnly: true },
                  { name: "dashboards", mountPath: DASHBOARDS_PATH, readOnly: true },
                ],
              },
            ],
            // Everything Grafana needs is provisioned, so its database can be thrown away with the pod.
            volumes: [
              { name: "data", emptyDir: {} },
              { name: "tmp", emptyDir: {} },
              { name: "provisioning", configMap: { name: provisioning.metadata.name } },
              { name: "dashboards", configMap: { name: dashboards.metadata.name } },
            ],
          },
        },
      },
    },
    opts,
  );

  new k8s.core.v1.Service(
    `${name}-grafana-svc`,
    {
      metadata: { name: objectName, namespace, labels },
      spec: { selector: labels, ports: [{ name: "http", port: PORT, targetPort: "http" }] },
    },
    opts,
  );

  if (g.expose.enabled) {
    if (args.flavor === "openshift") {
      new k8s.apiextensions.CustomResource(
        `${name}-grafana-route`,
        {
          apiVersion: "route.openshift.io/v1",
          kind: "Route",
          metadata: { name: objectName, namespace, labels },
          spec: {
            ...(g.expose.host ? { host: g.expose.host } : {}),
            to: { kind: "Service", name: objectName, weight: 100 },
            port: { targetPort: "http" },
            tls: { termination: "edge", insecureEdgeTerminationPolicy: "Redirect" },
          },
        },
        opts,
      );
    } else {
      new k8s.apiextensions.CustomResource(
        `${name}-grafana-httproute`,
        {
          apiVersion: "gateway.networking.k8s.io/v1",
          kind: "HTTPRoute",
          metadata: { name: objectName, namespace, labels },
          spec: {
            parentRefs: [pulumi.output(args.gateway).apply((gw) => ({ name: gw.name, namespace: gw.namespace }))],
            hostnames: [g.expose.host!],
            rules: [{ backendRefs: [{ name: objectName, port: PORT }] }],
          },
        },
        opts,
      );
    }
  }

  return { adminSecretName: `${objectName}-admin`, adminPassword: pulumi.secret(password.result), url: rootUrl };
}

const sha256 = (s: string) => crypto.createHash("sha256").update(s).digest("hex");
