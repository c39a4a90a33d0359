/*
 * Offline render: runs the real Pulumi program under the mock runtime (no CLI, no cluster) and writes
 * every Kubernetes object it would send as YAML, one file per object, secrets redacted.
 *
 *   npm run synth -- --stack <name> [--config <Pulumi.<stack>.yaml format file>] [--out <dir>]
 *                    [--platform-outputs <json file>]   (tenant-only stacks: outputs of the platform stack)
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { ConfigError } from "../components/config";
import { formatSummary, readStackConfigFile, render, writeRender } from "./render";
import { resolvePlatformOutputs } from "./render/stackReferences";
import { runMain } from "./lib/run-main";

const repoRoot = path.resolve(__dirname, "..");

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { stack: { type: "string" }, config: { type: "string" }, out: { type: "string", default: "out" }, "platform-outputs": { type: "string" } },
    strict: true,
  });
  if (!values.stack) {
    console.error("usage: npm run synth -- --stack <name> [--config <file>] [--out <dir>]");
    return 2;
  }
  const configPath = values.config ?? path.join(repoRoot, `Pulumi.${values.stack}.yaml`);
  if (!fs.existsSync(configPath)) {
    console.error(`synth: no config file ${configPath} (add Pulumi.${values.stack}.yaml or pass --config)`);
    return 2;
  }
  const { config, secretKeys } = readStackConfigFile(configPath);
  try {
    // A tenant-only stack reads its platform through a StackReference; offline, its outputs come from a file or an example render.
    const ref = await resolvePlatformOutputs(config, { platformOutputsFile: values["platform-outputs"], repoRoot });
    if (ref) console.log(`platform outputs for ${Object.keys(ref.outputs)[0]}: ${ref.source}`);
    const result = await render({ stack: values.stack, config, secretKeys, stackReferenceOutputs: ref?.outputs });
    const { dir } = writeRender(result, path.resolve(values.out!));
    console.log(formatSummary(result, path.relative(process.cwd(), dir) || "."));
    return 0;
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      return 1;
    }
    throw err;
  }
}

runMain(main);
