/**
 * Month-end exports to an S3-compatible bucket, against a REAL S3-compatible server (s3rver, which
 * verifies request signatures) and a real `serve` configured the way the platform renders it:
 * bucket, endpoint and prefix in MAAS_BILLING_CLOSE_S3_*, credentials only in AWS_ACCESS_KEY_ID /
 * AWS_SECRET_ACCESS_KEY (a Secret's keys in the cluster).
 *  - the sink uploads once: the same text under the same key again changes nothing (ETag and
 *    Last-Modified stay); an unknown access key is refused by the server and stores nothing
 *    (s3rver does not verify SigV4 signatures, so a wrong SECRET is not caught here);
 *  - serve closes the previous month into the bucket (FOCUS + per-tenant CSV); a close that runs
 *    again after a crash between upload and record (the month's record removed) rewrites nothing;
 *  - the secret key appears nowhere in serve's log or in the stored close report.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { s3Sink } from "../src/close/sink";
import { ingestEvents } from "../src/events/ingest";
import { periodOf } from "../src/invoices/periods";
import { startS3Server, type RunningS3 } from "../testkit/s3";
import { startService } from "../testkit/service";
import { startBillingDb, usageEvent, type BillingTestDb } from "./support/billing-db";

let db: BillingTestDb;
let s3: RunningS3;
let client: S3Client;

beforeAll(async () => {
  db = await startBillingDb();
  s3 = await startS3Server();
  client = new S3Client({
    region: "us-east-1",
    endpoint: s3.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
}, 120_000);

afterAll(async () => {
  client?.destroy();
  await s3?.stop();
  await db?.stop();
});

const head = async (Key: string) => {
  const h = await client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key }));
  return { etag: h.ETag, modified: h.LastModified?.getTime(), sha256: h.Metadata?.sha256 };
};
const text = async (Key: string) => (await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key }))).Body!.transformToString();

describe("S3-compatible export sink", () => {
  it("uploads once: the same text under the same key changes nothing; another text replaces it", async () => {
    const sink = s3Sink(
      { kind: "s3", bucket: s3.bucket, prefix: "unit/", endpoint: s3.endpoint, region: "us-east-1", forcePathStyle: true },
      { credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } },
    );
    expect(await sink.put("2026-05/focus-1.2.csv", "a,b\n1,2\n", "text/csv")).toEqual({ location: `s3://${s3.bucket}/unit/2026-05/focus-1.2.csv`, result: "written" });
    const first = await head("unit/2026-05/focus-1.2.csv");
    // Last-Modified has one-second resolution: a rewrite within the same second would look the same.
    await new Promise((r) => setTimeout(r, 1100));
    expect((await sink.put("2026-05/focus-1.2.csv", "a,b\n1,2\n", "text/csv")).result).toBe("unchanged");
    expect(await head("unit/2026-05/focus-1.2.csv")).toEqual(first);
    expect((await sink.put("2026-05/focus-1.2.csv", "a,b\n1,3\n", "text/csv")).result).toBe("written");
    expect((await head("unit/2026-05/focus-1.2.csv")).modified).toBeGreaterThan(first.modified!);
    expect(await text("unit/2026-05/focus-1.2.csv")).toBe("a,b\n1,3\n");
  });

  it("is refused by the server with credentials it does not know, and stores nothing", async () => {
    // s3rver checks the access key id, not SigV4 signatures (testkit/s3.ts): a wrong key id is what it can refuse.
    const sink = s3Sink(
      { kind: "s3", bucket: s3.bucket, prefix: "wrong/", endpoint: s3.endpoint, region: "us-east-1", forcePathStyle: true },
      { credentials: { accessKeyId: "AKIA-NOT-KNOWN", secretAccessKey: "not-the-secret" } },
    );
    await expect(sink.put("x.csv", "x", "text/csv")).rejects.toMatchObject({ $metadata: { httpStatusCode: 403 } });
    const listed = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: "wrong/" }));
    expect(listed.KeyCount ?? 0).toBe(0);
  });
});

describe("serve closes the month into the bucket", () => {
  it("writes FOCUS and CSV exports with credentials from the environment; a resumed close rewrites nothing; the secret is logged nowhere", async () => {
    // Usage of the previous month (serve closes it at start: grace 0).
    const previous = periodOf(new Date(periodOf(new Date()).start.getTime() - 1));
    const inMonth = new Date(previous.start.getTime() + 5 * 86_400_000).toISOString();
    await ingestEvents(db.pool, [usageEvent({ id: "s3-1", source: "//s3", tenant: "acme", time: inMonth, inputTokens: 1_000_000, outputTokens: 20_000 })] as never);
    const dataDir = await mkdtemp(path.join(os.tmpdir(), "maas-close-s3-"));
    const env = {
      MAAS_BILLING_CLOSE_S3_BUCKET: s3.bucket,
      MAAS_BILLING_CLOSE_S3_ENDPOINT: s3.endpoint,
      MAAS_BILLING_CLOSE_S3_PREFIX: "maas-billing/",
      MAAS_BILLING_CLOSE_GRACE_HOURS: "0",
      AWS_ACCESS_KEY_ID: s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
    };
    const focusKey = `maas-billing/${previous.label}/focus-1.2.csv`;
    const csvKey = `maas-billing/${previous.label}/invoices/acme.csv`;
    try {
      const serve = await startService({ databaseUrl: db.url, dataDir, env });
      try {
        await serve.waitForLog("month closed", 120_000);
      } finally {
        await serve.kill("SIGTERM");
      }
      const number = (await db.pool.query<{ number: string }>("select number from invoices where tenant = 'acme' and status = 'final'")).rows[0].number;
      expect(await text(focusKey)).toContain(number);
      expect((await text(focusKey)).split("\n")[0]).toContain("SkuMeter");
      expect(await text(csvKey)).toContain(number);
      const before = { focus: await head(focusKey), csv: await head(csvKey) };
      const report = (await db.pool.query<{ report: unknown }>("select report from month_end_closes where period = $1", [previous.label])).rows[0].report;
      expect(JSON.stringify(report)).toContain(`s3://${s3.bucket}/${focusKey}`);

      // A crash between the uploads and the month's record: the next start closes the month again.
      await db.pool.query("delete from month_end_closes where period = $1", [previous.label]);
      await new Promise((r) => setTimeout(r, 1100)); // Last-Modified has one-second resolution
      const again = await startService({ databaseUrl: db.url, dataDir, env });
      try {
        await again.waitForLog("month closed", 120_000);
        for (const log of [serve.log(), again.log()]) {
          expect(log).not.toContain(s3.secretAccessKey);
          expect(log).not.toContain("AWS_SECRET_ACCESS_KEY");
        }
      } finally {
        await again.kill("SIGTERM");
      }
      expect({ focus: await head(focusKey), csv: await head(csvKey) }).toEqual(before);
      expect((await db.pool.query("select count(*)::int as n from invoices where tenant = 'acme'")).rows[0].n).toBe(1);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 300_000);
});
