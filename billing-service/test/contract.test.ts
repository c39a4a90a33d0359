/**
 * The platform↔service contract module: the collector.yaml reader the platform tests use, and the
 * rule that the service reads env only through SERVICE_ENV (a name written anywhere else in src/
 * could drift from what the platform sets).
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parseCollectorSettingsYaml, SERVICE_ENV, VLLM_FAMILIES } from "../src/contract";

const srcDir = path.join(__dirname, "..", "src");
const sourceFiles = (dir: string): string[] =>
  readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    return statSync(p).isDirectory() ? sourceFiles(p) : p.endsWith(".ts") ? [p] : [];
  });

describe("contract: collector.yaml", () => {
  it("parses what the platform renders, with the service's defaults", () => {
    const s = parseCollectorSettingsYaml("vllmFamily: kserve_vllm\nstrictTenants: true\ntenants:\n  - name: acme\n    namespaces: [acme-models]\n");
    expect(s.vllmFamily).toBe("kserve_vllm");
    expect(s.strictTenants).toBe(true);
    expect(s.tenants).toEqual([{ name: "acme", namespaces: ["acme-models"] }]);
    expect(s.window).toBe(3_600_000);
    expect(parseCollectorSettingsYaml("").window).toBe(3_600_000);
  });

  it("names the file and the field on a bad value, and refuses unknown keys", () => {
    expect(() => parseCollectorSettingsYaml("vllmFamily: openai\n", "/etc/maas-billing/collector.yaml")).toThrow(/collector\.vllmFamily/);
    expect(() => parseCollectorSettingsYaml("windw: 1h\n")).toThrow(/windw/);
    expect(() => parseCollectorSettingsYaml("- a\n- b\n", "c.yaml")).toThrow(/c\.yaml: expected a YAML mapping/);
    expect(() => parseCollectorSettingsYaml("a: [\n", "c.yaml")).toThrow(/c\.yaml: not valid YAML/);
  });

  it("lists both vLLM families", () => {
    expect([...VLLM_FAMILIES]).toEqual(["vllm", "kserve_vllm"]);
  });
});

describe("contract: env names", () => {
  it("src/ writes no service env name outside the contract module", () => {
    const names = [...Object.values(SERVICE_ENV), "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"];
    const offenders: string[] = [];
    for (const file of sourceFiles(srcDir)) {
      if (file.includes(`${path.sep}contract${path.sep}`)) continue;
      const code = readFileSync(file, "utf8")
        .replace(/\/\*[\s\S]*?\*\//g, "")
        .replace(/^\s*\/\/.*$/gm, "");
      for (const name of names) {
        // A read such as env.NAME, env["NAME"] or a quoted "NAME" in code (comments are fine).
        const read = new RegExp(`env\\.${name}\\b|["'\`]${name}["'\`]`);
        if (read.test(code)) offenders.push(`${path.relative(srcDir, file)}: ${name}`);
      }
    }
    expect(offenders).toEqual([]);
  });
});
