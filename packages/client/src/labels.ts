/**
 * The 1000 ImageNet class names in the order of the classifier's output
 * (index 0 = "tench, Tinca tinca"), shipped in `labels/imagenet.txt`.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Absolute path of the shipped ImageNet label file. */
export const IMAGENET_LABELS_PATH: string = fileURLToPath(new URL('../labels/imagenet.txt', import.meta.url));

let cache: readonly string[] | undefined;

/**
 * The ImageNet labels, index-aligned with a 1000-class classifier output. Read
 * from disk once; each call returns a fresh copy, so callers may mutate it.
 *
 * @example
 * imagenetLabels()[289]; // 'snow leopard, ounce, Panthera uncia'
 */
export function imagenetLabels(): string[] {
  if (!cache) {
    const lines = readFileSync(IMAGENET_LABELS_PATH, 'utf8').split(/\r?\n/);
    while (lines.length && lines[lines.length - 1] === '') lines.pop();
    if (lines.length !== 1000) {
      throw new Error(`${IMAGENET_LABELS_PATH} has ${lines.length} labels; expected 1000, one per line in class order`);
    }
    cache = Object.freeze(lines);
  }
  return [...cache];
}

/** The first name of a label: the text before the first comma ('snow leopard, ounce' -> 'snow leopard'). */
export function shortLabel(label: string): string {
  const i = label.indexOf(',');
  return (i < 0 ? label : label.slice(0, i)).trim();
}
