/*
 * Labels of the objects the platform creates and of the namespaces it enforces PSA on. The pod and
 * container security contexts, which tenant code uses too, are in components/shared/podSecurity.ts.
 */

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
