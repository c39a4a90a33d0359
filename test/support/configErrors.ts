import { expect } from "vitest";
import { ConfigError, parseStackConfig } from "../../components/config";

/** The ConfigError lines for a raw config; fails when it parses. */
export function errorsOf(raw: Record<string, unknown>): string[] {
  try {
    parseStackConfig(raw);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).issues;
  }
  throw new Error("config was accepted");
}
