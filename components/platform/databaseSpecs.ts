import type * as k8s from "@pulumi/kubernetes";
import type { Flavor } from "../config";
import { DATABASE_RESERVED_CONNECTIONS } from "../config/databaseConnections";
import type { PlatformConfig } from "../config/platform";
import { containerSecurityContext, podSecurityContext } from "../shared/podSecurity";
import { appLabels } from "./security";

/*
 * The billing database's Kubernetes objects as plain specs (BillingDatabase in database.ts declares
 * them; tests call these without Pulumi mocks).
 */

/** Name of the database objects (StatefulSet, Service, Secret of the owner role). */
export const databaseName = "maas-billing-db";
/** Secret with the app role's credentials: the only database Secret the billing service container reads. */
export const databaseAppSecretName = "maas-billing-db-app";
export const databasePort = 5432;
/** Labels of every database object. */
export const databaseLabels = appLabels(databaseName, "database");
/** Pod labels the Service and NetworkPolicy select. */
export const databaseSelector = { "app.kubernetes.io/name": databaseName, "app.kubernetes.io/component": "database" };

/** Headless Service: a stable DNS name for the one pod. */
export const databaseServiceSpec: k8s.types.input.core.v1.ServiceSpec = {
  clusterIP: "None",
  selector: databaseSelector,
  ports: [{ name: "postgres", port: databasePort, targetPort: "postgres" }],
};

/**
 * The server's command line: the image's entrypoint (docker-entrypoint.sh of the official PostgreSQL
 * and TimescaleDB images) runs `postgres` with these settings, which override postgresql.conf
 * (including what the TimescaleDB image's timescaledb-tune writes there at initdb). The connection
 * figures are the ones the config's check counted the billing pods' pools against.
 */
export function databaseServerArgs(db: PlatformConfig["database"]): string[] {
  return ["postgres", "-c", `max_connections=${db.maxConnections}`, "-c", `superuser_reserved_connections=${DATABASE_RESERVED_CONNECTIONS}`];
}

/** The StatefulSet's spec: one PostgreSQL pod with its own volume; credentials from Secret `maas-billing-db`. */
export function databaseStatefulSetSpec(flavor: Flavor, db: PlatformConfig["database"]): k8s.types.input.apps.v1.StatefulSetSpec {
  const secretRef = (key: string) => ({ valueFrom: { secretKeyRef: { name: databaseName, key } } });
  return {
    serviceName: databaseName,
    replicas: 1,
    selector: { matchLabels: databaseSelector },
    template: {
      metadata: { labels: { ...databaseLabels, ...databaseSelector } },
      spec: {
        automountServiceAccountToken: false,
        securityContext: podSecurityContext(flavor, db.runAsUser),
        containers: [
          {
            name: "postgres",
            image: db.image,
            args: databaseServerArgs(db),
            ports: [{ name: "postgres", containerPort: databasePort }],
            env: [
              { name: "POSTGRES_USER", ...secretRef("username") },
              { name: "POSTGRES_DB", ...secretRef("database") },
              { name: "POSTGRES_PASSWORD", ...secretRef("password") },
              // A subdirectory: the volume root may hold lost+found, which initdb refuses.
              { name: "PGDATA", value: "/var/lib/postgresql/data/pgdata" },
            ],
            readinessProbe: { exec: { command: ["pg_isready", "-U", db.user, "-d", db.databaseName] }, periodSeconds: 10 },
            livenessProbe: { exec: { command: ["pg_isready", "-U", db.user] }, initialDelaySeconds: 30, periodSeconds: 20 },
            resources: db.resources,
            securityContext: containerSecurityContext(),
            volumeMounts: [
              { name: "data", mountPath: "/var/lib/postgresql/data" },
              { name: "run", mountPath: "/var/run/postgresql" },
              { name: "tmp", mountPath: "/tmp" },
            ],
          },
        ],
        volumes: [
          { name: "run", emptyDir: {} },
          { name: "tmp", emptyDir: {} },
        ],
      },
    },
    volumeClaimTemplates: [
      {
        metadata: { name: "data" },
        spec: {
          accessModes: ["ReadWriteOnce"],
          ...(db.storageClassName ? { storageClassName: db.storageClassName } : {}),
          resources: { requests: { storage: db.storageSize } },
        },
      },
    ],
  };
}

/** Ingress to the database only from the given pods (the billing service), only on the PostgreSQL port. */
export function databaseNetworkPolicySpec(clientPodLabels: Record<string, string>): k8s.types.input.networking.v1.NetworkPolicySpec {
  return {
    podSelector: { matchLabels: databaseSelector },
    policyTypes: ["Ingress"],
    ingress: [{ from: [{ podSelector: { matchLabels: clientPodLabels } }], ports: [{ protocol: "TCP", port: databasePort }] }],
  };
}
