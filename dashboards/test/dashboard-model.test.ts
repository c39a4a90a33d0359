// Dashboard JSON against the parts of Grafana's dashboard model that provisioning relies on:
// stable uid, unique panel ids, gridPos inside the 24-column grid without overlaps, every
// datasource bound to the provisioned uid, every variable used defined (and every defined one used).
import { describe, expect, it } from "vitest";
import {
  type DashboardJson,
  type Panel,
  BILLING_UID,
  GRID_WIDTH,
  PLATFORM_PROMETHEUS_DS_UID,
  TENANT_MODEL_USAGE_UID,
  TENANT_PROMETHEUS_DS_UID,
  QUOTA_WARNING_RATIO,
  TOKEN_USAGE_CHARGEBACK_UID,
  billingDashboard,
  billingPanels,
  dashboard,
  dashboardProviderConfig,
  layout,
  percentSteps,
  platformDashboards,
  prometheusDs,
  stat,
  tenantDashboards,
} from "../index";
import { GRAFANA_BUILTINS, variablesIn } from "./support/grafana-vars";

interface Case {
  readonly name: string;
  readonly json: DashboardJson;
  readonly uid: string;
  readonly datasourceUid: string;
}

const cases: Case[] = [
  ...(["vllm", "kserve_vllm"] as const).flatMap((vllmFamily) =>
    (["tier", "subscription"] as const).flatMap((tierLabel) => {
      const d = tenantDashboards({ vllmFamily, tenant: "tenant-a", tierLabel, includeBilling: true });
      return [
        { name: `${vllmFamily}/${tierLabel} tenant-model-usage`, json: d["tenant-model-usage.json"]!, uid: TENANT_MODEL_USAGE_UID, datasourceUid: TENANT_PROMETHEUS_DS_UID },
        { name: `${vllmFamily}/${tierLabel} token-usage-chargeback`, json: d["token-usage-chargeback.json"]!, uid: TOKEN_USAGE_CHARGEBACK_UID, datasourceUid: TENANT_PROMETHEUS_DS_UID },
        { name: `${vllmFamily}/${tierLabel} billing (tenant copy)`, json: d["billing.json"]!, uid: `${BILLING_UID}-tenant`, datasourceUid: TENANT_PROMETHEUS_DS_UID },
      ];
    }),
  ),
  { name: "billing (platform)", json: platformDashboards()["billing.json"]!, uid: BILLING_UID, datasourceUid: PLATFORM_PROMETHEUS_DS_UID },
  { name: "billing (tenant-pinned, default datasource)", json: billingDashboard({ tenant: "tenant-a" }), uid: `${BILLING_UID}-tenant`, datasourceUid: PLATFORM_PROMETHEUS_DS_UID },
];

/** Every string in a panel or variable that Grafana interpolates before querying. */
const interpolated = (d: DashboardJson): string[] => [
  ...d.panels.flatMap((p) => p.targets.flatMap((t) => [t.expr, t.legendFormat])),
  ...d.templating.list.map((v) => String(v.definition ?? "")),
];

const overlaps = (a: Panel, b: Panel) =>
  a.gridPos.x < b.gridPos.x + b.gridPos.w && b.gridPos.x < a.gridPos.x + a.gridPos.w && a.gridPos.y < b.gridPos.y + b.gridPos.h && b.gridPos.y < a.gridPos.y + a.gridPos.h;

