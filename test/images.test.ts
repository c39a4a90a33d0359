/**
 * Issue #14 hole 7, images: every image the rendered stacks run is pinned by digest by default.
 * Walks every container and initContainer of every pod template (Deployments, StatefulSets, Jobs,
 * CronJobs) and the images operators run for us (Prometheus/Alertmanager CRs, the Limitador patch)
 * in the example stacks: the platform on kubernetes and openshift, the all-in-one dev stack and the
 * tenant stacks. The default with no citable digest (prom-label-proxy, docs/images.md) and the dev
 * stack's Limitador override are given digests the way an operator would; as committed, the example
 * stacks opt those keys in and exactly those render by tag.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { defaultImageRef, defaultImages, describeImage } from "../components/config/images";
import { readStackConfigFile, render, type RenderResult } from "../scripts/render";
import { exampleStacks, renderConfig, renderExample, repoRoot, testImage, UNDIGESTED_DEFAULTS_OPT_IN } from "./support/stacks";

const DIGEST_REF = /^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(\/[a-z0-9]+([._-][a-z0-9]+)*)*@sha256:[a-f0-9]{64}$/;

/** Every image a render runs, with where it sits. */
function renderedImages(r: RenderResult): Array<{ where: string; image: string }> {
  const out: Array<{ where: string; image: string }> = [];
  for (const { object } of r.objects as Array<{ object: any }>) {
    const owner = `${object.kind}/${object.metadata?.namespace ?? ""}/${object.metadata?.name}`;
    const pod = object.spec?.jobTemplate?.spec?.template?.spec ?? object.spec?.template?.spec;
    for (const c of [...(pod?.containers ?? []), ...(pod?.initContainers ?? [])]) out.push({ where: `${owner} ${c.name}`, image: c.image });
    // Operators run these: the CR's (or the patch's) image is the pod's image.
    if (["Prometheus", "Alertmanager", "Limitador"].includes(object.kind) && object.spec?.image !== undefined) out.push({ where: owner, image: object.spec.image });
  }
  return out;
}

/** The images of a render that are not `name@sha256:<64 hex>`. */
const undigested = (r: RenderResult) => renderedImages(r).filter(({ image }) => !DIGEST_REF.test(image));

/** What an operator sets for the uncited default (and the dev stack's Limitador override). */
const operatorDigests: Record<string, string> = {
  "platform.federation.proxyImage": `quay.io/prometheuscommunity/prom-label-proxy@sha256:${"1f".repeat(32)}`,
  "platform.limitador.image": `quay.io/kuadrant/limitador@sha256:${"3d".repeat(32)}`,
};

/** An example stack's config with its tag opt-ins replaced by digests for those keys. */
async function renderWithDigests(stack: string): Promise<RenderResult> {
  const { config, secretKeys } = readStackConfigFile(path.join(repoRoot, `Pulumi.${stack}.yaml`));
  const c = structuredClone(config) as Record<string, any>;
  for (const key of (c["maas-billing:allowImageTags"] as string[] | undefined) ?? []) {
    const [root, ...rest] = key.split(".");
    let at = c[`maas-billing:${root}`];
    for (const p of rest.slice(0, -1)) at = at[p] ??= {};
    at[rest.at(-1)!] = operatorDigests[key];
  }
  delete c["maas-billing:allowImageTags"];
  const platformStack = c["maas-billing:platformStack"];
  const stackReferenceOutputs = typeof platformStack === "string" ? { [platformStack]: (await renderWithDigests(platformStack.split("/").pop()!)).outputs } : undefined;
  return render({ stack, config: c, secretKeys, stackReferenceOutputs });
}

const STACKS = ["dev", "platform-kubernetes", "platform-openshift", "tenant-a", "tenant-b"];
const digested = new Map<string, RenderResult>();
const committed = new Map<string, RenderResult>();

beforeAll(async () => {
  expect(exampleStacks()).toEqual(STACKS.slice().sort());
  for (const stack of STACKS) {
    digested.set(stack, await renderWithDigests(stack));
    committed.set(stack, await renderExample(stack));
  }
}, 600_000);

describe("every rendered image is pinned by digest by default", () => {
  it.each(STACKS)("%s: every container, initContainer and operator-run image is name@sha256:<64 hex>", (stack) => {
    const r = digested.get(stack)!;
    expect(renderedImages(r).length).toBeGreaterThanOrEqual(stack.startsWith("tenant") ? 2 : 6);
    expect(undigested(r)).toEqual([]);
  });

  it("the defaults with a cited digest are what renders (not some other digest)", () => {
    const all = new Set([...digested.values()].flatMap((r) => renderedImages(r).map((i) => i.image)));
    for (const name of ["prometheus", "alertmanager", "grafana", "timescaledb", "curl", "nginxUnprivileged"] as const) {
      expect(all.has(defaultImageRef(defaultImages[name])), describeImage(defaultImages[name])).toBe(true);
    }
  });

  it("as committed, exactly the opted-in keys render by tag (and only those)", () => {
    const tags = (stack: string) => [...new Set(undigested(committed.get(stack)!).map((i) => i.image))].sort();
    expect(tags("platform-kubernetes")).toEqual(["quay.io/prometheuscommunity/prom-label-proxy:v0.14.0"]);
    expect(tags("platform-openshift")).toEqual(["quay.io/prometheuscommunity/prom-label-proxy:v0.14.0"]);
    expect(tags("dev")).toEqual(["quay.io/kuadrant/limitador:v2.0.0", "quay.io/prometheuscommunity/prom-label-proxy:v0.14.0"]);
    expect(tags("tenant-a")).toEqual([]);
    expect(tags("tenant-b")).toEqual([]);
  });

  it("the check can fail: `imagePinning: tag` renders tags, and the walk reports each", async () => {
    const r = await renderConfig("images-tag", {
      flavor: "kubernetes",
      imagePinning: "tag",
      platform: { billing: { image: testImage }, database: { image: "docker.io/timescale/timescaledb:2.17.2-pg16" }, tenants: [{ name: "acme" }] },
      tenants: [{ name: "acme", prometheus: { image: "quay.io/prometheus/prometheus:v3.5.0" } }],
    });
    const tagged = undigested(r);
    expect([...new Set(tagged.map((i) => i.image))].sort()).toEqual([
      "docker.io/timescale/timescaledb:2.17.2-pg16",
      "quay.io/prometheus/prometheus:v3.5.0",
      "quay.io/prometheuscommunity/prom-label-proxy:v0.14.0",
    ]);
    expect(tagged.find((i) => i.image.includes("timescaledb"))?.where).toMatch(/^StatefulSet\//);
    expect(UNDIGESTED_DEFAULTS_OPT_IN).toEqual(["platform.federation.proxyImage"]);
  });
});

describe("docs/images.md says what components/config/images.ts says", () => {
  it("every default's repository, tag, digest and source (or that none was cited) is in the table", () => {
    const doc = fs.readFileSync(path.join(repoRoot, "docs", "images.md"), "utf8");
    const rows = doc.split("\n").filter((l) => l.startsWith("| `"));
    for (const [name, image] of Object.entries(defaultImages)) {
      const row = rows.find((r) => r.includes(`| \`${image.repository}\` | \`${image.tag}\` |`));
      expect(row, name).toBeDefined();
      if ("digest" in image) {
        expect(row, name).toContain(`\`${image.digest}\``);
        expect(row, name).toContain(`${image.source.repo}, \`${image.source.path}\`, ${image.source.commit}`);
      } else expect(row, name).toContain("**none cited**");
    }
    expect(rows).toHaveLength(Object.keys(defaultImages).length);
  });
});
