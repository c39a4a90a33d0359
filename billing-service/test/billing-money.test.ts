/**
 * Money without a database: the rounding rule (lines always add up to the
 * total, each within one minor unit of its exact amount), decimal parsing, and readable errors
 * for a bad price book (service settings: service-config.test.ts).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { allocate, formatScaled, parseDecimal } from "../src/pricebook/money";
import { priceFor } from "../src/pricebook/cost";
import { parsePriceBook, PriceBookError, versionAt } from "../src/pricebook/pricebook";
import { testPriceBook } from "./support/billing-db";

/** The message of the error `run` throws; fails the test unless it throws a `type`. */
const thrownMessage = (run: () => unknown, type: abstract new (...args: never[]) => Error): string => {
  try {
    run();
  } catch (e) {
    expect(e).toBeInstanceOf(type);
    return (e as Error).message;
  }
  throw new Error("expected an error, none was thrown");
};

describe("rounding rule", () => {
  it("lines add up to the rounded total and stay within one minor unit of their exact amounts", () => {
    const denominator = 1000n;
    fc.assert(
      fc.property(fc.array(fc.bigInt({ min: -(10n ** 9n), max: 10n ** 12n }), { minLength: 1, maxLength: 30 }), (numerators) => {
        const { totalMinor, linesMinor } = allocate(numerators, denominator);
        expect(linesMinor.reduce((a, b) => a + b, 0n)).toBe(totalMinor);
        const exactSum = numerators.reduce((a, b) => a + b, 0n);
        // total = exact sum rounded half away from zero: |total*d - sum| <= d/2
        const diff = totalMinor * denominator - exactSum;
        expect(2n * (diff < 0n ? -diff : diff) <= denominator).toBe(true);
        numerators.forEach((n, i) => {
          const d = linesMinor[i] * denominator - n;
          expect(d > -denominator && d < denominator).toBe(true);
        });
      }),
    );
  });

  it("rounds half away from zero", () => {
    expect(allocate([1500n], 1000n).totalMinor).toBe(2n);
    expect(allocate([1499n], 1000n).totalMinor).toBe(1n);
    expect(allocate([-1500n], 1000n).totalMinor).toBe(-2n);
  });
});

describe("decimals", () => {
  it("parses and formats without floats", () => {
    expect(parseDecimal("0.1", 2)).toBe(10n);
    expect(parseDecimal("12.345678901234")).toBe(12_345_678_901_234n);
    expect(() => parseDecimal("1e3")).toThrow(/decimal/);
    expect(() => parseDecimal("0.1234567890123")).toThrow(/at most 12/);
    expect(formatScaled(-1230n, 2)).toBe("-12.30");
    expect(formatScaled(5n, 0)).toBe("5");
  });
});

describe("price book", () => {
  it("applies a version from its date, never before", () => {
    const book = testPriceBook();
    expect(priceFor(versionAt(book, new Date("2026-05-15T11:59:59.999Z"))!, { tenant: "acme", tier: "premium", model: "llama" })?.text.inputPerMillionTokens).toBe("2.50");
    expect(priceFor(versionAt(book, new Date("2026-05-15T12:00:00Z"))!, { tenant: "acme", tier: "premium", model: "llama" })?.text.inputPerMillionTokens).toBe("4.00");
    expect(versionAt(book, new Date("2025-12-31T23:59:59Z"))).toBeUndefined();
    expect(priceFor(book.versions[0], { tenant: "acme", tier: "free", model: "other" })?.tier).toBe("*");
  });

  it("explains what is wrong with a bad book", () => {
    const bad = `currency: usd
versions:
  - effectiveFrom: "2026-01-01"
    prices:
      - { tier: free, model: "*", inputPerMillionTokens: 3.0, outputPerMillionTokens: "15", perRequest: "-1" }`;
    const message = thrownMessage(() => parsePriceBook(bad, "book.yaml"), PriceBookError);
    expect(message).toContain("book.yaml: currency: expected an ISO 4217 code");
    expect(message).toContain("versions.0.effectiveFrom: expected an ISO date-time");
    expect(message).toContain("versions.0.prices.0.inputPerMillionTokens: write prices as quoted decimal strings");
    expect(message).toContain("versions.0.prices.0.perRequest: expected a non-negative decimal");
  });

  it("the shipped example book parses", async () => {
    const { loadPriceBook } = await import("../src/pricebook/pricebook");
    const { EXAMPLE_PRICE_BOOK } = await import("../src/config");
    const book = loadPriceBook(EXAMPLE_PRICE_BOOK);
    expect(book.currency).toBe("USD");
    expect(priceFor(book.versions[0], { tenant: "acme", tier: "premium", model: "any-model" })?.text.perRequest).toBe("0.002");
  });
});

describe("money as a Prometheus sample", () => {
  it("exports minor units exactly up to 2^53 - 1 and refuses a larger amount instead of rounding it", async () => {
    const { minorUnitsSample } = await import("../src/ops/metrics");
    expect(minorUnitsSample(2n ** 53n - 1n)).toBe(Number.MAX_SAFE_INTEGER);
    expect(minorUnitsSample(-12345n)).toBe(-12345);
    // 2^53 + 1 has no float64 of its own: Number() would silently give 2^53.
    expect(() => minorUnitsSample(2n ** 53n + 1n)).toThrow(/minor units.*2\^53/);
  });
});
