/**
 * The one SHA-256 helper: hex digest of a string's UTF-8 bytes. node:crypto's one-shot `hash`
 * (Node >= 21.7) gives the same digest as createHash().update().digest() without a Hash object per
 * call, which matters where it runs per request (static tokens) or per row (collector, access logs).
 */
import { hash } from "node:crypto";

export const sha256Hex = (text: string): string => hash("sha256", text, "hex");
