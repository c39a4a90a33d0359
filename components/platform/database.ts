import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import type { Flavor } from "../config";
import type { PlatformConfig } from "../config/platform";
import {
  databaseAppSecretName,
  databaseLabels,
  databaseName,
  databaseNetworkPolicySpec,
  databasePort,
  databaseServiceSpec,
  databaseStatefulSetSpec,
} from "./databaseSpecs";

export interface BillingDatabaseArgs {
  /** Cluster flavor; decides whether a UID is set (kubernetes) or left to the SCC (openshift). */
  readonly flavor: Flavor;
  /** Namespace to deploy into; must already exist (the billing namespace). */
  readonly namespace: pulumi.Input<string>;
  /** The validated `platform.database` config (image, storage, names, resources). */
  readonly database: PlatformConfig["database"];
  /** Labels of the only pods allowed to connect (the billing service). */
  readonly clientPodLabels: Record<string, string>;
}

export { databaseAppSecretName, databaseName } from "./databaseSpecs";

/**
 * PostgreSQL (TimescaleDB by default) for the billing service: a protected StatefulSet with its own
 * volume, generated passwords in Secrets, a headless Service and a NetworkPolicy that admits only the
 * billing service (specs in databaseSpecs.ts). Two roles (docs/threat-model.md B4): the owner (the
 * image's bootstrap user, Secret `maas-billing-db`) owns the schema and runs the migrations in the
 * billing pods' init container, which also creates the app role (Secret `maas-billing-db-app`) the
 * service itself connects as.
 */
export class BillingDatabase extends pulumi.ComponentResource {
  /** Host name of the database inside the cluster. */
  public readonly host: pulumi.Output<string>;
  /** Name of the owner's Secret: `username`, `password`, `database` and `url` (a libpq URL). */
  public readonly secretName: pulumi.Output<string>;
  /** Name of the app role's Secret, same keys. */
  public readonly appSecretName: pulumi.Output<string>;
  /** The StatefulSet; protected, because replacing it (e.g. a volume size change) would lose data. */
  public readonly statefulSet: k8s.apps.v1.StatefulSet;

  constructor(name: string, args: BillingDatabaseArgs, opts?: pulumi.ComponentResourceOptions) {
    super("maas:platform:BillingDatabase", name, {}, opts);
    const db = args.database;
    const labels = databaseLabels;

    // Alphanumeric only: the password goes into a libpq URL unescaped.
    const password = new random.RandomPassword(`${name}-password`, { length: 32, special: false }, { parent: this });
    const appPassword = new random.RandomPassword(`${name}-app-password`, { length: 32, special: false, keepers: { rotation: String(db.appPasswordRotation) } }, { parent: this });
    const host = pulumi.interpolate`${databaseName}.${args.namespace}.svc`;
    const secret = new k8s.core.v1.Secret(
      `${name}-secret`,
      {
        metadata: { name: databaseName, namespace: args.namespace, labels },
        type: "Opaque",
        stringData: {
          username: db.user,
          database: db.databaseName,
          password: password.result,
          url: pulumi.interpolate`postgres://${db.user}:${password.result}@${host}:${databasePort}/${db.databaseName}`,
        },
      },
      { parent: this },
    );

    const appSecret = new k8s.core.v1.Secret(
      `${name}-app-secret`,
      {
        metadata: { name: databaseAppSecretName, namespace: args.namespace, labels },
        type: "Opaque",
        stringData: {
          username: db.appUser,
          database: db.databaseName,
          password: appPassword.result,
          url: pulumi.interpolate`postgres://${db.appUser}:${appPassword.result}@${host}:${databasePort}/${db.databaseName}`,
        },
      },
      { parent: this },
    );

    const service = new k8s.core.v1.Service(
      `${name}-service`,
      {
        metadata: { name: databaseName, namespace: args.namespace, labels },
        spec: databaseServiceSpec,
      },
      { parent: this },
    );

    this.statefulSet = new k8s.apps.v1.StatefulSet(
      `${name}-statefulset`,
      { metadata: { name: databaseName, namespace: args.namespace, labels }, spec: databaseStatefulSetSpec(args.flavor, db) },
      { parent: this, protect: true, dependsOn: [secret, service] },
    );

    new k8s.networking.v1.NetworkPolicy(
      `${name}-network-policy`,
      { metadata: { name: databaseName, namespace: args.namespace, labels }, spec: databaseNetworkPolicySpec(args.clientPodLabels) },
      { parent: this },
    );

    this.host = host;
    this.secretName = secret.metadata.name;
    this.appSecretName = appSecret.metadata.name;
    this.registerOutputs({ host: this.host, secretName: this.secretName, appSecretName: this.appSecretName });
  }
}
