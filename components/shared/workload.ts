import type * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import type { Flavor } from "../config";
import { podSecurityContext } from "./podSecurity";

/*
 * The Deployment spec of the program's own long-running pods (both Grafanas, the access-log
 * Collector): the restricted pod security context of the flavor, no automounted service account
 * token (a container that needs one mounts a projected, expiring token of its own), and pod
 * annotations holding checksums of what the pod reads only at start, so that a change rolls it.
 * A pure function: tests call it without Pulumi mocks.
 */

export interface WorkloadSpecArgs {
  readonly flavor: Flavor;
  /** UID to run as on Kubernetes (the image's user); OpenShift assigns one from the namespace range. */
  readonly uid?: number;
  readonly replicas: pulumi.Input<number>;
  /** Labels the Deployment selects its pods by (a subset of `podLabels`). */
  readonly selector: pulumi.Input<Record<string, pulumi.Input<string>>>;
  readonly podLabels: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** Pod annotations: checksums of the files the pod reads only at start (a change rolls the pods). */
  readonly rollOn: Record<string, pulumi.Input<string>>;
  /** Service account the pod runs as (its token is never automounted); the namespace's default when omitted. */
  readonly serviceAccountName?: pulumi.Input<string>;
  readonly containers: k8s.types.input.core.v1.Container[];
  readonly volumes: k8s.types.input.core.v1.Volume[];
}

export const workloadDeploymentSpec = (a: WorkloadSpecArgs): k8s.types.input.apps.v1.DeploymentSpec => ({
  replicas: a.replicas,
  selector: { matchLabels: a.selector },
  template: {
    metadata: { labels: a.podLabels, annotations: a.rollOn },
    spec: {
      ...(a.serviceAccountName !== undefined ? { serviceAccountName: a.serviceAccountName } : {}),
      automountServiceAccountToken: false,
      securityContext: podSecurityContext(a.flavor, a.uid),
      containers: a.containers,
      volumes: a.volumes,
    },
  },
});
