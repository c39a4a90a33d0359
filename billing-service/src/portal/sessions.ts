/**
 * Portal sessions in PostgreSQL (migration 110), so every replica honours a sign-in and a
 * sign-out. The browser holds a random 32-byte secret in an HttpOnly cookie; the table keeps its
 * SHA-256 and the billing token sealed with AES-256-GCM under a key derived (HKDF) from the
 * secret. The token is needed again on each request: the portal authenticates it with the same
 * authenticator as the API, so a revoked token stops working in the portal too.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from "node:crypto";
import type { Pool } from "pg";
import { sha256Hex as sha256 } from "../sha256";

/** Absolute lifetime of a session: a working day. Sign in again after it. */
export const SESSION_TTL_MS = 8 * 60 * 60 * 1000;

const keyOf = (secret: string): Buffer => Buffer.from(hkdfSync("sha256", Buffer.from(secret, "utf8"), Buffer.alloc(0), "maas-billing portal session", 32));

const seal = (secret: string, credential: string): Buffer => {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", keyOf(secret), iv);
  const body = Buffer.concat([cipher.update(credential, "utf8"), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]);
};

const unseal = (secret: string, sealed: Buffer): string | undefined => {
  try {
    const decipher = createDecipheriv("aes-256-gcm", keyOf(secret), sealed.subarray(0, 12));
    decipher.setAuthTag(sealed.subarray(12, 28));
    return Buffer.concat([decipher.update(sealed.subarray(28)), decipher.final()]).toString("utf8");
  } catch {
    return undefined;
  }
};

/**
 * The CSRF token of a credential (a session secret, or the access token the OAuth proxy forwards):
 * an HMAC only its holder can compute, so a cross-site page cannot put it in a forged form.
 */
export const csrfTokenFor = (credential: string): string => createHmac("sha256", credential).update("maas-billing portal csrf").digest("base64url");

export const csrfMatches = (credential: string, presented: unknown): boolean => {
  if (typeof presented !== "string") return false;
  const expected = Buffer.from(csrfTokenFor(credential));
  const given = Buffer.from(presented);
  return given.length === expected.length && timingSafeEqual(given, expected);
};

export interface PortalSessions {
  /** Stores a session for `credential`; returns the secret for the cookie. */
  create(credential: string, principalName: string): Promise<string>;
  /** The credential of a live session, or undefined (unknown, expired or signed out). */
  open(secret: string): Promise<string | undefined>;
  end(secret: string): Promise<void>;
}

export const createPortalSessions = (pool: Pool, ttlMs = SESSION_TTL_MS): PortalSessions => ({
  async create(credential, principalName) {
    const secret = randomBytes(32).toString("base64url");
    await pool.query("delete from portal_sessions where expires_at < now()");
    await pool.query("insert into portal_sessions (id_sha256, sealed_credential, principal, expires_at) values ($1, $2, $3, now() + $4 * interval '1 millisecond')", [
      sha256(secret),
      seal(secret, credential),
      principalName,
      ttlMs,
    ]);
    return secret;
  },
  async open(secret) {
    if (!/^[A-Za-z0-9_-]{43}$/.test(secret)) return undefined;
    const row = (await pool.query<{ sealed_credential: Buffer }>("select sealed_credential from portal_sessions where id_sha256 = $1 and expires_at > now()", [sha256(secret)])).rows[0];
    return row ? unseal(secret, row.sealed_credential) : undefined;
  },
  async end(secret) {
    await pool.query("delete from portal_sessions where id_sha256 = $1", [sha256(secret)]);
  },
});
