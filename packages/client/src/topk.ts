/** One of the k best classes. */
export interface TopKEntry {
  /** Class index in the probability vector. */
  index: number;
  /** `labels[index]`, or the index as text when no label is known. */
  label: string;
  probability: number;
}

/**
 * The `k` highest entries of `probabilities`, highest first; ties keep the
 * lower index first. `k` larger than the vector is clamped to its length.
 * NaN scores rank last.
 *
 * @example
 * const probs = await client.scoreFile('cat.jpg');
 * for (const { label, probability } of topK(probs, 5, imagenetLabels())) {
 *   console.log(`${shortLabel(label)}: ${(probability * 100).toFixed(1)}%`);
 * }
 */
export function topK(probabilities: ArrayLike<number>, k = 5, labels?: readonly string[]): TopKEntry[] {
  if (!Number.isSafeInteger(k) || k < 1) {
    throw new RangeError(`'k' must be a positive integer, got ${String(k)}`);
  }
  if (probabilities == null || typeof probabilities.length !== 'number') {
    throw new TypeError("'probabilities' must be an array-like of numbers");
  }
  const n = probabilities.length;
  const idx = Array.from({ length: n }, (_, i) => i);
  const score = (i: number) => {
    const v = probabilities[i]!;
    return Number.isNaN(v) ? -Infinity : v;
  };
  // Array.prototype.sort is stable, so equal scores stay in index order.
  idx.sort((a, b) => {
    const d = score(b) - score(a);
    return Number.isNaN(d) || d === 0 ? 0 : d;
  });
  return idx.slice(0, Math.min(k, n)).map((index) => ({
    index,
    label: labels?.[index] ?? String(index),
    probability: probabilities[index]!,
  }));
}