describe.each(cases)("$name", ({ json, uid, datasourceUid }) => {
  it("has its fixed uid, a title, a schemaVersion and a time range", () => {
    expect(json.uid).toBe(uid);
    expect(json.uid.length).toBeLessThanOrEqual(40); // Grafana's uid limit
    expect(json.title.length).toBeGreaterThan(0);
    expect(Number.isInteger(json.schemaVersion)).toBe(true);
    expect(json.time.from).toMatch(/^now/);
    expect(json.panels.length).toBeGreaterThan(0);
  });

  it("has unique positive integer panel ids", () => {
    const ids = json.panels.map((p) => p.id);
    expect(ids.every((id) => Number.isInteger(id) && id > 0)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("places every panel inside the grid without overlaps", () => {
    for (const p of json.panels) {
      const { x, y, w, h } = p.gridPos;
      expect([x, y, w, h].every(Number.isInteger), p.title).toBe(true);
      expect(x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= GRID_WIDTH, p.title).toBe(true);
    }
    for (const [i, a] of json.panels.entries()) for (const b of json.panels.slice(i + 1)) expect(overlaps(a, b), `${a.title} / ${b.title}`).toBe(false);
  });

  it("binds every panel, target and query variable to the provisioned datasource uid", () => {
    for (const p of json.panels) {
      expect(p.datasource, p.title).toEqual({ type: "prometheus", uid: datasourceUid });
      for (const t of p.targets) expect(t.datasource, `${p.title} ${t.refId}`).toEqual({ type: "prometheus", uid: datasourceUid });
    }
    for (const v of json.templating.list.filter((x) => x.type === "query")) expect(v.datasource, v.name).toEqual({ type: "prometheus", uid: datasourceUid });
    // Import-only placeholders break file provisioning (grafana/grafana#10786).
    expect(JSON.stringify(json)).not.toMatch(/\$\{DS_|__inputs/);
  });

  it("describes every panel and gives each target a unique refId and an expression", () => {
    for (const p of json.panels) {
      expect(p.description.length, p.title).toBeGreaterThan(20);
      expect(p.targets.length, p.title).toBeGreaterThan(0);
      expect(new Set(p.targets.map((t) => t.refId)).size, p.title).toBe(p.targets.length);
      for (const t of p.targets) expect(t.expr.trim().length, p.title).toBeGreaterThan(0);
    }
  });

  it("uses only variables that exist, and every variable is used", () => {
    const defined = new Set(json.templating.list.map((v) => v.name));
    const used = new Set(interpolated(json).flatMap(variablesIn));
    for (const name of used) expect(defined.has(name) || GRAFANA_BUILTINS.has(name), `$${name}`).toBe(true);
    for (const name of defined) expect(used.has(name), `variable ${name} unused`).toBe(true);
    // Variables may refer only to variables defined before them (Grafana resolves in order).
    json.templating.list.forEach((v, i) => {
      const before = new Set(json.templating.list.slice(0, i).map((x) => x.name));
      for (const name of variablesIn(String(v.definition ?? ""))) expect(before.has(name), `${v.name} uses $${name}`).toBe(true);
    });
  });

  it("survives a JSON round trip unchanged (no undefined, functions or cycles)", () => {
    expect(JSON.parse(JSON.stringify(json))).toEqual(json);
  });
});

describe("vLLM family", () => {
  it.each([
    ["vllm", "kserve_vllm:"],
    ["kserve_vllm", /(^|[^_])vllm:/],
  ] as const)("dashboards for %s never mention the other family", (vllmFamily, other) => {
    const text = JSON.stringify(tenantDashboards({ vllmFamily, tenant: "t" })["tenant-model-usage.json"]);
    expect(text).not.toMatch(other);
    expect(text).not.toContain("__name__");
  });
});

describe("billing portal link", () => {
  it("links every tenant dashboard to the tenant's own portal pages when the platform exports a portal URL", () => {
    const withLink = tenantDashboards({ vllmFamily: "vllm", tenant: "tenant-a", includeBilling: true, portalUrl: "https://billing.example.com/portal/" });
    for (const d of Object.values(withLink)) {
      expect(d.links).toEqual([expect.objectContaining({ type: "link", url: "https://billing.example.com/portal/t/tenant-a/", targetBlank: true })]);
    }
    expect(Object.values(tenantDashboards({ vllmFamily: "vllm", tenant: "tenant-a", includeBilling: true })).every((d) => d.links === undefined)).toBe(true);
  });
});

describe("uids", () => {
  it("are unique across the tenant and platform dashboards", () => {
    const all = [...Object.values(tenantDashboards({ vllmFamily: "vllm", tenant: "t", includeBilling: true })), ...Object.values(platformDashboards())];
    expect(all.map((d) => d.uid).sort()).toEqual(["maas-billing", "maas-billing-tenant", "maas-tenant-model-usage", "maas-token-usage-chargeback"]);
  });
});

describe("billing tenant copy", () => {
  it("is only added on request (it needs the tenant's billing series federated)", () => {
    expect(Object.keys(tenantDashboards({ vllmFamily: "vllm", tenant: "t" })).sort()).toEqual(["tenant-model-usage.json", "token-usage-chargeback.json"]);
  });
  it("leaves out the platform-wide panels whose series carry no tenant label", () => {
    const titles = (d: DashboardJson) => d.panels.map((p) => p.title);
    const tenantCopy = titles(tenantDashboards({ vllmFamily: "vllm", tenant: "t", includeBilling: true })["billing.json"]!);
    const platform = titles(platformDashboards()["billing.json"]!);
    expect(platform.filter((t) => !tenantCopy.includes(t))).toEqual(["Collector lag", "Unattributed tokens"]);
    expect(tenantCopy.every((t) => platform.includes(t))).toBe(true);
  });
});

describe("layout", () => {
  const ds = prometheusDs("x");
  const panel = (title: string, width?: number) => stat({ title, description: "d", datasource: ds, unit: "short", targets: [], ...(width ? { width } : {}) });
  it("numbers panels from 1 and flows rows left to right, top to bottom", () => {
    const panels = layout([[panel("a"), panel("b")], [panel("c", 16), panel("d", 8)]]);
    expect(panels.map((p) => [p.id, p.gridPos])).toEqual([
      [1, { h: 8, w: 12, x: 0, y: 0 }],
      [2, { h: 8, w: 12, x: 12, y: 0 }],
      [3, { h: 8, w: 16, x: 0, y: 8 }],
      [4, { h: 8, w: 8, x: 16, y: 8 }],
    ]);
  });
  it("rejects a row wider than the grid, naming it", () => {
    expect(() => dashboard({ uid: "u", title: "t", description: "d", tags: [], time: { from: "now-1h", to: "now" }, variables: [], rows: [[panel("wide", 20), panel("more", 8)]] })).toThrow(
      'row starting with "wide" is 28 columns wide; the grid has 24',
    );
  });
});

describe("provider config", () => {
  it("is a file provider for the given folder and path", () => {
    expect(dashboardProviderConfig("MaaS", "/var/lib/grafana/dashboards/maas")).toEqual({
      apiVersion: 1,
      providers: [
        {
          name: "maas-billing",
          folder: "MaaS",
          type: "file",
          disableDeletion: true,
          allowUiUpdates: false,
          updateIntervalSeconds: 60,
          options: { path: "/var/lib/grafana/dashboards/maas", foldersFromFilesStructure: false },
        },
      ],
    });
  });
});

describe("percentSteps", () => {
  it("is a percent unit with one decimal and Grafana's absolute steps, the first from -infinity (null)", () => {
    const panel = stat({ title: "t", description: "d", datasource: prometheusDs("ds"), targets: [], ...percentSteps("green", [0.8, "orange"], [1, "red"]) });
    expect(panel.fieldConfig.defaults).toMatchObject({
      unit: "percentunit",
      decimals: 1,
      thresholds: {
        mode: "absolute",
        steps: [
          { color: "green", value: null },
          { color: "orange", value: 0.8 },
          { color: "red", value: 1 },
        ],
      },
    });
  });

  it("colours the quota burn panel at the quota alerts' break points", () => {
    const burn = billingPanels(prometheusDs("ds"), "=").quotaBurn;
    expect(burn.fieldConfig.defaults.thresholds).toEqual({
      mode: "absolute",
      steps: [
        { color: "green", value: null },
        { color: "orange", value: QUOTA_WARNING_RATIO },
        { color: "red", value: 1 },
      ],
    });
  });
});
