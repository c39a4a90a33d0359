import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { receiverSecrets, renderAlertmanagerConfig, secretMountPath } from "../alerting/alertmanagerConfig";
import type { Flavor } from "../config";
import type { AlertmanagerSettings } from "../config/alerting";
import { sha256Hex } from "../shared/checksum";
import { containerSecurityContext, podSecurityContext } from "../shared/podSecurity";

/** UID of the `nobody` user the upstream Alertmanager image runs as. */
const ALERTMANAGER_UID = 65534;
const PORT = 9093;

export interface TenantAlertmanagerArgs {
  /** Tenant name: only alerts labelled `tenant=<name>` (the tenant Prometheus' external label) are delivered. */
  readonly tenant: string;
  /** The tenant's validated `alerting` config. */
  readonly settings: AlertmanagerSettings;
  /** Cluster flavor (decides whether fixed UIDs are set). */
  readonly flavor: Flavor;
  /** The tenant's monitoring namespace (where its Prometheus runs). */
  readonly namespace: string;
  /** Labels of the tenant Prometheus pods: the only clients allowed to post alerts. */
  readonly prometheusPodLabels: Record<string, string>;
}

/**
 * The tenant's own Alertmanager: the tenant Prometheus sends its alerts here (its `alerting:` block)
 * and the receivers are the tenant's. Tenant-scoped by construction: it runs in the tenant's
 * namespace, only the tenant Prometheus may reach it, and it delivers only `tenant=<name>` alerts.
 */
export function createTenantAlertmanager(name: string, args: TenantAlertmanagerArgs, parent: pulumi.Resource): { url: string } {
  const { tenant, settings, namespace } = args;
  const objectName = `${tenant}-alertmanager`;
  const labels = {
    "app.kubernetes.io/name": "alertmanager",
    "app.kubernetes.io/instance": tenant,
    "app.kubernetes.io/part-of": "maas-billing",
    "maas-billing.io/tenant": tenant,
  };
  const opts = { parent };
  const configYaml = renderAlertmanagerConfig({ receivers: settings.receivers, requireLabels: { tenant } });
  // A Secret, not a ConfigMap: receiver addresses are the tenant's business.
  const config = new k8s.core.v1.Secret(
    `${name}-alertmanager-config`,
    { metadata: { name: `${objectName}-config`, namespace, labels }, stringData: { "alertmanager.yml": configYaml } },
    opts,
  );
  const secretVolumes = [...receiverSecrets(settings.receivers)].map(([secret, keys], i) => ({
    volume: { name: `receiver-secret-${i}`, secret: { secretName: secret, items: [...keys].map((key) => ({ key, path: key })) } },
    mount: { name: `receiver-secret-${i}`, mountPath: secretMountPath({ name: secret, key: "x" }).replace(/\/x$/, ""), readOnly: true },
  }));
  new k8s.apps.v1.Deployment(
    `${name}-alertmanager`,
    {
      metadata: { name: objectName, namespace, labels },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels, annotations: { "maas-billing.io/config-sha256": sha256Hex(configYaml) } },
          spec: {
            automountServiceAccountToken: false,
            securityContext: podSecurityContext(args.flavor, ALERTMANAGER_UID),
            containers: [
              {
                name: "alertmanager",
                image: settings.image,
                args: [
                  "--config.file=/etc/alertmanager/config/alertmanager.yml",
                  "--storage.path=/alertmanager",
                  `--web.listen-address=:${PORT}`,
                  "--cluster.listen-address=", // one replica: no gossip port
                ],
                ports: [{ name: "http", containerPort: PORT }],
                readinessProbe: { httpGet: { path: "/-/ready", port: "http" }, periodSeconds: 10 },
                livenessProbe: { httpGet: { path: "/-/healthy", port: "http" }, periodSeconds: 30, failureThreshold: 6 },
                resources: settings.resources,
                securityContext: containerSecurityContext(),
                volumeMounts: [
                  { name: "config", mountPath: "/etc/alertmanager/config", readOnly: true },
                  { name: "data", mountPath: "/alertmanager" },
                  ...secretVolumes.map((s) => s.mount),
                ],
              },
            ],
            volumes: [{ name: "config", secret: { secretName: config.metadata.name } }, { name: "data", emptyDir: {} }, ...secretVolumes.map((s) => s.volume)],
          },
        },
      },
    },
    opts,
  );
  new k8s.core.v1.Service(
    `${name}-alertmanager-svc`,
    { metadata: { name: objectName, namespace, labels }, spec: { selector: labels, ports: [{ name: "http", port: PORT, targetPort: "http" }] } },
    opts,
  );
  new k8s.networking.v1.NetworkPolicy(
    `${name}-alertmanager-netpol`,
    {
      metadata: { name: objectName, namespace, labels },
      spec: {
        podSelector: { matchLabels: labels },
        policyTypes: ["Ingress"],
        ingress: [{ from: [{ podSelector: { matchLabels: args.prometheusPodLabels } }], ports: [{ port: PORT }] }],
      },
    },
    opts,
  );
  return { url: `http://${objectName}.${namespace}.svc:${PORT}` };
}
