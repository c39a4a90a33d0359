/**
 * Price books for property tests: two versions, the second from mid-May 2026 at a whole hour, with
 * generated entries (prices as 12-decimal strings).
 */
import fc from "fast-check";
import { formatScaled } from "../../src/pricebook/money";
import { parsePriceBook, type PriceBook } from "../../src/pricebook/pricebook";

/** A price as the book writes it: 0 to 50 with 12 decimals. */
export const priceText = fc.bigInt({ min: 0n, max: 50n * 10n ** 12n }).map((scaled) => formatScaled(scaled, 12));

export const twoVersionBook = ({ digits, v1, v2 }: { digits: number; v1: unknown[]; v2: unknown[] }): PriceBook =>
  parsePriceBook(
    JSON.stringify({
      currency: "USD",
      minorUnitDigits: digits,
      versions: [
        { effectiveFrom: "2026-01-01T00:00:00Z", prices: v1 },
        { effectiveFrom: "2026-05-15T12:00:00Z", prices: v2 },
      ],
    }),
    "property book",
  );
