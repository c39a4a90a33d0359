/** `maas-billing token create --name N (--admin | --tenant T)`: a new API token and its hashed file entry. */
import { Command } from "commander";
import { stringify } from "yaml";
import { newToken } from "../../auth/static";

export const tokenCommand = (): Command => {
  const token = new Command("token").description("static API tokens");
  token
    .command("create")
    .description("print a new random token (stderr) and the hashed entry for MAAS_BILLING_TOKENS_FILE (stdout)")
    .requiredOption("--name <name>", "who the token is for (shows in logs)")
    .option("--admin", "admin token (all tenants)")
    .option("--tenant <tenant>", "token scoped to one tenant")
    .action((flags: { name: string; admin?: boolean; tenant?: string }) => {
      if (!flags.admin === !flags.tenant) throw new Error("give exactly one of --admin or --tenant");
      const { token: value, entry } = newToken(flags.name, flags.admin ? { admin: true } : { tenant: flags.tenant! });
      process.stderr.write(`token (shown once, store it in a Secret): ${value}\n`);
      process.stdout.write(stringify([entry]));
    });
  return token;
};
