import { defineConfig } from "vitest/config";

// One runner for the whole repository: the Pulumi program tests (test/), the dashboards and
// rules tests (dashboards/test) and the billing service tests (billing-service/test).
// Files run in separate forks (isolate: true) so Pulumi mocks and embedded PostgreSQL
// servers of different files never share a process.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts", "dashboards/test/**/*.test.ts", "billing-service/test/**/*.test.ts"],
    pool: "forks",
    isolate: true,
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
