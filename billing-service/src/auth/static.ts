/**
 * Static tokens from a file (a mounted Secret): YAML or JSON
 *   tokens:
 *     - { name: ops, admin: true, sha256: <hex> }
 *     - { name: acme-reader, tenant: acme, sha256: <hex> }
 *     - { name: platform-gateway, quotaGateway: true, sha256: <hex> }   # POST /v1/quota/authorize only
 *     - { name: sender-gateway, sources: ["//gateway/maas"], sha256: <hex> }
 * Only SHA-256 hashes are stored; a presented token is hashed and looked up. Tokens are long
 * random strings (not passwords), so a plain SHA-256 is enough to make the file useless to a reader.
 * An entry with `sources` is a sender: it may post events under those sources (for every tenant,
 * or only for `tenant` when set) and nothing else; those sources are then bound to it, so no other
 * token, admin included, may write them (docs/threat-model.md B1).
 */
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { parse } from "yaml";
import { z } from "zod";
import { sha256Hex } from "../sha256";
import { isAdminAction, type Authenticator, type Principal } from "./types";

const entrySchema = z
  .object({
    name: z.string().min(1),
    sha256: z.string().regex(/^[0-9a-f]{64}$/, "expected the lowercase hex SHA-256 of the token"),
    admin: z.boolean().optional(),
    tenant: z.string().min(1).optional(),
    /** The gateway's credential: the request-path quota check of any tenant, nothing else. */
    quotaGateway: z.literal(true).optional(),
    sources: z.array(z.string().min(1)).min(1).optional().describe("event sources this sender token may write (and nobody else)"),
  })
  .refine((e) => e.admin === true || e.tenant !== undefined || e.quotaGateway === true || e.sources !== undefined, "an entry needs admin: true, a tenant, quotaGateway: true, or sources (a sender)")
  .refine((e) => !(e.admin === true && e.sources !== undefined), "a sender (sources) cannot be an admin token: give it its own entry")
  .refine((e) => !(e.quotaGateway === true && e.sources !== undefined), "a sender (sources) cannot be the quota gateway token: give it its own entry");

const fileSchema = z.object({ tokens: z.array(entrySchema) });
export type StaticTokenEntry = z.infer<typeof entrySchema>;

/** The one route a quotaGateway credential may call. */
export const QUOTA_GATEWAY_ROUTE = "POST /v1/quota/authorize";

/** The gateway's quota credential: a principal that may call the authorize route and nothing else. */
export const isQuotaGateway = (principal: Principal | undefined): boolean =>
  principal?.onlyRoutes !== undefined && principal.onlyRoutes.length === 1 && principal.onlyRoutes[0] === QUOTA_GATEWAY_ROUTE;

// Every request with a static token hashes it (the gateway's check, 1,000s a second): sha256Hex is
// the one-shot digest, as a Hash object per call was most of the auth hook's CPU in the quota bench.
export const hashToken = sha256Hex;

/** A new random token (for `maas-billing` to hand out) and its file entry. */
export const newToken = (
  name: string,
  scope: { admin: true } | { tenant: string } | { quotaGateway: true } | { sources: string[]; tenant?: string },
): { token: string; entry: StaticTokenEntry } => {
  const token = `mb_${randomBytes(24).toString("base64url")}`;
  return { token, entry: { name, sha256: hashToken(token), ...scope } };
};

export const parseTokenFile = (text: string, origin: string): StaticTokenEntry[] => {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (e) {
    throw new Error(`${origin}: not YAML (${(e as Error).message.split("\n")[0]}); expected "tokens: [...]"`);
  }
  // An empty file is most likely a shard with nothing in it yet: say what an empty one looks like.
  if (doc === null || doc === undefined) throw new Error(`${origin}: empty; expected "tokens: [...]" (a file with no tokens is "tokens: []")`);
  const parsed = fileSchema.safeParse(doc);
  if (!parsed.success) {
    throw new Error(parsed.error.issues.map((i) => `${origin}: ${i.path.join(".")}: ${i.message}`).join("\n"));
  }
  return parsed.data.tokens;
};

