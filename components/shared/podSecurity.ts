import type * as k8s from "@pulumi/kubernetes";
import type { Flavor } from "../config";

/*
 * The security contexts of every pod this program runs, platform and tenant alike: one definition,
 * so PSA `restricted` (Kubernetes) and the `restricted-v2` SCC (OpenShift) hold for all of them.
 */

type PodSecurityContext = k8s.types.input.core.v1.PodSecurityContext;
type SecurityContext = k8s.types.input.core.v1.SecurityContext;

/**
 * Pod security context that satisfies PSA `restricted` on Kubernetes and the `restricted-v2` SCC on
 * OpenShift. On OpenShift the SCC assigns a UID from the namespace range, so none is set there;
 * setting one outside the range would make the pod unschedulable.
 */
export function podSecurityContext(flavor: Flavor, uid?: number): PodSecurityContext {
  const base: PodSecurityContext = { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } };
  if (flavor === "openshift" || uid === undefined) return base;
  return { ...base, runAsUser: uid, runAsGroup: uid, fsGroup: uid };
}

/** Container security context: no privilege escalation, every capability dropped, read-only root. */
export function containerSecurityContext(): SecurityContext {
  return {
    allowPrivilegeEscalation: false,
    capabilities: { drop: ["ALL"] },
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
    seccompProfile: { type: "RuntimeDefault" },
  };
}
