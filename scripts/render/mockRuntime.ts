import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
// Internal runtime module: the public API has no way to wait for pending registrations or to reach
// the mock monitor (to record `protect`), both of which an offline render needs.
import * as settings from "@pulumi/pulumi/runtime/settings";

/** One resource the program registered, as the mock monitor saw it. */
export interface RecordedResource {
  /** Pulumi type token, e.g. `kubernetes:apps/v1:Deployment`. */
  type: string;
  /** Pulumi resource name (the logical name, not metadata.name). */
  name: string;
  /** Resolved inputs; Pulumi secrets arrive unwrapped, so treat them as sensitive. */
  inputs: Record<string, unknown>;
  /** Whether the resource was registered with `protect: true`. */
  protect: boolean;
  /** Whether the resource was registered with `retainOnDelete: true` (left in the cluster on delete). */
  retainOnDelete?: boolean;
  /** URN of the parent resource ("" for a resource without one). */
  parent?: string;
  /** Provider reference (`<provider urn>::<id>`) the engine would use ("" for the default provider). */
  provider?: string;
  /** False for component resources. */
  custom: boolean;
  /** Paths of the inputs that arrived as Pulumi secrets (e.g. `stringData.token`), in order. */
  secretInputPaths?: string[];
  /**
   * URNs the engine would record this resource as depending on (`dependsOn` and the resources its
   * inputs came from), sorted: what `pulumi up` orders creation by and stores in the state.
   */
  dependencies?: string[];
}

export interface ProgramRun {
  resources: RecordedResource[];
  /** Stack outputs, fully resolved. */
  outputs: Record<string, unknown>;
  /** Names of outputs the program exported as Pulumi secrets. */
  secretOutputs: string[];
  /** Every value the mocks generated as a secret (RandomPassword results); must never leak. */
  secretValues: string[];
}

export interface RunOptions {
  /** Stack name the program sees (`pulumi.getStack()`). */
  stack: string;
  /** Project name; defaults to `maas-billing`. */
  project?: string;
  /** Full Pulumi config map (`maas-billing:flavor` -> value); structured values may be objects. */
  config: Record<string, unknown>;
  /** Config keys that are secret. */
  secretKeys?: string[];
  /** Outputs of referenced stacks, keyed by the StackReference name (`org/project/stack`). */
  stackReferenceOutputs?: Record<string, Record<string, unknown>>;
  /** The program; returns the stack outputs. */
  program: () => unknown;
}

/** JSON with object keys sorted at every level, so equal inputs always serialize the same. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const record = value as Record<string, unknown>;
    return `{${Object.keys(record)
      .sort()
      .filter((k) => record[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(record[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/**
 * Deterministic stand-in for a generated secret (RandomPassword/RandomString `result`): the same
 * resource name and inputs give the same value on every run, and any input change (`keepers`
 * bumped to rotate a key, a new length) gives a new one, as the real provider replaces the resource
 * and generates a new value then.
 */
export function mockSecretValue(resourceName: string, inputs: Record<string, unknown>): string {
  const digest = createHash("sha256").update(`maas-render:${resourceName}:${canonicalJson(inputs)}`).digest("hex");
  const length = Number(inputs.length ?? 32);
  return `mock${digest}`.slice(0, Math.max(16, Math.min(length, 64)));
}

class UnmockedCallError extends Error {}

/** Pulumi's wire marker for secret values (`{ [specialSigKey]: specialSecretSig, value }`). */
const specialSigKey = "4dabf18193072939515e22adb298388d";
const specialSecretSig = "1b47061264138c4ac30d75fd1eb44270";

/** Dotted paths of the secret wrappers in mock inputs (the outermost one where they nest). */
export function secretPaths(value: unknown, at = ""): string[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => secretPaths(v, `${at}[${i}]`));
  if (value !== null && typeof value === "object") {
    const record = value as Record<string, unknown>;
    if (record[specialSigKey] === specialSecretSig) return [at];
    return Object.entries(record).flatMap(([k, v]) => secretPaths(v, at ? `${at}.${k}` : k));
  }
  return [];
}

/** Replaces secret wrappers by their plain values (mock inputs may still carry them, nested). */
export function unwrapSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(unwrapSecrets);
  if (value !== null && typeof value === "object") {
    const record = value as Record<string, unknown>;
    if (record[specialSigKey] === specialSecretSig) return unwrapSecrets(record.value);
    return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, unwrapSecrets(v)]));
  }
  return value;
}

// A process holds one Pulumi runtime: renders run one after another, never interleaved.
let queue: Promise<unknown> = Promise.resolve();

/** Runs `program` under Pulumi's mock runtime and records every resource it registers. */
export function runProgram(options: RunOptions): Promise<ProgramRun> {
  const run = queue.then(() => runExclusive(options));
  queue = run.catch(() => undefined);
  return run;
}