/** The files a tokens path names: itself, or a directory's `*.yaml` files in name order. */
export const tokenFilesAt = (file: string): string[] =>
  statSync(file).isDirectory()
    ? readdirSync(file)
        .filter((n) => !n.startsWith(".") && /\.ya?ml$/.test(n))
        .sort()
        .map((n) => path.join(file, n))
    : [file];

/**
 * Every entry of the file(s) at `file`. The same token hash twice (in one file or two) is refused,
 * naming both places: a map keyed by hash would silently keep one of the two scopes.
 */
export const readTokenEntries = (file: string): StaticTokenEntry[] => {
  const files = tokenFilesAt(file);
  if (files.length === 0) throw new Error(`${file}: a tokens directory with no *.yaml file`);
  const seen = new Map<string, string>();
  const entries: StaticTokenEntry[] = [];
  for (const f of files) {
    for (const e of parseTokenFile(readFileSync(f, "utf8"), f)) {
      const where = `${f}: ${e.name}`;
      const other = seen.get(e.sha256);
      if (other !== undefined) throw new Error(`${where}: the same token hash as ${other}; each token needs one entry`);
      seen.set(e.sha256, where);
      entries.push(e);
    }
  }
  return entries;
};

const deepFreeze = <T extends object>(o: T): T => {
  for (const v of Object.values(o)) if (typeof v === "object" && v !== null && !Object.isFrozen(v)) deepFreeze(v as object);
  return Object.freeze(o);
};

/** What an entry may do (the file's entries are fixed for the process's life). */
const principalOf = (entry: StaticTokenEntry): Principal => {
  const admin = entry.admin === true;
  const sources = entry.sources;
  if (sources !== undefined) {
    // A sender writes events and reads nothing: no tenant access, no admin.
    return {
      name: entry.name,
      may: async () => false,
      maySend: (tenant, source) => sources.includes(source) && (entry.tenant === undefined || entry.tenant === tenant),
      sender: { sources, ...(entry.tenant === undefined ? {} : { tenant: entry.tenant }) },
    };
  }
  const gateway = entry.quotaGateway === true && !admin && entry.tenant === undefined;
  // A tenant token may do every tenant action on its own tenant and no admin action; the gateway's
  // quota credential only checks quotas (of every tenant), and only on its one route (onlyRoutes).
  return {
    name: entry.name,
    ...(admin || entry.tenant === undefined ? {} : { tenant: entry.tenant }),
    may: async (action, tenant) => admin || (gateway ? action === "quotas.check" : !isAdminAction(action) && entry.tenant === tenant),
    ...(gateway ? { onlyRoutes: [QUOTA_GATEWAY_ROUTE] } : {}),
  };
};

export class StaticTokenAuthenticator implements Authenticator {
  /**
   * SHA-256 of each token -> its principal, built once: every request hashes the presented token
   * and looks it up (the gateway's check runs this 1,000s of times a second), nothing else.
   * Frozen, so no request's code can change what the next request's principal may do.
   */
  private readonly byHash: Map<string, Principal>;
  private readonly bound: ReadonlySet<string>;

  constructor(entries: readonly StaticTokenEntry[]) {
    this.byHash = new Map(entries.map((e) => [e.sha256, deepFreeze(principalOf(e))]));
    this.bound = new Set(entries.flatMap((e) => e.sources ?? []));
  }

  boundSources(): ReadonlySet<string> {
    return this.bound;
  }

  /**
   * `file` is a tokens file, or a directory whose `*.yaml` files are all read (in name order; names
   * starting with "." are skipped: a projected volume's `..data` links). The platform mounts a
   * directory: the platform tokens plus the tenant tokens split over several Secrets, so that no
   * one Secret lists every tenant (docs/scaling.md "Platform objects that list every tenant").
   */
  static fromFile(file: string): StaticTokenAuthenticator {
    return new StaticTokenAuthenticator(readTokenEntries(file));
  }

  async authenticate(token: string): Promise<Principal | undefined> {
    return this.byHash.get(hashToken(token));
  }
}
