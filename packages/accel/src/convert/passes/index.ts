import type { OnnxGraph } from '../../onnx/graph';
import type { Pass } from './pass';

/** The passes, in the order they run after mapping (filled in by the passes work). */
export const PASSES: Pass[] = [];

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
