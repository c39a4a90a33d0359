// Our dashboard JSON against Grafana's published dashboard model (@grafana/schema, the TypeScript
// form of Grafana's CUE schema): tsc must accept schema/grafana-types.ts, and must reject a
// dashboard with a wrong field type, which shows the check can fail.
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, expect, it } from "vitest";

const run = promisify(execFile);
const repo = resolve(__dirname, "../..");
// Inside node_modules so the temp file resolves @grafana/schema like the repo's own files.
mkdirSync(join(repo, "node_modules/.cache"), { recursive: true });
const tmp = mkdtempSync(join(repo, "node_modules/.cache/maas-dashboard-schema-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const brokenFile = join(tmp, "broken.ts");
writeFileSync(
  brokenFile,
  `import type { Dashboard } from "@grafana/schema/dist/types/veneer/dashboard.types";
import { platformDashboards } from ${JSON.stringify(join(repo, "dashboards/index"))};
const good = platformDashboards()["billing.json"]!;
// gridPos.w as a string: Grafana's model wants a number.
export const broken: Dashboard = { ...good, tags: [...good.tags], templating: { list: [] }, annotations: { list: [] },
  panels: [{ ...good.panels[0]!, targets: [], fieldConfig: { defaults: {}, overrides: [] }, gridPos: { h: 8, w: "12", x: 0, y: 0 } }] };
`,
);

it("dashboards type-check against @grafana/schema's Dashboard; a wrong field type does not", async () => {
  const args = ["--noEmit", "--strict", "--skipLibCheck", "--esModuleInterop", "--module", "commonjs", "--moduleResolution", "node", "--target", "ES2022", "--types", "node"];
  const files = [join(repo, "dashboards/test/schema/grafana-types.ts"), brokenFile];
  const out = await run(join(repo, "node_modules/.bin/tsc"), [...args, ...files], { cwd: repo }).then(
    (r) => r.stdout,
    (e: { stdout?: string }) => e.stdout ?? "",
  );
  const errorLines = out.split("\n").filter((l) => /error TS\d+/.test(l));
  expect(errorLines.filter((l) => l.includes("grafana-types.ts"))).toEqual([]);
  expect(errorLines.some((l) => l.includes("broken.ts"))).toBe(true);
  expect(out).toContain("Type 'string' is not assignable to type 'number'");
});
