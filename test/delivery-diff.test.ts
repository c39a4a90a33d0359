import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatStackDiff } from "../scripts/delivery/format-diff";
import { fullLineDiff, lineDiff } from "../scripts/delivery/line-diff";
import { diffFields, diffObjectSets, objectKey, type KubeObject } from "../scripts/delivery/object-diff";

const deployment = (image: string, extra: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name: "api", namespace: "maas-billing", labels: { "app.kubernetes.io/name": "api" } },
  spec: {
    replicas: 1,
    template: {
      spec: {
        containers: [
          { name: "api", image, env: [{ name: "PORT", value: "8080" }] },
          { name: "sidecar", image: "proxy@sha256:" + "b".repeat(64) },
        ],
      },
    },
  },
  ...extra,
});

const byKey = (...objects: KubeObject[]) => new Map(objects.map((o) => [objectKey(o), o]));

describe("objectKey", () => {
  it.each([
    ["namespaced, grouped", { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "a", namespace: "n" } }, "Deployment.apps n/a"],
    ["core group", { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c", namespace: "n" } }, "ConfigMap.core n/c"],
    ["cluster-scoped", { apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRole", metadata: { name: "r" } }, "ClusterRole.rbac.authorization.k8s.io r"],
    // the version is left out so an API version bump is one changed object, not a delete and an add
    ["version ignored", { apiVersion: "kuadrant.io/v1beta1", kind: "AuthPolicy", metadata: { name: "p", namespace: "t" } }, "AuthPolicy.kuadrant.io t/p"],
  ])("%s", (_name, object, want) => expect(objectKey(object)).toBe(want));
});

describe("diffObjectSets", () => {
  it("sorts objects into added, changed, deleted and unchanged", () => {
    const kept = { apiVersion: "v1", kind: "Namespace", metadata: { name: "maas-billing" } };
    const gone = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "old", namespace: "maas-billing" } };
    const fresh = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "new", namespace: "maas-billing" } };
    const diff = diffObjectSets(
      byKey(kept, gone, deployment("api@sha256:" + "1".repeat(64))),
      byKey(kept, fresh, deployment("api@sha256:" + "2".repeat(64))),
    );
    expect(diff.added).toEqual(["ConfigMap.core maas-billing/new"]);
    expect(diff.deleted).toEqual(["ConfigMap.core maas-billing/old"]);
    expect(diff.unchanged).toBe(1);
    expect(diff.changed).toEqual([
      {
        key: "Deployment.apps maas-billing/api",
        fields: [
          {
            path: "spec.template.spec.containers[name=api].image",
            kind: "changed",
            before: "api@sha256:" + "1".repeat(64),
            after: "api@sha256:" + "2".repeat(64),
          },
        ],
      },
    ]);
  });

  it("finds no change between a set and itself (property)", () => {
    const objects = fc.array(
      fc.record({
        apiVersion: fc.constantFrom("v1", "apps/v1"),
        kind: fc.constantFrom("ConfigMap", "Deployment"),
        metadata: fc.record({ name: fc.string({ minLength: 1 }), namespace: fc.string({ minLength: 1 }) }),
        data: fc.dictionary(fc.string(), fc.jsonValue()),
      }),
    );
    fc.assert(
      fc.property(objects, (list) => {
        const map = byKey(...list);
        const copy = new Map([...map].map(([k, v]) => [k, structuredClone(v)]));
        const diff = diffObjectSets(map, copy);
        return diff.added.length === 0 && diff.deleted.length === 0 && diff.changed.length === 0 && diff.unchanged === map.size;
      }),
    );
  });

  it("swapping the sides swaps added and deleted (property)", () => {
    const names = fc.uniqueArray(fc.stringMatching(/^[a-z]{1,8}$/), { maxLength: 8 });
    fc.assert(
      fc.property(names, names, (left, right) => {
        const make = (n: string): KubeObject => ({ apiVersion: "v1", kind: "Secret", metadata: { name: n, namespace: "t" } });
        const a = byKey(...left.map(make));
        const b = byKey(...right.map(make));
        const forward = diffObjectSets(a, b);
        const backward = diffObjectSets(b, a);
        expect(forward.added).toEqual(backward.deleted);
        expect(forward.deleted).toEqual(backward.added);
      }),
    );
  });
});

