import * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import { appLabels, restrictedNamespaceLabels } from "./security";

/** A namespace with Pod Security `restricted` labels, owned by `parent`. */
export function createRestrictedNamespace(
  name: string,
  namespaceName: string,
  component: string,
  parent: pulumi.Resource,
  extraLabels: Record<string, string> = {},
  retainOnDelete = false,
): k8s.core.v1.Namespace {
  return new k8s.core.v1.Namespace(
    name,
    {
      metadata: {
        name: namespaceName,
        labels: { ...appLabels(namespaceName, component), ...restrictedNamespaceLabels(), ...extraLabels },
      },
    },
    { parent, retainOnDelete },
  );
}
