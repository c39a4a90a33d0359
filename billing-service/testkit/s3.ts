/*
 * A real S3-compatible server on loopback for tests: s3rver (npm, MIT), which stores objects in a
 * temporary directory and speaks the S3 REST API the AWS SDK uses (path-style). It refuses an
 * unknown access key id (InvalidAccessKeyId) but does NOT verify SigV4 signatures (its
 * authentication middleware: "Signature version 4 calculation is unimplemented"), so a wrong
 * secret key goes unnoticed here. Its one key pair is S3RVER/S3RVER.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import S3rver from "s3rver";
import { freePort } from "../src/net/free-port";

export interface RunningS3 {
  /** http://127.0.0.1:<port> */
  readonly endpoint: string;
  readonly bucket: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  stop(): Promise<void>;
}

export const startS3Server = async (bucket = "maas-exports"): Promise<RunningS3> => {
  const directory = await mkdtemp(path.join(os.tmpdir(), "maas-s3-"));
  const port = await freePort();
  const server = new S3rver({ address: "127.0.0.1", port, silent: true, directory, allowMismatchedSignatures: false, configureBuckets: [{ name: bucket, configs: [] }] });
  await server.run();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    accessKeyId: "S3RVER",
    secretAccessKey: "S3RVER",
    async stop() {
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
};
