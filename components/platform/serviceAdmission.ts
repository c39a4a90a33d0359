import type * as pulumi from "@pulumi/pulumi";
import { createDenyingAdmissionPolicy, tenantMatchConstraints } from "./routeAdmission";

export const serviceAdmissionPolicyName = "maas-tenant-service-exposure";

/**
 * A tenant's Services stay inside the cluster (docs/threat-model.md B3S): type ClusterIP (the
 * default, or headless), no `externalIPs`. The tenant-admin Role manages `services` (the tenant
 * stack declares its Prometheus and Alertmanager Services, ClusterIP), and without this a tenant admin
 * could expose its model servers outside every Gateway: a `LoadBalancer` (on a cluster that
 * provisions them), a `NodePort` on every node, or `externalIPs` that kube-proxy answers on. Traffic
 * that way meets none of the platform's Gateway policies (API-key identity, quota, tiers, metering):
 * anonymous, unquota'd, unbilled use. `ExternalName` is refused too: it exposes nothing, but a
 * Gateway that forwards to an ExternalName backend resolves it to any DNS name the tenant picks
 * (another namespace's Service included), which the Gateway API warns makes cross-namespace
 * references without a ReferenceGrant (CVE-2021-25740); the tenant stack never needs one.
 * The policy binds every request in tenant namespaces, controllers' included: a controller that
 * makes a LoadBalancer or NodePort Service there is refused too.
 */
export function serviceExposurePolicySpec(): Record<string, unknown> {
  return {
    failurePolicy: "Fail",
    matchConstraints: tenantMatchConstraints([{ apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE", "UPDATE"], resources: ["services"] }]),
    validations: [
      {
        // No type is ClusterIP (the API server's default is applied before admission; the check does not rely on it).
        expression: "!has(object.spec.type) || object.spec.type == 'ClusterIP'",
        messageExpression:
          "'a tenant Service must be of type ClusterIP, not ' + object.spec.type + ': models are served through the shared Gateway only, where the platform\\'s API-key, quota and metering policies apply (docs/threat-model.md B3S)'",
        reason: "Forbidden",
      },
      {
        expression: "!has(object.spec.externalIPs) || size(object.spec.externalIPs) == 0",
        messageExpression:
          "'a tenant Service may not carry spec.externalIPs (' + object.spec.externalIPs.join(', ') + '): models are served through the shared Gateway only (docs/threat-model.md B3S)'",
        reason: "Forbidden",
      },
    ],
  };
}

/** The policy and its binding (Deny) for every tenant namespace. */
export function createServiceAdmission(name: string, parent: pulumi.Resource): void {
  createDenyingAdmissionPolicy(name, "service-admission", serviceAdmissionPolicyName, serviceExposurePolicySpec(), parent);
}
