/**
 * Tries several authenticators in order and takes the first that recognises the token.
 * In a cluster the platform mounts hashed per-tenant tokens (MAAS_BILLING_TOKENS_FILE) and also
 * wants Kubernetes service-account tokens to work, so Kubernetes mode consults the tokens file
 * first: a hash lookup is local and cheap, and a static token never leaves the pod in a TokenReview.
 */
import type { Authenticator, Principal } from "./types";

export class ChainedAuthenticator implements Authenticator {
  constructor(private readonly chain: readonly Authenticator[]) {}

  async authenticate(bearerToken: string): Promise<Principal | undefined> {
    for (const authenticator of this.chain) {
      const principal = await authenticator.authenticate(bearerToken);
      if (principal) return principal;
    }
    return undefined;
  }

  boundSources(): ReadonlySet<string> {
    return new Set(this.chain.flatMap((a) => [...(a.boundSources?.() ?? [])]));
  }
}
