/**
 * Simulated traffic for the demo: two tenants, several users, tiers and models. Every request
 * adds input+output tokens to Limitador's `authorized_hits` and one to `authorized_calls` (labels
 * as MaaS sets them through the TelemetryPolicy), and the same tokens to the vLLM counters of the
 * model's namespace. Requests over a tier's budget are rejected (`limited_calls`). The simulator
 * keeps the true totals, so the demo can show that the collector's numbers are exact.
 */
import type { CounterEndpoint } from "./counter-endpoint";

export interface DemoUser {
  readonly tenant: string;
  readonly namespace: string;
  readonly route: string;
  readonly user: string;
  readonly tier: string;
  readonly models: readonly string[];
}

export const DEMO_USERS: readonly DemoUser[] = [
  { tenant: "acme", namespace: "acme-models", route: "chat", user: "alice", tier: "premium", models: ["llama-3-8b", "granite-8b"] },
  { tenant: "acme", namespace: "acme-models", route: "chat", user: "bob", tier: "free", models: ["llama-3-8b"] },
  { tenant: "acme", namespace: "acme-research", route: "batch", user: "carol", tier: "enterprise", models: ["granite-8b"] },
  { tenant: "globex", namespace: "globex-llm", route: "api", user: "dan", tier: "premium", models: ["llama-3-8b"] },
  { tenant: "globex", namespace: "globex-llm", route: "api", user: "erin", tier: "free", models: ["llama-3-8b"] },
];

/** Tenant map for the collector: acme owns two namespaces. */
export const DEMO_TENANTS = [
  { name: "acme", namespaces: ["acme-models", "acme-research"] },
  { name: "globex", namespaces: ["globex-llm"] },
];

export interface TrueTotals {
  inputTokens: number;
  outputTokens: number;
  requests: number;
  limited: number;
}

export class TrafficSimulator {
  readonly truth = new Map<string, TrueTotals>();
  private seed: number;

  constructor(
    private readonly gateway: CounterEndpoint,
    private readonly modelServers: ReadonlyMap<string, CounterEndpoint>,
    seed = 42,
  ) {
    this.seed = seed;
  }

  private rand(): number {
    // xorshift32: repeatable demo runs.
    let x = this.seed;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.seed = x >>> 0;
    return this.seed / 4294967296;
  }

  /** One simulated tick: a few requests from random users. */
  tick(): void {
    const requests = 2 + Math.floor(this.rand() * 4);
    for (let i = 0; i < requests; i++) {
      const u = DEMO_USERS[Math.floor(this.rand() * DEMO_USERS.length)];
      const model = u.models[Math.floor(this.rand() * u.models.length)];
      const key = `${u.tenant}`;
      const t = this.truth.get(key) ?? { inputTokens: 0, outputTokens: 0, requests: 0, limited: 0 };
      this.truth.set(key, t);
      const limitadorNamespace = `${u.namespace}/${u.route}`;
      if (u.tier === "free" && this.rand() < 0.15) {
        // Over the free tier's token budget: Limitador answers 429 and nothing reaches the model.
        this.gateway.inc("limited_calls", { limitador_namespace: limitadorNamespace });
        t.limited += 1;
        continue;
      }
      const input = 50 + Math.floor(this.rand() * 800);
      const output = 20 + Math.floor(this.rand() * 1200);
      this.gateway.inc("authorized_calls", { limitador_namespace: limitadorNamespace, user: u.user, tier: u.tier });
      this.gateway.inc("authorized_hits", { limitador_namespace: limitadorNamespace, user: u.user, tier: u.tier, model }, input + output);
      const server = this.modelServers.get(u.namespace)!;
      server.inc("vllm:prompt_tokens_total", { model_name: model }, input);
      server.inc("vllm:generation_tokens_total", { model_name: model }, output);
      server.inc("vllm:request_success_total", { model_name: model, finished_reason: "stop" });
      t.inputTokens += input;
      t.outputTokens += output;
      t.requests += 1;
    }
  }
}
