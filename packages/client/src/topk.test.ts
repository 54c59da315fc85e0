import { describe, expect, it } from 'vitest';
import { topK } from './topk';

describe('topK', () => {
  it('returns the k highest entries, highest first, with labels', () => {
    const probs = Float32Array.from([0.1, 0.5, 0.05, 0.3, 0.05]);
    expect(topK(probs, 3, ['a', 'b', 'c', 'd', 'e'])).toEqual([
      { index: 1, label: 'b', probability: probs[1] },
      { index: 3, label: 'd', probability: probs[3] },
      { index: 0, label: 'a', probability: probs[0] },
    ]);
  });

  it('defaults to k = 5 and labels each entry by its index when no labels are given', () => {
    const top = topK([1, 2, 3, 4, 5, 6, 7]);
    expect(top.map((t) => t.index)).toEqual([6, 5, 4, 3, 2]);
    expect(top[0]!.label).toBe('6');
  });

  it('keeps ties in index order (stable)', () => {
    expect(topK([0.2, 0.4, 0.2, 0.4, 0.2], 5).map((t) => t.index)).toEqual([1, 3, 0, 2, 4]);
  });

  it('clamps k to the length of the vector', () => {
    expect(topK([0.3, 0.7], 10).map((t) => t.index)).toEqual([1, 0]);
    expect(topK([], 3)).toEqual([]);
  });

  it('ranks NaN last', () => {
    expect(topK([Number.NaN, 0.1, 0.9], 3).map((t) => t.index)).toEqual([2, 1, 0]);
  });

  it.each([0, -1, 1.5, Number.NaN, Infinity, '3' as unknown as number])('refuses k = %s, naming the parameter', (k) => {
    expect(() => topK([1, 2, 3], k)).toThrow(RangeError);
    expect(() => topK([1, 2, 3], k)).toThrow("'k' must be a positive integer");
  });

  it('falls back to the index when a label is missing', () => {
    expect(topK([0, 1], 1, ['only-zero'])[0]).toEqual({ index: 1, label: '1', probability: 1 });
  });
});
