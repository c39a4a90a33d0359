import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";

/** Where the program finds the cluster: the `kubernetes:` stack config keys the default provider would read. */
export interface ClusterSelection {
  /**
   * Kubeconfig contents or path (`kubernetes:kubeconfig`); unset: $KUBECONFIG, then ~/.kube/config.
   * Read as a secret: provider inputs are stored in the state, and a kubeconfig holds credentials.
   */
  readonly kubeconfig?: pulumi.Input<string>;
  /** Context in the kubeconfig (`kubernetes:context`). */
  readonly context?: string;
  /** Cluster in the kubeconfig (`kubernetes:cluster`). */
  readonly cluster?: string;
}

/**
 * Settings of the program's one Kubernetes provider.
 *
 * Why an explicit provider: the default pulumi-kubernetes provider treats ConfigMaps and Secrets as
 * immutable and REPLACES them when their data changes. Every ConfigMap and Secret of this program has
 * a fixed name (pods, RBAC and the tenant stacks refer to them by name), so the replacement's create
 * collides with the object it replaces: the first real-engine run failed a price change with
 * "Server-Side Apply field conflict ... .data.pricebook.yaml". Updated in place instead, the change is
 * one update, and the checksum annotations on the pod templates roll the pods that read it.
 * Pure, so the render tests check it without mocks.
 */
export function kubernetesProviderArgs(cluster: ClusterSelection): k8s.ProviderArgs {
  return {
    ...(cluster.kubeconfig !== undefined ? { kubeconfig: cluster.kubeconfig } : {}),
    ...(cluster.context !== undefined ? { context: cluster.context } : {}),
    ...(cluster.cluster !== undefined ? { cluster: cluster.cluster } : {}),
    enableServerSideApply: true,
    enableConfigMapMutable: true,
    enableSecretMutable: true,
  };
}

/** The cluster selection from the stack's `kubernetes:` config, as the default provider would read it. */
export function clusterSelectionFromConfig(config: pulumi.Config = new pulumi.Config("kubernetes")): ClusterSelection {
  return { kubeconfig: config.getSecret("kubeconfig"), context: config.get("context"), cluster: config.get("cluster") };
}

/** The program's Kubernetes provider; every component gets it through `providers`, children inherit it. */
export function kubernetesProvider(name = "kubernetes"): k8s.Provider {
  return new k8s.Provider(name, kubernetesProviderArgs(clusterSelectionFromConfig()));
}
