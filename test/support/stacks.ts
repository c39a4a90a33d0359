/** Example stacks of the repository and helpers to render them in tests. */
import * as fs from "node:fs";
import * as path from "node:path";
import { parseCollectorSettingsYaml, parseTenantRegistryYaml, type CollectorSettings } from "../../billing-service/src/contract";
import { parsePlatformOutput, PLATFORM_OUTPUT_NAMES, type PlatformOutputValues } from "../../components/contract";
import { readStackConfigFile, render, type RenderResult, type RenderedObject } from "../../scripts/render";
import { PLATFORM_OUTPUTS_FIXTURE } from "../../scripts/render/stackReferences";

export const repoRoot = path.resolve(__dirname, "..", "..");

/** Every `Pulumi.<stack>.yaml` in the repository root, by stack name. */
export function exampleStacks(): string[] {
  return fs
    .readdirSync(repoRoot)
    .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
    .filter((s): s is string => s !== undefined)
    .sort();
}

/**
 * The platform outputs fixture (test/fixtures/platform-outputs.json, what the offline render of a
 * tenant stack falls back to), each output checked against the contract (components/contract.ts).
 */
export function platformOutputsFixture(): PlatformOutputValues {
  const raw = JSON.parse(fs.readFileSync(PLATFORM_OUTPUTS_FIXTURE, "utf8")) as Record<string, unknown>;
  return Object.fromEntries(PLATFORM_OUTPUT_NAMES.map((name) => [name, parsePlatformOutput(PLATFORM_OUTPUTS_FIXTURE, name, raw[name])])) as PlatformOutputValues;
}

/** A test billing image pinned by digest. */
export const testImage = `quay.io/maas-billing/maas-billing@sha256:${"ab".repeat(32)}`;

/**
 * Renders a stack from its Pulumi.<stack>.yaml. A tenant-only stack (`platformStack: org/project/<name>`)
 * gets the outputs of rendering Pulumi.<name>.yaml as its StackReference fixture, unless given some.
 */
export async function renderExample(stack: string, stackReferenceOutputs?: Record<string, Record<string, unknown>>): Promise<RenderResult> {
  const { config, secretKeys } = readStackConfigFile(path.join(repoRoot, `Pulumi.${stack}.yaml`));
  const platformStack = config["maas-billing:platformStack"];
  if (stackReferenceOutputs === undefined && typeof platformStack === "string") {
    const platformName = platformStack.split("/").pop()!;
    if (!fs.existsSync(path.join(repoRoot, `Pulumi.${platformName}.yaml`))) {
      throw new Error(`Pulumi.${stack}.yaml references ${platformStack}, but there is no Pulumi.${platformName}.yaml to render its outputs from`);
    }
    const platform = await renderExample(platformName);
    stackReferenceOutputs = { [platformStack]: platform.outputs };
  }
  return render({ stack, config, secretKeys, stackReferenceOutputs });
}

/**
 * The per-image opt-in every example platform stack carries: the defaults with no digest this
 * project could cite (docs/images.md, components/config/images.ts) allowed as tags.
 */
export const UNDIGESTED_DEFAULTS_OPT_IN = ["platform.federation.proxyImage"];

/** `config` with the example stacks' tag opt-in added when it has a platform and says nothing about pinning. */
export function withExampleImageOptIn<T extends Record<string, unknown>>(config: T): T {
  if (config.platform === undefined || "imagePinning" in config || "allowImageTags" in config) return config;
  return { ...config, allowImageTags: UNDIGESTED_DEFAULTS_OPT_IN };
}

/**
 * Renders a config given as the `maas-billing:` keys without prefix. A config with a platform and no
 * pinning keys gets the example stacks' opt-in (withExampleImageOptIn); test/images.test.ts checks the
 * pinning itself.
 */
export function renderConfig(stack: string, config: Record<string, unknown>, stackReferenceOutputs?: Record<string, Record<string, unknown>>): Promise<RenderResult> {
  const prefixed = Object.fromEntries(Object.entries(withExampleImageOptIn(config)).map(([k, v]) => [`maas-billing:${k}`, v]));
  return render({ stack, config: prefixed, stackReferenceOutputs });
}

/** The one object of a kind and name; fails the test when there is not exactly one. */
export function findObject(result: RenderResult, kind: string, name: string, patch = false): RenderedObject {
  const found = result.objects.filter((o) => o.object.kind === kind && o.object.metadata.name === name && o.patch === patch);
  if (found.length !== 1) throw new Error(`expected one ${kind}${patch ? " patch" : ""} ${name}, found ${found.length}`);
  return found[0];
}

export const ofKind = (result: RenderResult, kind: string) => result.objects.filter((o) => o.object.kind === kind);

/**
 * The collector settings a rendered billing pod starts with: its collector.yaml plus every tenant
 * registry file collector.yaml names, each found through the Deployment's projected volume (the
 * ConfigMap and key mounted at that path), read as billing-service/src/config.ts reads them.
 * `extra` is appended to collector.yaml (e.g. a shorter window for a test).
 */
export function renderedCollectorSettings(result: RenderResult, extra = ""): CollectorSettings {
  const deployment = findObject(result, "Deployment", "maas-billing-api").object as any;
  const container = deployment.spec.template.spec.containers[0];
  const mount = container.volumeMounts.find((m: { name: string }) => m.name === "collector-config").mountPath as string;
  const volume = deployment.spec.template.spec.volumes.find((v: { name: string }) => v.name === "collector-config");
  const fileAt = (file: string): string => {
    const source = volume.projected.sources.find((s: any) => `${mount}/${s.configMap.items[0].path}` === file);
    if (source === undefined) throw new Error(`${file} is mounted by no source of the collector-config volume`);
    return (findObject(result, "ConfigMap", source.configMap.name).object.data as Record<string, string>)[source.configMap.items[0].key];
  };
  const configPath = container.env.find((e: { name: string }) => e.name === "MAAS_BILLING_COLLECTOR_CONFIG").value as string;
  const settings = parseCollectorSettingsYaml(`${fileAt(configPath)}${extra}`, "rendered collector.yaml");
  return { ...settings, tenants: [...settings.tenants, ...settings.tenantFiles.flatMap((f) => parseTenantRegistryYaml(fileAt(f), f))] };
}
