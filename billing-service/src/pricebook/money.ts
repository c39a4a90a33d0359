/**
 * Exact money arithmetic on BigInt. Amounts are integer minor units (cents for USD); prices are
 * decimal strings parsed to integers scaled by 10^12, so a line's exact amount is a rational
 * numerator over one common denominator and nothing is ever a float.
 *
 * Rounding rule (the only one): an invoice's total is its exact sum rounded half away from zero
 * to the minor unit; each line gets its exact amount rounded down, and the minor units left over
 * go one each to the lines with the largest remainders (ties: the earlier line), so the lines
 * always add up to the total.
 */
export const PRICE_SCALE_DIGITS = 12;
export const PRICE_SCALE = 10n ** BigInt(PRICE_SCALE_DIGITS);

const DECIMAL = /^(\d+)(?:\.(\d+))?$/;

/** "3.25" -> 3.25 * 10^12 as BigInt. Throws on anything that is not a plain non-negative decimal. */
export const parseDecimal = (text: string, scaleDigits = PRICE_SCALE_DIGITS): bigint => {
  const m = DECIMAL.exec(text.trim());
  if (!m) throw new Error(`expected a decimal like "3.25", got ${JSON.stringify(text)}`);
  const fraction = m[2] ?? "";
  if (fraction.length > scaleDigits) throw new Error(`at most ${scaleDigits} decimal places, got ${JSON.stringify(text)}`);
  return BigInt(m[1]) * 10n ** BigInt(scaleDigits) + BigInt(fraction.padEnd(scaleDigits, "0") || "0");
};

/** Integer scaled by 10^digits -> decimal text ("-12.30" for -1230n with 2 digits). */
export const formatScaled = (value: bigint, digits: number): string => {
  const negative = value < 0n;
  const abs = negative ? -value : value;
  const unit = 10n ** BigInt(digits);
  const whole = abs / unit;
  const fraction = digits > 0 ? `.${(abs % unit).toString().padStart(digits, "0")}` : "";
  return `${negative ? "-" : ""}${whole}${fraction}`;
};

/** Decimal text without trailing zeros beyond `minDigits` ("3.000000000000" -> "3.00"). */
export const formatPrice = (scaled: bigint, minDigits = 2): string => {
  const full = formatScaled(scaled, PRICE_SCALE_DIGITS);
  const [whole, fraction = ""] = full.split(".");
  const trimmed = fraction.replace(/0+$/, "");
  return `${whole}.${trimmed.padEnd(minDigits, "0")}`;
};

export const floorDiv = (n: bigint, d: bigint): bigint => {
  const q = n / d;
  return (n % d !== 0n && (n < 0n) !== (d < 0n)) ? q - 1n : q;
};

export const roundHalfAwayFromZero = (n: bigint, d: bigint): bigint => {
  const negative = n < 0n;
  const abs = negative ? -n : n;
  const q = (2n * abs + d) / (2n * d);
  return negative ? -q : q;
};

export interface Allocation {
  readonly totalMinor: bigint;
  readonly linesMinor: bigint[];
}

/** Applies the rounding rule to exact line amounts numerators[i] / denominator (in minor units). */
export const allocate = (numerators: readonly bigint[], denominator: bigint): Allocation => {
  const exactSum = numerators.reduce((a, b) => a + b, 0n);
  const totalMinor = roundHalfAwayFromZero(exactSum, denominator);
  const floors = numerators.map((n) => floorDiv(n, denominator));
  const remainders = numerators.map((n, i) => n - floors[i] * denominator);
  let leftover = totalMinor - floors.reduce((a, b) => a + b, 0n);
  const order = numerators.map((_, i) => i).sort((a, b) => (remainders[b] > remainders[a] ? 1 : remainders[b] < remainders[a] ? -1 : a - b));
  const linesMinor = [...floors];
  for (const i of order) {
    if (leftover <= 0n) break;
    linesMinor[i] += 1n;
    leftover -= 1n;
  }
  return { totalMinor, linesMinor };
};

/**
 * Splits a whole `total` by `weights` so the parts add up exactly: `allocate` on the exact shares
 * total*w/sum (largest remainder, ties to the earlier part; as dinero.js `distribute`). Used for
 * token splits (the collector's input/output apportioning) as well as money. With all weights
 * zero there is no basis for a split: the whole goes to the first part, and callers flag it.
 */
export const distribute = (total: bigint, weights: readonly bigint[]): bigint[] => {
  if (total < 0n) throw new Error(`distribute: total must not be negative, got ${total}`);
  if (weights.length === 0) throw new Error("distribute: no weights");
  if (weights.some((w) => w < 0n)) throw new Error("distribute: weights must not be negative");
  const sum = weights.reduce((a, w) => a + w, 0n);
  if (sum === 0n) return weights.map((_, i) => (i === 0 ? total : 0n));
  return allocate(
    weights.map((w) => total * w),
    sum,
  ).linesMinor;
};