describe("diffFields", () => {
  it.each([
    ["scalar changed", { a: 1 }, { a: 2 }, [{ path: "a", kind: "changed", before: 1, after: 2 }]],
    ["key added", { a: 1 }, { a: 1, b: { c: true } }, [{ path: "b", kind: "added", after: { c: true } }]],
    ["key removed", { a: 1, b: 2 }, { a: 1 }, [{ path: "b", kind: "removed", before: 2 }]],
    ["type changed", { a: "1" }, { a: 1 }, [{ path: "a", kind: "changed", before: "1", after: 1 }]],
    [
      "label keys with dots and slashes are quoted",
      { labels: { "app.kubernetes.io/name": "x" } },
      { labels: { "app.kubernetes.io/name": "y" } },
      [{ path: 'labels["app.kubernetes.io/name"]', kind: "changed", before: "x", after: "y" }],
    ],
    [
      "unnamed list items compare by position, extra items are added",
      { args: ["--a"] },
      { args: ["--b", "--c"] },
      [
        { path: "args[0]", kind: "changed", before: "--a", after: "--b" },
        { path: "args[1]", kind: "added", after: "--c" },
      ],
    ],
  ])("%s", (_name, before, after, want) => expect(diffFields(before, after)).toEqual(want));

  it("matches named list items by name, so an inserted container does not shift the others", () => {
    const before = deployment("api@sha256:" + "1".repeat(64));
    const after = structuredClone(before) as { spec: { template: { spec: { containers: unknown[] } } } };
    after.spec.template.spec.containers.unshift({ name: "init-proxy", image: "p@sha256:" + "c".repeat(64) });
    expect(diffFields(before, after)).toEqual([
      {
        path: "spec.template.spec.containers[name=init-proxy]",
        kind: "added",
        after: { name: "init-proxy", image: "p@sha256:" + "c".repeat(64) },
      },
    ]);
  });

  it("gives a line diff for changed multi-line strings such as an embedded prometheus.yml", () => {
    const before = { data: { "prometheus.yml": "global:\n  scrape_interval: 30s\nscrape_configs: []\n" } };
    const after = { data: { "prometheus.yml": "global:\n  scrape_interval: 15s\nscrape_configs: []\n" } };
    const [change] = diffFields(before, after);
    expect(change.path).toBe('data["prometheus.yml"]');
    expect(change.lines).toEqual([
      { kind: "context", text: "global:" },
      { kind: "removed", text: "  scrape_interval: 30s" },
      { kind: "added", text: "  scrape_interval: 15s" },
      { kind: "context", text: "scrape_configs: []" },
      { kind: "context", text: "" },
    ]);
  });
});

describe("lineDiff", () => {
  it("marks every line so that each side can be rebuilt, with as few changes as possible (property)", () => {
    const lines = fc.array(fc.constantFrom("a", "b", "c", "d", ""), { maxLength: 12 });
    fc.assert(
      fc.property(lines, lines, (left, right) => {
        const [before, after] = [left.join("\n"), right.join("\n")];
        const changes = fullLineDiff(before, after);
        const side = (kind: "removed" | "added") => changes.filter((c) => c.kind !== (kind === "removed" ? "added" : "removed")).map((c) => c.text);
        expect(side("removed").join("\n")).toBe(before);
        expect(side("added").join("\n")).toBe(after);
        // an LCS diff keeps as many lines as any common subsequence: at least the common prefix
        let prefix = 0;
        while (prefix < left.length && prefix < right.length && left[prefix] === right[prefix]) prefix += 1;
        expect(changes.filter((c) => c.kind === "context").length).toBeGreaterThanOrEqual(left.length === 0 && right.length === 0 ? 1 : prefix);
      }),
    );
  });

  it("keeps two lines of context around a change and collapses the rest", () => {
    const before = Array.from({ length: 20 }, (_, i) => `line ${i}`);
    const after = [...before];
    after[10] = "line ten";
    const changes = lineDiff(before.join("\n"), after.join("\n"));
    expect(changes.map((c) => `${c.kind}:${c.text}`)).toEqual([
      "context:...",
      "context:line 8",
      "context:line 9",
      "removed:line 10",
      "added:line ten",
      "context:line 11",
      "context:line 12",
      "context:...",
    ]);
  });
});

describe("formatStackDiff", () => {
  it("prints one line per object and per field, then a summary", () => {
    const scaled = deployment("api@sha256:" + "2".repeat(64));
    (scaled.metadata as Record<string, unknown>).annotations = { team: "billing" };
    const diff = diffObjectSets(
      byKey(deployment("api@sha256:" + "1".repeat(64))),
      byKey(scaled, {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "api", namespace: "maas-billing" },
      }),
    );
    expect(formatStackDiff(diff).split("\n")).toEqual([
      "+ Service.core maas-billing/api",
      "~ Deployment.apps maas-billing/api",
      '    + metadata.annotations: {"team":"billing"}',
      `    ~ spec.template.spec.containers[name=api].image: "api@sha256:${"1".repeat(64)}" => "api@sha256:${"2".repeat(64)}"`,
      "1 to add, 1 to change, 0 to delete, 0 unchanged",
    ]);
  });
});
