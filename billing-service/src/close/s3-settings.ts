/**
 * The S3 sink's settings as zod schemas, shared by the service's config (config.ts, from
 * MAAS_BILLING_CLOSE_S3_*) and the platform config (components/config/platform.ts), so both refuse
 * the same values with the same words. No SDK here: the Pulumi program imports this file.
 */
import { z } from "zod";

export const s3BucketName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "expected an S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)");

/** Credentials in a URL end up in logs, process lists and manifests: they belong in a Secret. */
export const s3Endpoint = z
  .url({ protocol: /^https?$/, error: "expected an http(s) URL" })
  .refine((u) => !/^[a-z]+:\/\/[^/]*@/i.test(u), "must not carry credentials (user:password@): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY from a Secret instead");

export const s3Region = z.string().regex(/^[a-z0-9-]{1,64}$/, "expected a region name, e.g. us-east-1");

export const s3Prefix = z.string().regex(/^([A-Za-z0-9!_.*'()-]+\/)*$/, 'expected "" or path segments each ending in "/", e.g. "maas-billing/"');

/** An endpoint shown in an error without the credentials it should not carry. */
export const withoutUserInfo = (url: string): string => url.replace(/\/\/[^/]*@/, "//<redacted>@");

/** The environment variables the AWS SDK's default credential chain reads (the platform renders them from a Secret). */
export const S3_CREDENTIAL_ENV = { accessKeyId: "AWS_ACCESS_KEY_ID", secretAccessKey: "AWS_SECRET_ACCESS_KEY" } as const;
