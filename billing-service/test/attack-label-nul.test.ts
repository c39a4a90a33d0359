/**
 * Attack: a tenant admin puts a NUL (U+0000) in a label value it controls (the `user` annotation
 * of its API key, an attribute label such as organization_id; a route name reaches the
 * unattributed reason). Prometheus stores and serves it (promtool backfills it, the query API
 * answers "\u0000", remote read returns the byte), but PostgreSQL text and jsonb cannot hold NUL:
 * before the defence the collector's write failed, for the whole pass, so no tenant was billed and
 * the attacker's own usage escaped billing. Now NUL becomes U+FFFD in every label value that turns
 * into ledger data: the pass succeeds, the other tenant is billed exactly, and the attacker's
 * tokens are billed to the attacker under a visibly mangled name, with a warn line per series.
 * Real Prometheus (both read paths), real PostgreSQL (every migration: the dimensions column is 040).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { toOpenMetrics } from "./support/scenario";
import { startBillingDb, type BillingTestDb } from "./support/billing-db";
import { backfill, startPrometheus, type RunningPrometheus } from "../testkit/prometheus";
import { PrometheusClient } from "../src/collector/prometheus-client";
import { collectOnce } from "../src/collector/collect";
import { createSampleSource } from "../src/collector/sample-source";
import { parseCollectorSettings, type ReadApi } from "../src/contract";

const WINDOW = 15 * 60_000;
const SCRAPE = 15_000;
const NUL = "\u0000";

/** A counter rising by `step` every scrape over [startMs, endMs]. */
const rising = (startMs: number, endMs: number, base: number, step: number) => {
  const samples = [];
  for (let t = startMs, v = base; t <= endMs; t += SCRAPE, v += step) samples.push({ t, v });
  return samples;
};

describe.each<ReadApi>(["query", "remote-read"])("a NUL in a gateway label value, readApi %s", (readApi) => {
  let dir: string;
  let prom: RunningPrometheus;
  let db: BillingTestDb;
  let client: PrometheusClient;
  let source: ReturnType<typeof createSampleSource>;
  let fromMs: number;
  let toMs: number;
  const warnings: Array<{ obj: { tenant?: unknown }; msg: string }> = [];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "maas-label-nul-"));
    fromMs = Math.floor(Date.now() / WINDOW) * WINDOW - 6 * WINDOW;
    toMs = fromMs + 2 * WINDOW;
    const lookbackStart = fromMs - 5 * 60_000; // every series but the new one has an anchor
    const series: Array<{ metric: string; labels: Record<string, string>; samples: Array<{ t: number; v: number }> }> = [
      // The honest tenant: 2 windows x 60 scrapes x 7 tokens after its anchor.
      { metric: "authorized_hits", labels: { limitador_namespace: "team-a/chat", user: "alice", model: "m1", organization_id: "org-a" }, samples: rising(lookbackStart, toMs, 100, 7) },
      // The attacker: NUL in `user` and in an attribute label, on a series with an anchor ...
      { metric: "authorized_hits", labels: { limitador_namespace: "team-b/chat", user: `ev${NUL}il`, model: "m1", organization_id: `org${NUL}b` }, samples: rising(lookbackStart, toMs, 50, 3) },
      // ... and on a series back from a gap longer than the anchor lookback: its anchor (1600) is
      // found by an exact selector holding the NUL; were it missed, the whole 1600 would be billed.
      {
        metric: "authorized_hits",
        labels: { limitador_namespace: "team-b/chat", user: `${NUL}`, model: "m2" },
        samples: [...rising(fromMs - 60 * 60_000, fromMs - 30 * 60_000, 1000, 5), ...rising(fromMs + 60_000, toMs, 1600, 5)],
      },
      // A route label the tenant map cannot read, with a NUL: unattributed, reason holds the value.
      { metric: "authorized_hits", labels: { limitador_namespace: `team-b${NUL}chat`, user: "x", model: "m1" }, samples: rising(lookbackStart, toMs, 0, 2) },
    ];
    await backfill(toOpenMetrics(series), path.join(dir, "data"), dir);
    [prom, db] = await Promise.all([startPrometheus({ dir }), startBillingDb()]);
    client = new PrometheusClient({ url: prom.url });
    source = createSampleSource(client, readApi);
  });

  afterAll(async () => {
    for (const open of [source, client]) open?.close();
    await Promise.all([prom?.stop(), db?.stop()]);
    await rm(dir, { recursive: true, force: true });
  });

  it("collects the pass, bills the honest tenant exactly and the attacker to itself, and warns", async () => {
    const settings = parseCollectorSettings({ window: "15m", readApi, attributeLabels: ["organization_id"] });
    const log = { info: () => undefined, warn: (obj: object, msg: string) => void warnings.push({ obj, msg }) };
    const report = await collectOnce({ pool: db.pool, prometheus: source, settings, log }, { fromMs, toMs });
    expect(report.status).toBe("collected");

    const rows = (
      await db.pool.query<{ tenant: string; user_id: string; model: string; dimensions: Record<string, string>; tokens: string }>(
        `select tenant, user_id, model, coalesce(dimensions, '{}'::jsonb) as dimensions, sum(total_tokens)::text as tokens
           from collector_usage where source = 'gateway' and billable group by 1, 2, 3, 4 order by 1, 3, 2`,
      )
    ).rows;
    const FFFD = "\uFFFD";
    expect(rows).toEqual([
      { tenant: "team-a", user_id: "alice", model: "m1", dimensions: { organization_id: "org-a" }, tokens: String(2 * 60 * 7) },
      { tenant: "team-b", user_id: `ev${FFFD}il`, model: "m1", dimensions: { organization_id: `org${FFFD}b` }, tokens: String(2 * 60 * 3) },
      { tenant: "team-b", user_id: FFFD, model: "m2", dimensions: {}, tokens: String(((toMs - fromMs - 60_000) / SCRAPE) * 5) },
    ]);
    const unattributed = (await db.pool.query<{ reason: string; amount: string }>(`select reason, sum(amount)::text as amount from collector_unattributed group by 1`)).rows;
    expect(unattributed).toEqual([{ reason: `limitador_namespace "team-b${FFFD}chat" is not "<namespace>/<route>"`, amount: String(2 * 60 * 2) }]);
    const nulWarnings = warnings.filter((w) => w.msg.includes("NUL"));
    expect(nulWarnings.map((w) => w.obj.tenant).sort()).toEqual([null, "team-b", "team-b"]);
  });
});
