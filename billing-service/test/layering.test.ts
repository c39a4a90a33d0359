/**
 * Which way the arrows run inside billing-service: the test kit depends on none of its users, the
 * benches not on the tests, db/ on no feature folder, and the service on no tooling. Read from the
 * import statements of the files themselves.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

const root = path.join(__dirname, "..");
const files = (dir: string): string[] =>
  readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    return statSync(p).isDirectory() ? (name === "node_modules" ? [] : files(p)) : p.endsWith(".ts") ? [p] : [];
  });

/** Every relative import of the files under `dir`, resolved to a path relative to billing-service/. */
const importsUnder = (dir: string): Array<{ file: string; target: string }> =>
  files(path.join(root, dir)).flatMap((file) =>
    [...readFileSync(file, "utf8").matchAll(/^\s*(?:import|export)[^;]*?from\s+"(\.[^"]+)"/gm)].map((m) => ({
      file: path.relative(root, file),
      target: path.relative(root, path.resolve(path.dirname(file), m[1])),
    })),
  );

const offending = (dir: string, forbidden: RegExp) =>
  importsUnder(dir)
    .filter((i) => forbidden.test(i.target))
    .map((i) => `${i.file} -> ${i.target}`);

describe("layering", () => {
  it("the test kit imports no test, demo, bench, dashboards or scripts code", () => {
    expect(offending("testkit", /^(test|demo|bench)\/|^\.\.\/(dashboards|scripts|test)\//)).toEqual([]);
  });

  it("the benches and the demo import nothing from the tests", () => {
    expect([...offending("bench", /^test\//), ...offending("demo", /^test\//)]).toEqual([]);
  });

  it("src/db imports no feature folder", () => {
    expect(offending("src/db", /^src\/(auth|cli|collector|events|invoices|ops|pricebook|quota|routes|spool|usage)\//)).toEqual([]);
  });

  it("the service imports no tooling", () => {
    expect(offending("src", /^(test|demo|bench|testkit)\//)).toEqual([]);
  });

  it("the check can fail: it sees an import of the tests", () => {
    expect(offending("test", /^test\/support\//).length).toBeGreaterThan(0);
  });
});
