import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { stringify } from "yaml";
import { dashboardProviderConfig } from "../../dashboards";
import type { Flavor } from "../config";
import type { GrafanaSettings } from "../config/common";
import type { GatewayRef } from "../contract";
import { sha256Hex } from "./checksum";
import { exposeService } from "./exposure";
import { containerSecurityContext } from "./podSecurity";
import { workloadDeploymentSpec } from "./workload";

/*
 * One Grafana, provisioned entirely from files: used by the tenant Grafana (components/tenant/grafana.ts)
 * and the platform Grafana (components/platform/grafana.ts), which differ only in datasources,
 * dashboards, names and whether the pod needs its service account token. An exposed Grafana on
 * kubernetes needs a host: the config schema (components/config/index.ts) requires it.
 */

/** UID of the `grafana` user in the upstream image. */
const GRAFANA_UID = 472;
export const GRAFANA_PORT = 3000;
/** Where the dashboards ConfigMap is mounted. */
const DASHBOARDS_PATH = "/etc/grafana/dashboards";

/** Grafana dashboard provider file: dashboards from the mounted ConfigMap, not editable in the UI. */
export function renderDashboardProvider(folder = "MaaS"): string {
  return stringify(dashboardProviderConfig(folder, DASHBOARDS_PATH));
}

export interface GrafanaArgs {
  /** Cluster flavor: Route on openshift, HTTPRoute on kubernetes; decides the pod's UID. */
  readonly flavor: Flavor;
  /** Namespace Grafana runs in; must exist. */
  readonly namespace: pulumi.Input<string>;
  /** Name of every object (Deployment, Service, Route), `<objectName>-admin` etc. for the rest. */
  readonly objectName: string;
  /** Labels of every object; also the Deployment/Service selector. */
  readonly labels: Record<string, string>;
  /** Extra labels on the pods only (e.g. what a NetworkPolicy admits). */
  readonly podLabels?: Record<string, string>;
  /** Image, resources and exposure from config. */
  readonly settings: GrafanaSettings;
  /** The datasource provisioning file (`apiVersion: 1`, `datasources[]`). */
  readonly datasourcesYaml: string;
  /** Dashboards to provision: file name -> dashboard JSON text. */
  readonly dashboards: pulumi.Input<Record<string, string>>;
  /** Grafana folder of the provisioned dashboards. */
  readonly dashboardFolder: string;
  /** Gateway the HTTPRoute attaches to (kubernetes flavor, when exposed). */
  readonly gateway: pulumi.Input<GatewayRef>;
  /** Listener of that Gateway the HTTPRoute attaches to (`parentRefs[].sectionName`); every listener that admits it when omitted. */
  readonly sectionName?: string;
  /**
   * ServiceAccount the pod runs as; none when omitted. Its token is never automounted (Grafana, which
   * runs plugins and an admin UI, holds no credential): a sidecar that needs one mounts a projected token.
   */
  readonly serviceAccountName?: pulumi.Input<string>;
  /** Containers next to Grafana in the pod (e.g. the upstream-auth sidecar the datasource goes through). */
  readonly sidecars?: k8s.types.input.core.v1.Container[];
  /** Volumes the sidecars mount. */
  readonly sidecarVolumes?: k8s.types.input.core.v1.Volume[];
  /** Pod annotations, e.g. a hash of a sidecar's config so a change rolls the pod. */
  readonly podAnnotations?: Record<string, pulumi.Input<string>>;
}

export interface Grafana {
  /** Name of the Secret holding `admin-user` and `admin-password`. */
  adminSecretName: string;
  /** Generated admin password (secret output). */
  adminPassword: pulumi.Output<string>;
  /** External URL when exposed with a known host. */
  url?: string;
}

/**
 * Grafana with a generated admin password in a Secret (never a default), anonymous access and
 * sign-up off, provisioned datasources and dashboards, a Deployment that rolls when provisioning
 * changes, a Service and, when asked, a Route (openshift) or HTTPRoute (kubernetes). Children are
 * named `${name}-grafana-<role>`.
 */
export function createGrafana(name: string, args: GrafanaArgs, parent: pulumi.Resource): Grafana {
  const { namespace, objectName, labels, settings: g } = args;
  const podLabels = { ...labels, ...(args.podLabels ?? {}) };
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

  const dashboardProvider = renderDashboardProvider(args.dashboardFolder);
  const provisioning = new k8s.core.v1.ConfigMap(
    `${name}-grafana-provisioning`,
    {
      metadata: { name: `${objectName}-provisioning`, namespace, labels },
      data: { "datasources.yaml": args.datasourcesYaml, "dashboards.yaml": dashboardProvider },
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
    .apply((files) => sha256Hex(JSON.stringify([args.datasourcesYaml, dashboardProvider, Object.entries(files).sort()])));

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
      spec: workloadDeploymentSpec({
        flavor: args.flavor,
        uid: GRAFANA_UID,
        replicas: 1,
        selector: labels,
        podLabels,
        // Grafana reads provisioning only at start (and subPath mounts never update): roll on change.
        rollOn: { "maas-billing.io/provisioning-sha256": provisioningHash, ...(args.podAnnotations ?? {}) },
        ...(args.serviceAccountName !== undefined ? { serviceAccountName: args.serviceAccountName } : {}),
        containers: [
          {
            name: "grafana",
            image: g.image,
            env,
            ports: [{ name: "http", containerPort: GRAFANA_PORT }],
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
          ...(args.sidecars ?? []),
        ],
        // Everything Grafana needs is provisioned, so its database can be thrown away with the pod.
        volumes: [
          { name: "data", emptyDir: {} },
          { name: "tmp", emptyDir: {} },
          { name: "provisioning", configMap: { name: provisioning.metadata.name } },
          { name: "dashboards", configMap: { name: dashboards.metadata.name } },
          ...(args.sidecarVolumes ?? []),
        ],
      }),
    },
    opts,
  );

  new k8s.core.v1.Service(
    `${name}-grafana-svc`,
    {
      metadata: { name: objectName, namespace, labels },
      spec: { selector: labels, ports: [{ name: "http", port: GRAFANA_PORT, targetPort: "http" }] },
    },
    opts,
  );

  if (g.expose.enabled) {
    exposeService(
      `${name}-grafana`,
      args.flavor,
      { name: objectName, namespace, labels, serviceName: objectName, port: GRAFANA_PORT, host: g.expose.host, gateway: args.gateway, ...(args.sectionName ? { sectionName: args.sectionName } : {}) },
      opts,
    );
  }

  return { adminSecretName: `${objectName}-admin`, adminPassword: pulumi.secret(password.result), url: rootUrl };
}
