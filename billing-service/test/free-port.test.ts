/**
 * freePorts hands out distinct ports: two separate freePort() calls may get the same one (the
 * kernel is free to reuse a just-released port), which once made a test service's metrics port
 * equal its main port.
 */
import { describe, expect, it } from "vitest";
import { freePorts } from "../src/net/free-port";

describe("freePorts", () => {
  it("returns the asked number of distinct ports", async () => {
    for (let round = 0; round < 20; round++) {
      const ports = await freePorts(5);
      expect(ports).toHaveLength(5);
      expect(new Set(ports).size).toBe(5);
    }
  });
});
