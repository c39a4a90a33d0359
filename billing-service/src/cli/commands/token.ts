/** `maas-billing token create --name N (--admin | --tenant T | --source S...)`: a new API token and its hashed file entry. */
import { Command } from "commander";
import { stringify } from "yaml";
import { newToken } from "../../auth/static";

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export const tokenCommand = (): Command => {
  const token = new Command("token").description("static API tokens");
  token
    .command("create")
    .description("print a new random token (stderr) and the hashed entry for MAAS_BILLING_TOKENS_FILE (stdout)")
    .requiredOption("--name <name>", "who the token is for (shows in logs)")
    .option("--admin", "admin token (all tenants)")
    .option("--tenant <tenant>", "token scoped to one tenant (with --source: the sender writes only this tenant's events)")
    .option("--source <source>", "sender token: the event source it alone may write (repeatable), e.g. //gateway/maas", collect)
    .action((flags: { name: string; admin?: boolean; tenant?: string; source?: string[] }) => {
      if (flags.source !== undefined) {
        if (flags.admin) throw new Error("a sender token (--source) cannot be an admin token: create two tokens");
      } else if (!flags.admin === !flags.tenant) {
        throw new Error("give exactly one of --admin, --tenant, or --source (a sender)");
      }
      const scope = flags.source !== undefined ? { sources: flags.source, ...(flags.tenant ? { tenant: flags.tenant } : {}) } : flags.admin ? { admin: true as const } : { tenant: flags.tenant! };
      const { token: value, entry } = newToken(flags.name, scope);
      process.stderr.write(`token (shown once, store it in a Secret): ${value}\n`);
      process.stdout.write(stringify([entry]));
    });
  return token;
};
