import { fileURLToPath } from 'node:url';

/**
 * The sample photo shipped with the package (a snow leopard, ImageNet class 289: the photo
 * the original accelerated-models samples score). Used by the demo, the benchmarks, the
 * converter's verification and the tests.
 */
export const SAMPLE_PHOTO = fileURLToPath(new URL('../assets/snowleopardgaze.jpg', import.meta.url));
