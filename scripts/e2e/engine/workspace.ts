// The real Pulumi engine on the project's own program: Automation API stacks with the program inline
// (the Node SDK serves the language runtime in-process, so no pulumi-language-nodejs binary is
// needed), a local file backend and a throw-away passphrase, the providers from tools/bin found on
// PATH as ambient plugins, and one kubeconfig per identity.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LocalWorkspace, type Stack } from "@pulumi/pulumi/automation";
import { parse, stringify } from "yaml";

export const PROJECT = "maas-billing";
/** Fully qualified stack name on a file backend. */
export const stackRef = (stack: string) => `organization/${PROJECT}/${stack}`;

export interface EngineEnv {
  repoRoot: string;
  binDir: string;
  workDir: string;
}

/** One project directory per stack (Pulumi.yaml + Pulumi.<stack>.yaml), sharing one file backend. */
export class EngineStacks {
  private readonly stateDir: string;

  constructor(private readonly env: EngineEnv) {
    this.stateDir = join(env.workDir, "state");
    mkdirSync(this.stateDir, { recursive: true });
  }

  /** PULUMI_HOME of every CLI run (plugins, credentials): inside the work folder, never the user's. */
  get pulumiHome(): string {
    return join(this.env.workDir, "home");
  }

  projectDir(stack: string): string {
    return join(this.env.workDir, "projects", stack);
  }

  /** Writes the stack's config (keeps the encryption salt `stack init` added). */
  writeConfig(stack: string, config: Record<string, unknown>): void {
    const dir = this.projectDir(stack);
    mkdirSync(dir, { recursive: true });
    if (!existsSync(join(dir, "Pulumi.yaml"))) writeFileSync(join(dir, "Pulumi.yaml"), inlineProjectSettings(this.env.repoRoot));
    const file = join(dir, `Pulumi.${stack}.yaml`);
    const previous = existsSync(file) ? (parse(readFileSync(file, "utf8")) as Record<string, unknown>) : {};
    const namespaced = Object.fromEntries(Object.entries(config).map(([k, v]) => [k.includes(":") ? k : `${PROJECT}:${k}`, v]));
    writeFileSync(file, stringifyForPulumi({ ...previous, config: namespaced }));
  }

  /** The stack, acting with `kubeconfig` (written next to the project, mode 0600). */
  async open(stack: string, kubeconfig: string): Promise<Stack> {
    const dir = this.projectDir(stack);
    const kubeconfigFile = join(dir, "kubeconfig");
    writeFileSync(kubeconfigFile, kubeconfig, { mode: 0o600 });
    const program = async () => (require("./program") as () => Record<string, unknown>)();
    return LocalWorkspace.createOrSelectStack(
      { stackName: stack, projectName: PROJECT, program },
      { workDir: dir, pulumiHome: this.pulumiHome, envVars: this.envVars(kubeconfigFile) },
    );
  }

  /** Environment of every CLI run (and of the providers it starts). */
  envVars(kubeconfigFile: string): Record<string, string> {
    return {
      PATH: `${this.env.binDir}:${process.env.PATH ?? ""}`,
      PULUMI_BACKEND_URL: `file://${this.stateDir}`,
      // Throw-away local state: the passphrase only encrypts this run's secrets.
      PULUMI_CONFIG_PASSPHRASE: "e2e-throwaway",
      PULUMI_SKIP_UPDATE_CHECK: "true",
      PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
      KUBECONFIG: kubeconfigFile,
    };
  }
}

/**
 * The repository's Pulumi.yaml for an inline program: the same project, minus `main`. The CLI reads
 * `main` even when the Automation API serves the program in-process, and fails on `index.ts` not
 * existing in the stack's project directory (found by the first real engine run).
 */
export function inlineProjectSettings(repoRoot: string): string {
  const settings = parse(readFileSync(join(repoRoot, "Pulumi.yaml"), "utf8")) as Record<string, unknown>;
  delete settings.main;
  return stringifyForPulumi(settings);
}

/**
 * YAML the Pulumi CLI reads back as written. The CLI's YAML reader still resolves YAML 1.1 scalars: an
 * unquoted `2025-01-01T00:00:00Z` becomes a timestamp and reaches the program as
 * "2025-01-01 00:00:00 +0000 UTC" (the price book then refuses it), `yes` a boolean. Writing in YAML 1.1
 * mode quotes every such string (found by the first real engine run).
 */
export function stringifyForPulumi(value: unknown): string {
  return stringify(value, { version: "1.1" });
}
