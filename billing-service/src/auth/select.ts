/**
 * Picks the authenticator for the configured mode. Static mode without a tokens file (a newcomer
 * running `npx maas-billing serve`) creates a local admin token once: its hash goes to
 * <data-dir>/tokens.yaml and the token itself to <data-dir>/admin-token (mode 0600); only the
 * file path is logged, never the token.
 */
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { stringify } from "yaml";
import type { ServiceConfig } from "../config";
import { inClusterApi, KubernetesAuthenticator } from "./kubernetes";
import { newToken, StaticTokenAuthenticator } from "./static";
import type { Authenticator } from "./types";

export interface SelectedAuth {
  readonly authenticator: Authenticator;
  /** Set when a local admin token was created or reused; where to read it. */
  readonly localAdminTokenFile?: string;
}

export const selectAuthenticator = async (config: ServiceConfig): Promise<SelectedAuth> => {
  if (config.authMode === "kubernetes") return { authenticator: new KubernetesAuthenticator(inClusterApi()) };
  if (config.tokensFile) return { authenticator: StaticTokenAuthenticator.fromFile(config.tokensFile) };
  const tokensFile = path.join(config.dataDir, "tokens.yaml");
  const tokenFile = path.join(config.dataDir, "admin-token");
  if (!existsSync(tokensFile) || !existsSync(tokenFile)) {
    await mkdir(config.dataDir, { recursive: true });
    const { token, entry } = newToken("local-admin", { admin: true });
    await writeFile(tokenFile, `${token}\n`, { mode: 0o600 });
    await writeFile(tokensFile, stringify({ tokens: [entry] }), { mode: 0o600 });
  }
  return { authenticator: StaticTokenAuthenticator.fromFile(tokensFile), localAdminTokenFile: tokenFile };
};
