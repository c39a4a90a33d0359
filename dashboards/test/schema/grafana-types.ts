// Compile-time check: the dashboards we build are assignable to Grafana's own published dashboard
// model (@grafana/schema, the TypeScript form of Grafana's CUE schema). Checked by `npm run
// typecheck` and by dashboard-schema.test.ts, which runs tsc on this file alone.
import type { Dashboard } from "@grafana/schema/dist/types/veneer/dashboard.types";
import { type DashboardJson, billingDashboard, platformDashboards, tenantDashboards } from "../../index";

/** Our types are deeply readonly; Grafana's are mutable. Same shape otherwise. */
type Mutable<T> = T extends readonly (infer U)[] ? Mutable<U>[] : T extends object ? { -readonly [K in keyof T]: Mutable<T[K]> } : T;

const asGrafana = (d: DashboardJson): Dashboard => d as Mutable<DashboardJson>;

export const grafanaDashboards: Dashboard[] = [
  ...Object.values(tenantDashboards({ vllmFamily: "kserve_vllm", tenant: "t" })).map(asGrafana),
  ...Object.values(tenantDashboards({ vllmFamily: "kserve_vllm", tenant: "t", includeBilling: true, portalUrl: "https://billing.example.com/portal/" })).map(asGrafana),
  ...Object.values(platformDashboards()).map(asGrafana),
  asGrafana(billingDashboard({ tenant: "t" })),
];
