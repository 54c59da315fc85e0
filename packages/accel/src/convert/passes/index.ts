import type { OnnxGraph } from '../../onnx/graph';
import { deadCodePass } from './dead-code';
import { foldBatchNormPass } from './fold-batchnorm';
import { foldConstants } from './fold-constants';
import { identityPass } from './identity';
import type { Pass } from './pass';
import { transposePass } from './transpose';

/**
 * The passes, in the order they run after mapping. Constants first, so that shape arithmetic
 * and weight transposes are initializers; then pass-through nodes go; then transposes cancel,
 * which puts Conv next to the Mul/Add/BatchNormalization it absorbs; dead code last.
 */
export const PASSES: Pass[] = [foldConstants, identityPass, transposePass, foldBatchNormPass, deadCodePass];

/** Runs every pass in order, then again while any of them changes the graph (at most `rounds` times). */
export function runPasses(graph: OnnxGraph, opts: { rounds?: number; onPass?: (name: string, changes: number) => void } = {}): void {
  for (let round = 0; round < (opts.rounds ?? 4); round++) {
    let changes = 0;
    for (const pass of PASSES) {
      const n = pass.run(graph);
      opts.onPass?.(pass.name, n);
      changes += n;
    }
    if (changes === 0) return;
  }
}
