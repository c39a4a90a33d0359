// The project's program (index.ts) as the e2e engine stage runs it: the same function, plus the
// test-only `pulumi.com/skipAwait` transform, because no controllers or kubelet run on the e2e
// cluster and the provider would otherwise wait 10 minutes for readiness that never comes.
// scripts/delivery/preview-comment.ts takes this module through --program in the e2e.
import { join, resolve } from "node:path";
import * as pulumi from "@pulumi/pulumi";

const repoRoot = resolve(__dirname, "..", "..", "..");

/** Adds `pulumi.com/skipAwait: "true"` to every Kubernetes object (patches excepted: they own only the fields they set). */
function skipAwaitTransform(): void {
  pulumi.runtime.registerResourceTransform((args) => {
    if (!args.type.startsWith("kubernetes:") || args.type.endsWith("Patch")) return undefined;
    const metadata = args.props.metadata as Record<string, unknown> | undefined;
    if (metadata === undefined || metadata === null || typeof metadata !== "object") return undefined;
    const annotations = pulumi
      .output(metadata.annotations as pulumi.Input<Record<string, string>> | undefined)
      .apply((a) => ({ ...(a ?? {}), "pulumi.com/skipAwait": "true" }));
    return { props: { ...args.props, metadata: { ...metadata, annotations } }, opts: args.opts };
  });
}

export = function e2eProgram(): Record<string, unknown> {
  skipAwaitTransform();
  const main = require(join(repoRoot, "index.ts")) as () => Record<string, unknown>;
  return main();
};
