import { expect } from 'vitest';
import { decodeImageInto } from '../preprocess/image';
import { IMAGENET_PREPROCESS } from '../preprocess/spec';
import { channelMeans, tinyReference } from './models';

/** What the tiny classifier (input size `size`) must answer for an image: the server's decode, exact classifier math. */
export async function tinyExpectedFor(image: Buffer, size = 8): Promise<number[]> {
  const buf = new Float32Array(3 * size * size);
  await decodeImageInto(image, { ...IMAGENET_PREPROCESS, width: size, height: size, layout: 'NCHW' }, buf, 0, { input: 'x', index: 0 });
  return tinyReference(channelMeans(buf, size));
}

/** Element-wise closeness to 5 decimals, with equal lengths. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>): void {
  expect(actual).toHaveLength(expected.length);
  for (let i = 0; i < expected.length; i++) expect(actual[i]).toBeCloseTo(expected[i], 5);
}
