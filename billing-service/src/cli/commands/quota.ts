/** `maas-billing quota set|list`: budgets per tenant (or user), per day or month. */
import { Command } from "commander";
import { listQuotas, setQuota, type QuotaKind, type QuotaPeriod } from "../../quota/store";
import { commandConfig, withMigratedDatabase, writeJson } from "../context";

export const quotaCommand = (): Command => {
  const quota = new Command("quota").description("token and cost budgets");
  quota
    .command("set")
    .description("set a tenant's (or one user's) budget; cost limits are in minor currency units")
    .requiredOption("--tenant <tenant>", "tenant name")
    .option("--user <user>", "only this user (default: the whole tenant)")
    .requiredOption("--kind <kind>", "tokens | cost")
    .requiredOption("--period <period>", "day | month (UTC)")
    .requiredOption("--limit <n>", "tokens, or minor units for --kind cost")
    .action(async (flags: { tenant: string; user?: string; kind: string; period: string; limit: string }, command: Command) => {
      if (!["tokens", "cost"].includes(flags.kind)) throw new Error(`--kind: expected tokens or cost, got ${JSON.stringify(flags.kind)}`);
      if (!["day", "month"].includes(flags.period)) throw new Error(`--period: expected day or month, got ${JSON.stringify(flags.period)}`);
      if (!/^\d+$/.test(flags.limit)) throw new Error(`--limit: expected a non-negative integer, got ${JSON.stringify(flags.limit)}`);
      await withMigratedDatabase(commandConfig(command), async (pool) => {
        await setQuota(pool, { tenant: flags.tenant, user: flags.user, kind: flags.kind as QuotaKind, period: flags.period as QuotaPeriod, limit: BigInt(flags.limit) });
        writeJson({ quotas: await listQuotas(pool, flags.tenant) });
      });
    });
  quota
    .command("list")
    .description("a tenant's budgets and their use in the current period")
    .requiredOption("--tenant <tenant>", "tenant name")
    .action(async (flags: { tenant: string }, command: Command) => {
      await withMigratedDatabase(commandConfig(command), async (pool) => writeJson({ quotas: await listQuotas(pool, flags.tenant) }));
    });
  return quota;
};
