import type * as k8s from "@pulumi/kubernetes";
import type { Flavor } from "../config";

type PodSecurityContext = k8s.types.input.core.v1.PodSecurityContext;
type SecurityContext = k8s.types.input.core.v1.SecurityContext;

/** Common labels of every object this program creates. */
export function appLabels(name: string, component: string): Record<string, string> {
  return {
    "app.kubernetes.io/name": name,
    "app.kubernetes.io/component": component,
    "app.kubernetes.io/part-of": "maas-billing",
    "app.kubernetes.io/managed-by": "pulumi",
  };
}

/** Pod Security Admission labels: `restricted` enforced, audited and warned. */
export function restrictedNamespaceLabels(): Record<string, string> {
  return {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/audit": "restricted",
    "pod-security.kubernetes.io/warn": "restricted",
  };
}

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
