/**
 * Default quotas per tier, from the platform config (SERVICE_ENV.quotaDefaults, JSON):
 *   {"free": [{"kind": "tokens", "period": "day", "limit": 100000}], "premium": [...]}
 * A default applies to each user (API key identity) of that tier that has no quota of its own
 * for the same kind and period. Tenant-wide quotas are always explicit (PUT /v1/tenants/{t}/quotas).
 */
import { z } from "zod";
import { QUOTA_KINDS, QUOTA_PERIODS, type QuotaRule } from "./store";

const ruleSchema = z.strictObject({
  kind: z.enum(QUOTA_KINDS),
  period: z.enum(QUOTA_PERIODS),
  limit: z.union([z.number().int().min(0).max(Number.MAX_SAFE_INTEGER), z.string().regex(/^\d+$/, "a non-negative integer")]),
});

export const tierDefaultsSchema = z
  .record(z.string().min(1), z.array(ruleSchema))
  .superRefine((tiers, ctx) => {
    for (const [tier, rules] of Object.entries(tiers)) {
      const seen = new Set<string>();
      rules.forEach((r, i) => {
        const key = `${r.kind}/${r.period}`;
        if (seen.has(key)) ctx.addIssue({ code: "custom", path: [tier, i], message: `two defaults for ${key} in tier ${tier}: keep one` });
        seen.add(key);
      });
    }
  });

export type TierDefaultsInput = z.input<typeof tierDefaultsSchema>;
export type TierDefaults = ReadonlyMap<string, readonly QuotaRule[]>;

export const parseTierDefaults = (input: unknown, origin = "tier defaults"): TierDefaults => {
  const parsed = tierDefaultsSchema.safeParse(input);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");
    throw new Error(`${origin}: ${issues} (expected {"<tier>": [{"kind": "tokens|requests|cost", "period": "day|month", "limit": N}]})`);
  }
  return new Map(
    Object.entries(parsed.data).map(([tier, rules]) => [tier, rules.map((r): QuotaRule => ({ userKey: "", kind: r.kind, period: r.period, limit: BigInt(r.limit), source: "tier-default" }))]),
  );
};

/**
 * The rules of one check: the tenant-wide rows, the user's rows, and the user's tier defaults
 * for the (kind, period) pairs the user has no row for. In key order (user, kind, period).
 */
export const applicableRules = (tenantRules: readonly QuotaRule[], defaults: TierDefaults, user?: string, tier?: string): QuotaRule[] => {
  const userKey = user ?? "";
  const own = tenantRules.filter((r) => r.userKey === "" || (userKey !== "" && r.userKey === userKey));
  if (userKey === "" || !tier) return own;
  const explicit = new Set(own.filter((r) => r.userKey === userKey).map((r) => `${r.kind}/${r.period}`));
  const extra = (defaults.get(tier) ?? []).filter((d) => !explicit.has(`${d.kind}/${d.period}`)).map((d) => ({ ...d, userKey }));
  return [...own, ...extra].sort((a, b) => (a.userKey + "\u0000" + a.kind + "\u0000" + a.period).localeCompare(b.userKey + "\u0000" + b.kind + "\u0000" + b.period));
};
