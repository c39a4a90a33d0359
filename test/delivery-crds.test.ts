/*
 * .github/crd-sources.tsv pins the upstream CRD schemas the GitHub workflows fetch for the
 * conformance tests (no ../shared/crds there). Its hashes must be those of the schemas the tests
 * use here, and the fetch script must refuse a file that does not match.
 */
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { crdsDir } from "./support/conformance";
import { repoRoot } from "./support/stacks";

interface Source {
  file: string;
  repository: string;
  commit: string;
  path: string;
  sha256: string;
}

const sources: Source[] = fs
  .readFileSync(path.join(repoRoot, ".github", "crd-sources.tsv"), "utf8")
  .split("\n")
  .filter((line) => line.length > 0 && !line.startsWith("#"))
  .map((line) => {
    const [file, repository, commit, sourcePath, sha256] = line.split("\t");
    return { file, repository, commit, path: sourcePath, sha256 };
  });

const sha256Of = (file: string) => createHash("sha256").update(fs.readFileSync(file)).digest("hex");
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "delivery-crds-"));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

/** Lays the local schemas out as <base>/<repository>/<commit>/<path>, the way the raw file host serves them. */
function serveLocally(base: string, override?: (s: Source) => Buffer | undefined) {
  for (const source of sources) {
    const target = path.join(base, source.repository, source.commit, source.path);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, override?.(source) ?? fs.readFileSync(path.join(crdsDir(), source.file)));
  }
}

const fetchCrds = (dir: string, base: string) =>
  spawnSync("bash", [path.join(repoRoot, "scripts", "delivery", "fetch-crds.sh"), dir], {
    encoding: "utf8",
    env: { ...process.env, CRD_BASE_URL: `file://${base}` },
  });

describe(".github/crd-sources.tsv", () => {
  it("pins every schema the conformance tests read, by commit and sha256", () => {
    const local = fs.readdirSync(crdsDir()).filter((f) => f.endsWith(".yaml")).sort();
    expect(sources.map((s) => s.file).sort()).toEqual(local);
    for (const source of sources) {
      expect(source.commit, source.file).toMatch(/^[0-9a-f]{40}$/);
      expect(source.repository, source.file).toMatch(/^[\w.-]+\/[\w.-]+$/);
      expect(sha256Of(path.join(crdsDir(), source.file)), source.file).toBe(source.sha256);
    }
  });

  it("fetch-crds.sh writes every schema when the hashes match", () => {
    const base = path.join(scratch, "good");
    serveLocally(base);
    const out = path.join(scratch, "good-out");
    const result = fetchCrds(out, base);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toContain(`fetch-crds: ${sources.length} CRD schemas`);
    for (const source of sources) expect(sha256Of(path.join(out, source.file))).toBe(source.sha256);
  });

  it("fetch-crds.sh fails on a file that differs from its pinned hash, and keeps nothing of it", () => {
    const tampered = sources[0];
    const base = path.join(scratch, "bad");
    serveLocally(base, (s) => (s === tampered ? Buffer.from("kind: CustomResourceDefinition\n") : undefined));
    const out = path.join(scratch, "bad-out");
    const result = fetchCrds(out, base);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`fetch-crds: ${tampered.file} from ${tampered.repository}@${tampered.commit}`);
    expect(fs.existsSync(path.join(out, tampered.file))).toBe(false);
    expect(fs.existsSync(path.join(out, `${tampered.file}.tmp`))).toBe(false);
  });
});
