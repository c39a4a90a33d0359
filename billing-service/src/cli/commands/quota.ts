/** `maas-billing quota set|list|delete`: budgets per tenant (or user), per day or month. */
import { Command } from "commander";
import type { Pool } from "pg";
import { loadPriceBook } from "../../pricebook/pricebook";
import { readQuotaStates } from "../../quota/service";
import { deleteQuota, QUOTA_KINDS, QUOTA_PERIODS, setQuota, type QuotaKind, type QuotaPeriod } from "../../quota/store";
import { commandConfig, withMigratedDatabase, writeJson } from "../context";

const listQuotas = async (pool: Pool, priceBookPath: string, tenant: string) => (await readQuotaStates(pool, loadPriceBook(priceBookPath), tenant)).quotas;

const checkKindPeriod = (flags: { kind: string; period: string }): void => {
  if (!(QUOTA_KINDS as readonly string[]).includes(flags.kind)) throw new Error(`--kind: expected ${QUOTA_KINDS.join(", ")}, got ${JSON.stringify(flags.kind)}`);
  if (!(QUOTA_PERIODS as readonly string[]).includes(flags.period)) throw new Error(`--period: expected day or month, got ${JSON.stringify(flags.period)}`);
};

export const quotaCommand = (): Command => {
  const quota = new Command("quota").description("token and cost budgets");
  quota
    .command("set")
    .description("set a tenant's (or one user's) budget; cost limits are in minor currency units")
    .requiredOption("--tenant <tenant>", "tenant name")
    .option("--user <user>", "only this user (default: the whole tenant)")
    .requiredOption("--kind <kind>", "tokens | requests | cost")
    .requiredOption("--period <period>", "day | month (UTC)")
    .requiredOption("--limit <n>", "tokens, or minor units for --kind cost")
    .action(async (flags: { tenant: string; user?: string; kind: string; period: string; limit: string }, command: Command) => {
      checkKindPeriod(flags);
      if (!/^\d+$/.test(flags.limit)) throw new Error(`--limit: expected a non-negative integer, got ${JSON.stringify(flags.limit)}`);
      const config = commandConfig(command);
      await withMigratedDatabase(config, async (pool) => {
        await setQuota(pool, { tenant: flags.tenant, user: flags.user, kind: flags.kind as QuotaKind, period: flags.period as QuotaPeriod, limit: BigInt(flags.limit) });
        writeJson({ quotas: await listQuotas(pool, config.priceBook.path, flags.tenant) });
      });
    });
  quota
    .command("list")
    .description("a tenant's budgets and their use in the current period (ledger usage + open reservations)")
    .requiredOption("--tenant <tenant>", "tenant name")
    .action(async (flags: { tenant: string }, command: Command) => {
      const config = commandConfig(command);
      await withMigratedDatabase(config, async (pool) => writeJson({ quotas: await listQuotas(pool, config.priceBook.path, flags.tenant) }));
    });
  quota
    .command("delete")
    .description("delete a tenant's (or one user's) budget")
    .requiredOption("--tenant <tenant>", "tenant name")
    .option("--user <user>", "only this user (default: the tenant-wide quota)")
    .requiredOption("--kind <kind>", "tokens | requests | cost")
    .requiredOption("--period <period>", "day | month (UTC)")
    .action(async (flags: { tenant: string; user?: string; kind: string; period: string }, command: Command) => {
      checkKindPeriod(flags);
      const config = commandConfig(command);
      await withMigratedDatabase(config, async (pool) => {
        const deleted = await deleteQuota(pool, { tenant: flags.tenant, user: flags.user, kind: flags.kind as QuotaKind, period: flags.period as QuotaPeriod });
        if (!deleted) throw new Error(`no ${flags.kind}/${flags.period} quota for tenant ${flags.tenant}${flags.user ? ` user ${flags.user}` : ""}: see quota list`);
        writeJson({ quotas: await listQuotas(pool, config.priceBook.path, flags.tenant) });
      });
    });
  return quota;
};
