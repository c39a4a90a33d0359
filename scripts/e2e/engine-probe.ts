/*
 * `npm run e2e:engine`: how far the real Pulumi engine gets on this machine (stretch of docs/e2e.md).
 *
 * Uses the CLI built by `tools/build.sh pulumi` through the Automation API with inline programs, so
 * no pulumi-language-nodejs binary is needed (the Node SDK serves the language runtime in-process).
 *  1. a resource-free inline program: `up`, `preview --diff`, `destroy` against a local file backend;
 *  2. the real program with the dev stack config: `preview`, which needs the kubernetes and random
 *     resource providers. Those cannot be built from the module proxy, so this step is expected to
 *     stop at plugin loading; the probe prints the engine's own message and exits 2 ("blocked").
 * Exit codes: 0 everything ran, 1 a failure, 2 step 1 passed and step 2 is blocked on providers.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { LocalWorkspace, type ConfigMap } from "@pulumi/pulumi/automation";
import { parse } from "yaml";

const repoRoot = resolve(__dirname, "..", "..");
const binDir = join(repoRoot, "tools", "bin");

function workspaceOptions(workDir: string) {
  mkdirSync(join(workDir, "state"), { recursive: true });
  return {
    pulumiHome: join(workDir, "home"),
    envVars: {
      PULUMI_BACKEND_URL: `file://${join(workDir, "state")}`,
      // Throw-away local state: the passphrase only encrypts this run's stack config.
      PULUMI_CONFIG_PASSPHRASE: "e2e-throwaway",
      PULUMI_SKIP_UPDATE_CHECK: "true",
      PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    },
  };
}

/** Stack config of a committed Pulumi.<stack>.yaml, as Automation API config (objects as JSON). */
function stackConfig(stack: string): ConfigMap {
  const raw = parse(readFileSync(join(repoRoot, `Pulumi.${stack}.yaml`), "utf8")) as { config: Record<string, unknown> };
  return Object.fromEntries(
    Object.entries(raw.config).map(([key, value]) => [key, { value: typeof value === "string" ? value : JSON.stringify(value) }]),
  );
}

async function engineWithoutProviders(workDir: string): Promise<void> {
  const stack = await LocalWorkspace.createOrSelectStack(
    { stackName: "probe", projectName: "maas-engine-probe", program: async () => ({ greeting: pulumi.output("hello") }) },
    workspaceOptions(workDir),
  );
  const up = await stack.up();
  console.log(`PASS engine up: ${JSON.stringify(up.summary.resourceChanges)} outputs ${JSON.stringify(up.outputs.greeting?.value)}`);
  const preview = await stack.preview({ diff: true });
  console.log(`PASS engine preview --diff after up: ${JSON.stringify(preview.changeSummary)}`);
  const destroy = await stack.destroy();
  console.log(`PASS engine destroy: ${JSON.stringify(destroy.summary.resourceChanges)}`);
}

async function realProgramPreview(workDir: string): Promise<"ran" | "blocked"> {
  const stack = await LocalWorkspace.createOrSelectStack(
    {
      stackName: "dev",
      projectName: "maas-billing",
      // The project's own program (index.ts exports the function the runtime calls).
      program: async () => (require(join(repoRoot, "index.ts")) as () => Record<string, unknown>)(),
    },
    workspaceOptions(workDir),
  );
  await stack.setAllConfig(stackConfig("dev"));
  try {
    const preview = await stack.preview();
    console.log(`PASS real program preview (dev): ${JSON.stringify(preview.changeSummary)}`);
    return "ran";
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const pluginLines = [...new Set(message.split("\n").map((l) => l.trim()).filter((l) => /^error: .*plugin/i.test(l)))];
    if (pluginLines.length === 0) throw err;
    console.log("BLOCKED real program preview (dev): the engine cannot load the resource providers:");
    for (const line of pluginLines) console.log(`     ${line}`);
    return "blocked";
  }
}

async function main(): Promise<number> {
  if (!existsSync(join(binDir, "pulumi"))) {
    console.error("e2e:engine: tools/bin/pulumi is missing: run tools/build.sh pulumi first");
    return 1;
  }
  // The Automation API runs the `pulumi` found on this process's PATH.
  process.env.PATH = `${binDir}:${process.env.PATH}`;
  const workDir = mkdtempSync(join(tmpdir(), "maas-engine-"));
  try {
    await engineWithoutProviders(join(workDir, "probe"));
    return (await realProgramPreview(join(workDir, "dev"))) === "ran" ? 0 : 2;
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`FAIL ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