async function runExclusive(options: RunOptions): Promise<ProgramRun> {
  const resources: RecordedResource[] = [];
  const secretValues: string[] = [];
  const protectedNames = new Set<string>();
  const retainedNames = new Set<string>();
  const parents = new Map<string, string>();
  const providers = new Map<string, string>();
  const dependencies = new Map<string, string[]>();
  const refs = options.stackReferenceOutputs ?? {};

  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        const inputs = unwrapSecrets(args.inputs) as Record<string, unknown>;
        let state: Record<string, unknown> = inputs;
        if (args.type === "random:index/randomPassword:RandomPassword" || args.type === "random:index/randomString:RandomString") {
          const result = mockSecretValue(args.name, inputs);
          secretValues.push(result);
          state = { ...inputs, result };
        } else if (args.type === "pulumi:pulumi:StackReference") {
          const stackName = String(inputs.name ?? args.name);
          const outputs = refs[stackName];
          if (outputs === undefined) {
            throw new Error(`render: no outputs supplied for StackReference "${stackName}" (pass stackReferenceOutputs)`);
          }
          state = { name: stackName, outputs, secretOutputNames: [] };
        }
        const key = `${args.type}::${args.name}`;
        resources.push({
          type: args.type,
          name: args.name,
          inputs,
          protect: protectedNames.has(key),
          retainOnDelete: retainedNames.has(key),
          parent: parents.get(key) ?? "",
          provider: providers.get(key) ?? "",
          dependencies: dependencies.get(key) ?? [],
          custom: args.custom ?? true,
          secretInputPaths: secretPaths(args.inputs),
        });
        return { id: `${args.name}-id`, state };
      },
      call(args) {
        // Surprises fail loudly: the program is not supposed to call provider functions.
        throw new UnmockedCallError(`render: unmocked call ${args.token}`);
      },
    },
    options.project ?? "maas-billing",
    options.stack,
    false,
  );

  // Record `protect`, `retainOnDelete`, the parent, the provider and the dependencies from the registration request, which newResource does not see.
  type Request = {
    getType(): string;
    getName(): string;
    getParent(): string;
    getProvider(): string;
    getProtect(): boolean | undefined;
    getRetainondelete(): boolean | undefined;
    getDependenciesList(): string[];
    getPropertydependenciesMap(): { forEach(f: (deps: { getUrnsList(): string[] }) => void): void };
  };
  const monitor = settings.getMonitor() as unknown as { registerResource: (req: Request, cb: unknown) => unknown };
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, cb) => {
    if (req.getProtect()) protectedNames.add(`${req.getType()}::${req.getName()}`);
    if (req.getRetainondelete()) retainedNames.add(`${req.getType()}::${req.getName()}`);
    parents.set(`${req.getType()}::${req.getName()}`, req.getParent());
    providers.set(`${req.getType()}::${req.getName()}`, req.getProvider());
    const urns = new Set(req.getDependenciesList());
    req.getPropertydependenciesMap().forEach((deps) => deps.getUrnsList().forEach((urn) => urns.add(urn)));
    dependencies.set(`${req.getType()}::${req.getName()}`, [...urns].sort());
    return register(req, cb);
  };

  const config: Record<string, string> = {};
  for (const [key, value] of Object.entries(options.config)) {
    config[key] = typeof value === "string" ? value : JSON.stringify(value);
  }
  pulumi.runtime.setAllConfig(config, options.secretKeys ?? []);

  // A failed registration surfaces only as an unhandled rejection inside the SDK: collect them, so a
  // broken program fails the render instead of yielding a partial one.
  const failures: unknown[] = [];
  const onRejection = (reason: unknown) => failures.push(reason);
  process.on("unhandledRejection", onRejection);
  const restoreSpeed = renderFast();
  try {
    return await collect(options, resources, secretValues, failures);
  } catch (err) {
    // A program that throws half-way (a config error found inside a component) leaves registrations in
    // flight; drain them before the next run installs its mocks, or they land in that run's monitor
    // ("unknown resource" for a URN carrying the next run's stack name).
    await drainRegistrations().catch(() => undefined);
    throw err;
  } finally {
    restoreSpeed();
    process.off("unhandledRejection", onRejection);
  }
}

/**
 * The SDK captures a full stack trace per resource (for source positions the mock monitor never
 * reads) and per promise; with source maps on (tsx, vitest) that dominated render time. While
 * rendering, skip the resource call sites and capture no stack frames; returns the undo.
 */
function renderFast(): () => void {
  const resourceClass = pulumi.Resource as unknown as { callsites: () => unknown[] };
  const callsites = resourceClass.callsites;
  const sourceMaps = (process as unknown as { sourceMapsEnabled?: boolean }).sourceMapsEnabled ?? false;
  const stackTraceLimit = Error.stackTraceLimit;
  resourceClass.callsites = () => [];
  process.setSourceMapsEnabled(false);
  // Messages stay intact; only the (unused) promise debug stacks get shorter.
  Error.stackTraceLimit = 0;
  return () => {
    resourceClass.callsites = callsites;
    process.setSourceMapsEnabled(sourceMaps);
    Error.stackTraceLimit = stackTraceLimit;
  };
}

async function collect(options: RunOptions, resources: RecordedResource[], secretValues: string[], failures: unknown[]): Promise<ProgramRun> {
  const exported = ((await options.program()) ?? {}) as Record<string, unknown>;
  const outputs: Record<string, unknown> = {};
  const secretOutputs: string[] = [];
  for (const [key, value] of Object.entries(exported)) {
    const output = pulumi.output(value as pulumi.Input<unknown>) as pulumi.Output<unknown>;
    if (await pulumi.isSecret(output)) secretOutputs.push(key);
    // Output.promise() is internal but, unlike apply(), rejects when the output fails instead of hanging.
    outputs[key] = await (output as unknown as { promise(): Promise<unknown> }).promise();
  }
  await drainRegistrations();
  if (failures.length > 0) {
    const messages = [...new Set(failures.map((f) => (f instanceof Error ? f.message : String(f))))];
    throw new Error(`render: ${failures.length} resource registration(s) failed:\n${messages.map((m) => `  ${m}`).join("\n")}`);
  }
  resources.sort((a, b) => (a.type === b.type ? a.name.localeCompare(b.name) : a.type.localeCompare(b.type)));
  return { resources, outputs, secretOutputs: secretOutputs.sort(), secretValues };
}

/** Waits for every registration the program started. */
async function drainRegistrations(): Promise<void> {
  // waitForRPCs is @internal (absent from the .d.ts) but is how the SDK itself drains registrations.
  await (settings as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs();
  await new Promise((resolve) => setImmediate(resolve));
}
