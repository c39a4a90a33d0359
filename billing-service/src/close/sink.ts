/**
 * Where the month-end close writes its exports (close/month-end.ts): a directory (a mounted PVC),
 * or an S3-compatible bucket. Both are idempotent per key: writing the same text to the same key
 * again changes nothing (the directory compares the file, the bucket the object's sha256 metadata),
 * so a close that resumes after a crash, or runs on a second replica, leaves the exports as they
 * were.
 *
 * S3 credentials never pass through this code: the AWS SDK's default provider chain reads them
 * from the environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, rendered by the platform from a
 * Kubernetes Secret with secretKeyRef) or from a web identity token (IRSA); the endpoint is a URL
 * without user info (config.ts refuses one with credentials), and locations in reports and logs are
 * `s3://bucket/key`.
 */
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { HeadObjectCommand, PutObjectCommand, S3Client, S3ServiceException, type S3ClientConfig } from "@aws-sdk/client-s3";
import { sha256Hex as sha256 } from "../sha256";

export interface ExportSink {
  /** Writes `text` under `key` (`2026-05/focus-1.2.csv`); "unchanged" when it was already there. */
  put(key: string, text: string, contentType: string): Promise<{ location: string; result: "written" | "unchanged" }>;
  /** Where `key` goes, for reports and logs (no credentials). */
  locationOf(key: string): string;
}

export type ExportSinkConfig =
  | { readonly kind: "dir"; readonly dir: string }
  | {
      readonly kind: "s3";
      readonly bucket: string;
      /** Key prefix, "" or ending in "/" (e.g. "maas-billing/"). */
      readonly prefix: string;
      /** An S3-compatible endpoint (Ceph RGW, NooBaa, ...); AWS when undefined. */
      readonly endpoint?: string;
      readonly region: string;
      /** `https://endpoint/bucket/key` instead of `https://bucket.endpoint/key` (most S3-compatible servers). */
      readonly forcePathStyle: boolean;
    };


export const directorySink = (dir: string): ExportSink => {
  const locationOf = (key: string) => path.join(dir, ...key.split("/"));
  return {
    locationOf,
    async put(key, text) {
      const file = locationOf(key);
      const before = await readFile(file, "utf8").catch(() => undefined);
      if (before === text) return { location: file, result: "unchanged" };
      await mkdir(path.dirname(file), { recursive: true });
      // Atomically: a reader never sees half a file.
      const tmp = `${file}.tmp-${process.pid}`;
      await writeFile(tmp, text);
      await rename(tmp, file);
      return { location: file, result: "written" };
    },
  };
};

/** `extra`: client settings for tests (credentials of the test server); serve passes none. */
export const s3Sink = (config: Extract<ExportSinkConfig, { kind: "s3" }>, extra: Partial<S3ClientConfig> = {}): ExportSink => {
  const client = new S3Client({
    region: config.region,
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    forcePathStyle: config.forcePathStyle,
    // Checksums only where the API requires them: S3-compatible servers that do not know the
    // SDK's default CRC32 trailers (aws-chunked uploads) refuse or mis-store such uploads.
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    ...extra,
  });
  const objectKey = (key: string) => `${config.prefix}${key}`;
  const locationOf = (key: string) => `s3://${config.bucket}/${objectKey(key)}`;
  return {
    locationOf,
    async put(key, text, contentType) {
      const Key = objectKey(key);
      const digest = sha256(text);
      try {
        const head = await client.send(new HeadObjectCommand({ Bucket: config.bucket, Key }));
        if (head.Metadata?.sha256 === digest) return { location: locationOf(key), result: "unchanged" };
      } catch (e) {
        // Not there yet: write it. Anything else (no access, no bucket) stops the close.
        if (!(e instanceof S3ServiceException && (e.$metadata.httpStatusCode === 404 || e.name === "NotFound" || e.name === "NoSuchKey"))) throw e;
      }
      await client.send(new PutObjectCommand({ Bucket: config.bucket, Key, Body: text, ContentType: contentType, Metadata: { sha256: digest } }));
      return { location: locationOf(key), result: "written" };
    },
  };
};

export const openExportSink = (config: ExportSinkConfig): ExportSink => (config.kind === "dir" ? directorySink(config.dir) : s3Sink(config));
