import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { IMAGENET_LABELS_PATH, imagenetLabels, shortLabel } from './labels';
import { topK } from './topk';

describe('imagenetLabels', () => {
  it('has the 1000 ImageNet classes in index order', () => {
    expect(existsSync(IMAGENET_LABELS_PATH)).toBe(true);
    const labels = imagenetLabels();
    expect(labels).toHaveLength(1000);
    expect(labels[0]).toBe('tench, Tinca tinca');
    expect(labels[289]).toBe('snow leopard, ounce, Panthera uncia');
    expect(labels.every((l) => l.length > 0 && l === l.trim())).toBe(true);
  });

  it('returns a fresh copy each call, so callers cannot corrupt the cache', () => {
    const a = imagenetLabels();
    a[289] = 'changed';
    expect(imagenetLabels()[289]).toBe('snow leopard, ounce, Panthera uncia');
  });

  it('labels topK results', () => {
    const probs = new Float32Array(1000);
    probs[289] = 0.9;
    probs[3] = 0.1;
    const [first, second] = topK(probs, 2, imagenetLabels());
    expect(shortLabel(first!.label)).toBe('snow leopard');
    expect(first!.index).toBe(289);
    expect(second!.index).toBe(3);
  });
});

describe('shortLabel', () => {
  it('keeps the text before the first comma', () => {
    expect(shortLabel('snow leopard, ounce, Panthera uncia')).toBe('snow leopard');
    expect(shortLabel('goldfish')).toBe('goldfish');
    expect(shortLabel('')).toBe('');
  });
});
