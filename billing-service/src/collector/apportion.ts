/**
 * Integer apportioning: split a whole number by weights so that the parts add up exactly.
 *
 * Largest-remainder method (as dinero.js `distribute`): every part gets the floor of its exact
 * share, then the units left over go one at a time to the parts with the largest fractional
 * remainders (ties to the earlier part). Works on bigint so no share is ever a float.
 */
export const apportion = (total: bigint, weights: readonly bigint[]): bigint[] => {
  if (total < 0n) throw new Error(`apportion: total must not be negative, got ${total}`);
  if (weights.some((w) => w < 0n)) throw new Error("apportion: weights must not be negative");
  const sum = weights.reduce((a, w) => a + w, 0n);
  if (weights.length === 0) throw new Error("apportion: no weights");
  if (sum === 0n) {
    // No basis for a split: the whole amount goes to the first part, and callers flag it.
    return weights.map((_, i) => (i === 0 ? total : 0n));
  }
  const parts = weights.map((w) => (total * w) / sum);
  const remainders = weights.map((w, i) => ({ i, r: (total * w) % sum }));
  let left = total - parts.reduce((a, p) => a + p, 0n);
  remainders.sort((a, b) => (a.r === b.r ? a.i - b.i : a.r > b.r ? -1 : 1));
  for (const { i } of remainders) {
    if (left === 0n) break;
    parts[i] += 1n;
    left -= 1n;
  }
  return parts;
};
