/**
 * Picks the authenticator for the configured mode. Kubernetes mode with a tokens file accepts both
 * the file's static tokens and service-account tokens (TokenReview). Static mode without a tokens file (a newcomer
 * running `npx maas-billing serve`) creates a local admin token once: its hash goes to
 * <data-dir>/tokens.yaml and the token itself to <data-dir>/admin-token (mode 0600); only the
 * file path is logged, never the token.
 */
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { stringify } from "yaml";
import type { ServiceConfig } from "../config";
import { ChainedAuthenticator } from "./chain";
import { inClusterApi, KubernetesAuthenticator } from "./kubernetes";
import { newToken, StaticTokenAuthenticator } from "./static";
import type { Authenticator } from "./types";

export interface SelectedAuth {
  readonly authenticator: Authenticator;
  /** Set when a local admin token was created or reused; where to read it. */
  readonly localAdminTokenFile?: string;
}

export const selectAuthenticator = async (config: Pick<ServiceConfig, "auth" | "dataDir">): Promise<SelectedAuth> => {
  if (config.auth.mode === "kubernetes") {
    const kubernetes = new KubernetesAuthenticator(inClusterApi());
    // The platform mounts hashed per-tenant tokens next to Kubernetes mode: look them up first.
    if (!config.auth.tokensFile) return { authenticator: kubernetes };
    return { authenticator: new ChainedAuthenticator([StaticTokenAuthenticator.fromFile(config.auth.tokensFile), kubernetes]) };
  }
  if (config.auth.tokensFile) return { authenticator: StaticTokenAuthenticator.fromFile(config.auth.tokensFile) };
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
