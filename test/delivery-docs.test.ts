/*
 * The operator docs stay runnable: every shell block parses, every link and anchor resolves, every
 * `npm run` script and every config key they mention exists (keys checked against the generated
 * config reference, so a renamed key breaks this test, not a reader's install).
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "./support/stacks";

const opsDir = path.join(repoRoot, "docs", "operations");
const pages = fs.readdirSync(opsDir).filter((f) => f.endsWith(".md")).sort();
const read = (file: string) => fs.readFileSync(file, "utf8");

/** ```sh blocks of a page, dedented (they may sit inside list items). */
function shellBlocks(text: string): string[] {
  return [...text.matchAll(/^( *)```sh\n([\s\S]*?)^ *```/gm)].map(([, indent, body]) =>
    body.replace(new RegExp(`^ {0,${indent.length}}`, "gm"), ""),
  );
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes. */
function anchorsOf(markdown: string): Set<string> {
  const withoutCode = markdown.replace(/^```[\s\S]*?^```/gm, "");
  return new Set(
    [...withoutCode.matchAll(/^#{1,6} +(.+)$/gm)].map(([, title]) =>
      title
        .trim()
        .toLowerCase()
        .replace(/`/g, "")
        .replace(/[^\p{L}\p{N} _-]/gu, "")
        .replace(/ /g, "-"),
    ),
  );
}

/** Keys of the config reference table, e.g. `platform.billing.image`, `tenant.apiKeys[].rotation`. */
function referenceKeys(): Set<string> {
  const reference = read(path.join(repoRoot, "docs", "config-reference.md"));
  return new Set([...reference.matchAll(/^\| `([^`]+)` \|/gm)].map(([, key]) => key));
}

describe("docs/operations", () => {
  it("has the pages the README indexes", () => {
    const index = read(path.join(opsDir, "README.md"));
    for (const page of pages.filter((p) => p !== "README.md")) expect(index, page).toContain(`(${page})`);
  });

  it.each(pages)("%s: every shell block parses (bash -n)", (page) => {
    const blocks = shellBlocks(read(path.join(opsDir, page)));
    for (const block of blocks) {
      const result = spawnSync("bash", ["-n"], { input: block, encoding: "utf8" });
      expect(result.stderr, block).toBe("");
      expect(result.status, block).toBe(0);
    }
  });

  it.each(pages)("%s: every relative link and anchor resolves", (page) => {
    const text = read(path.join(opsDir, page));
    const links = [...text.matchAll(/\]\(([^)\s]+)\)/g)].map(([, target]) => target).filter((t) => !/^[a-z]+:/.test(t));
    for (const link of links) {
      const [file, anchor] = link.split("#");
      const target = file === "" ? path.join(opsDir, page) : path.resolve(opsDir, file);
      expect(fs.existsSync(target), `${page}: ${link}`).toBe(true);
      if (anchor && target.endsWith(".md")) expect([...anchorsOf(read(target))], `${page}: ${link}`).toContain(anchor);
    }
  });

  it.each(pages)("%s: every npm script it runs exists", (page) => {
    const scripts = (JSON.parse(read(path.join(repoRoot, "package.json"))) as { scripts: Record<string, string> }).scripts;
    const used = [...read(path.join(opsDir, page)).matchAll(/npm run (?:--silent )?([a-z][\w:-]*)/g)].map(([, name]) => name);
    for (const name of used) expect(Object.keys(scripts), `${page}: npm run ${name}`).toContain(name);
  });

  it.each(pages)("%s: every config key it names exists", (page) => {
    const keys = referenceKeys();
    expect(keys.size).toBeGreaterThan(50);
    const text = read(path.join(opsDir, page));
    const named = [
      ...[...text.matchAll(/maas-billing:((?:platform|tenants?)\.[\w.[\]]+)/g)].map(([, key]) => key),
      ...[...text.matchAll(/`((?:platform|tenants?)\.[A-Za-z][\w.[\]]*)`/g)].map(([, key]) => key),
    ].map((key) => key.replace(/\[\d+\]/g, "[]").replace(/\.$/, ""));
    for (const key of named) expect(keys, `${page}: ${key}`).toContain(key);
  });
});

describe("the checks above can fail", () => {
  it("bash -n rejects a placeholder that is not valid shell", () => {
    expect(spawnSync("bash", ["-n"], { input: "MODEL_URL=https://<host><path>\n" }).status).not.toBe(0);
  });

  it("anchors follow GitHub's slugs", () => {
    expect([...anchorsOf("## 3. The billing image, by digest\n### `expected x (y)`\n")]).toEqual([
      "3-the-billing-image-by-digest",
      "expected-x-y",
    ]);
  });
});
