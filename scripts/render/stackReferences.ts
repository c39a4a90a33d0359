import * as fs from "node:fs";
import * as path from "node:path";
import { readStackConfigFile } from "./configFile";
import { render } from "./index";

/*
 * Outputs for the StackReference of a tenant-only stack (`maas-billing:platformStack`) in an offline
 * render, where no Pulumi backend can be asked. In order: an explicit JSON file of the platform's
 * outputs; the render of the repository's example platform stack of the same name
 * (`acme/maas-billing/platform-openshift` -> Pulumi.platform-openshift.yaml); the test fixture.
 */

/** The platform outputs fixture (docs/contract.md shape) used when nothing better is known. */
export const PLATFORM_OUTPUTS_FIXTURE = path.resolve(__dirname, "..", "..", "test", "fixtures", "platform-outputs.json");

export interface ResolvedStackReference {
  /** `{ [platformStack]: outputs }`, as `render({ stackReferenceOutputs })` takes it. */
  outputs: Record<string, Record<string, unknown>>;
  /** Where the outputs came from, for the summary line. */
  source: string;
}

export async function resolvePlatformOutputs(
  config: Record<string, unknown>,
  options: { platformOutputsFile?: string; repoRoot: string },
): Promise<ResolvedStackReference | undefined> {
  const platformStack = config["maas-billing:platformStack"];
  if (typeof platformStack !== "string") return undefined;
  const readJson = (file: string) => JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
  if (options.platformOutputsFile) {
    return { outputs: { [platformStack]: readJson(options.platformOutputsFile) }, source: options.platformOutputsFile };
  }
  const example = path.join(options.repoRoot, `Pulumi.${platformStack.split("/").pop()}.yaml`);
  if (fs.existsSync(example)) {
    const { config: platformConfig, secretKeys } = readStackConfigFile(example);
    const platform = await render({ stack: path.basename(example).slice("Pulumi.".length, -".yaml".length), config: platformConfig, secretKeys });
    return { outputs: { [platformStack]: platform.outputs }, source: `render of ${path.relative(options.repoRoot, example)}` };
  }
  return {
    outputs: { [platformStack]: readJson(PLATFORM_OUTPUTS_FIXTURE) },
    source: path.relative(options.repoRoot, PLATFORM_OUTPUTS_FIXTURE),
  };
}
