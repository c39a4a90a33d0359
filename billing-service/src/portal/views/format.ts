/**
 * Display formatting for the portal. Amounts arrive as exact decimal strings from the invoice
 * code (Invoice.total, InvoiceLine.amount, formatScaled); Intl formats the string itself (no
 * float on the way), so the page shows the invoice's figure with grouping and a currency sign.
 */
const groupInteger = new Intl.NumberFormat("en-US");

/** "1234567" -> "1,234,567" (BigInt-safe). */
export const count = (value: string | bigint | number): string => groupInteger.format(BigInt(value));

/** Compact token figures for cards: "12.3M", with the exact figure left to the title attribute. */
export const compact = (value: string | bigint): string =>
  new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 }).format(BigInt(value));

/** An exact decimal amount in a currency: ("1234.50", "USD", 2) -> "$1,234.50". */
export const money = (amount: string, currency: string, digits: number): string =>
  new Intl.NumberFormat("en-US", { style: "currency", currency, minimumFractionDigits: digits, maximumFractionDigits: digits }).format(
    amount as unknown as number, // Intl.NumberFormat formats decimal strings exactly (ECMA-402 NumberFormat v3).
  );

/** A price per unit, with all its significant decimals ("0.002" stays "0.002"). */
export const price = (amount: string, currency: string): string =>
  new Intl.NumberFormat("en-US", { style: "currency", currency, minimumFractionDigits: 2, maximumFractionDigits: 12 }).format(amount as unknown as number);

export const utcDateTime = (iso: string): string => `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
export const utcDate = (iso: string): string => iso.slice(0, 10);
