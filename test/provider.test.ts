// The program's one Kubernetes provider (components/provider.ts): every object goes through it, and it
// updates ConfigMaps and Secrets in place. The first real-engine run showed why: with the default
// provider a price change replaced the fixed-name price-book ConfigMap and the replacement's create
// collided with the original ("Server-Side Apply field conflict").
import { describe, expect, it } from "vitest";
import { kubernetesProviderArgs } from "../components/provider";
import { render } from "../scripts/render";
import { exampleStacks, renderExample, testImage, UNDIGESTED_DEFAULTS_OPT_IN } from "./support/stacks";

describe("the program's Kubernetes provider", () => {
  it("updates ConfigMaps and Secrets in place and applies server-side", () => {
    expect(kubernetesProviderArgs({})).toEqual({ enableServerSideApply: true, enableConfigMapMutable: true, enableSecretMutable: true });
  });

  it("passes on the cluster selection the default provider would have read from `kubernetes:` config", () => {
    expect(kubernetesProviderArgs({ kubeconfig: "/k", context: "ctx", cluster: "c1" })).toMatchObject({ kubeconfig: "/k", context: "ctx", cluster: "c1" });
  });

  // The checker can fail: an object created outside a component's parent chain, or a component
  // declared without the program's `opts`, would get the default provider (provider "").
  it.each(exampleStacks())("%s: every Kubernetes object uses the program's provider, none the default one", async (stack) => {
    const result = await renderExample(stack);
    const providers = result.resources.filter((r) => r.type === "pulumi:providers:kubernetes");
    expect(providers.map((p) => p.name)).toEqual(["kubernetes"]);
    expect(providers[0].inputs).toMatchObject({ enableConfigMapMutable: "true", enableSecretMutable: "true" });
    const kube = result.resources.filter((r) => r.custom && r.type.startsWith("kubernetes:"));
    expect(kube.length).toBeGreaterThan(0);
    const strays = kube.filter((r) => !/::pulumi:providers:kubernetes::kubernetes::/.test(r.provider ?? "")).map((r) => `${r.type} ${r.name} (${r.provider || "default"})`);
    expect(strays).toEqual([]);
  });

  // Provider inputs are kept in the state: a kubeconfig given as stack config (credentials) must be a
  // secret there even when the user forgot `--secret`.
  it("keeps a kubeconfig from `kubernetes:kubeconfig` secret in the provider's inputs", async () => {
    const result = await render({
      stack: "unit-kubeconfig",
      config: {
        "maas-billing:flavor": "kubernetes",
        "maas-billing:allowImageTags": UNDIGESTED_DEFAULTS_OPT_IN,
        "maas-billing:platform": { billing: { image: testImage } },
        "kubernetes:kubeconfig": "apiVersion: v1\nusers: [{name: u, user: {token: s3cr3t}}]",
      },
    });
    const provider = result.resources.find((r) => r.type === "pulumi:providers:kubernetes");
    expect(provider?.secretInputPaths).toContain("kubeconfig");
  });
});
