import * as k8s from "@pulumi/kubernetes";

/*
 * Security contexts for tenant workloads, meeting Pod Security "restricted" and the repository's
 * invariants. On OpenShift the restricted-v2 SCC assigns the UID/GID from the namespace's range and
 * refuses fixed ones, so runAsUser/fsGroup are set on plain Kubernetes only.
 */

export type Flavor = "openshift" | "kubernetes";

/** Pod-level context: non-root, RuntimeDefault seccomp, and (kubernetes only) the image's own UID. */
export function podSecurityContext(flavor: Flavor, uid: number): k8s.types.input.core.v1.PodSecurityContext {
  const fixedIds = flavor === "kubernetes" ? { runAsUser: uid, runAsGroup: uid, fsGroup: uid } : {};
  return { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" }, ...fixedIds };
}

/** Container-level context: no privilege escalation, no capabilities, read-only root filesystem. */
export function containerSecurityContext(): k8s.types.input.core.v1.SecurityContext {
  return {
    runAsNonRoot: true,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ["ALL"] },
    seccompProfile: { type: "RuntimeDefault" },
  };
}
