import { createHash } from "node:crypto";

/*
 * Checksums of rendered content. Pods read their config files, tokens and price book only at start
 * (and subPath mounts never update), so each pod template carries an annotation whose value is a
 * checksum of that content: a change of the content changes the template and rolls the pods.
 */

/** Lowercase hex SHA-256 of the UTF-8 text. */
export function sha256Hex(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

/** A short (16 hex) checksum for a pod-template annotation: enough to notice a change, short to read in a diff. */
export function contentChecksum(text: string): string {
  return sha256Hex(text).slice(0, 16);
}
