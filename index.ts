import * as pulumi from "@pulumi/pulumi";
import { loadStackConfig } from "./components/config";
import { Platform } from "./components/platform";
import { readPlatformOutputs } from "./components/contract";
import { TenantStack } from "./components/tenant/tenantStack";
import { kubernetesProvider } from "./components/provider";

/*
 * The program: validate the whole stack config first (a bad key fails before any resource is
 * declared), then build what the config asks for (docs/contract.md). Exported as a function so the
 * Pulumi runtime calls it and exports what it returns; the offline render (scripts/render) calls the
 * same function under mocks.
 */
export = function main(): Record<string, unknown> {
  const config = loadStackConfig();
  const outputs: Record<string, unknown> = {};
  // One explicit provider for every object (components/provider.ts says why it is not the default one).
  const opts = { providers: { kubernetes: kubernetesProvider() } };

  let platform: Platform | undefined;
  if (config.platform) {
    platform = new Platform("platform", { flavor: config.flavor, config: config.platform }, opts);
    Object.assign(outputs, platform.outputs());
  }

  const tenantStacks: TenantStack[] = [];
  for (const spec of config.tenants ?? []) {
    // Same stack: the platform's outputs as this tenant reads them, passed in directly (validated:
    // tenants need platform).
    tenantStacks.push(new TenantStack(`tenant-${spec.name}`, { spec, flavor: config.flavor, platform: platform!.outputsFor(spec.name) }, opts));
  }

  if (config.tenant && config.platformStack) {
    const ref = new pulumi.StackReference(config.platformStack);
    const tenant = new TenantStack(`tenant-${config.tenant.name}`, {
      spec: config.tenant,
      flavor: config.flavor,
      // Every output checked against the contract (components/contract.ts) as it resolves.
      platform: readPlatformOutputs(ref, config.platformStack),
    }, opts);
    Object.assign(outputs, tenant.outputs());
  }
  if (tenantStacks.length > 0) {
    // Plain facts per tenant, and the generated credentials as one secret output.
    outputs.tenants = Object.fromEntries(tenantStacks.map((t) => [t.tenantName, t.publicOutputs()]));
    outputs.tenantSecrets = pulumi.secret(Object.fromEntries(tenantStacks.map((t) => [t.tenantName, t.secretOutputs()])));
  }
  return outputs;
};
