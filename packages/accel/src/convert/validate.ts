import { AccelError } from '../errors';
import type { OnnxGraph } from '../onnx/graph';

export interface ValidationReport {
  nodes: number;
  initializers: number;
  /** Tensors whose shape (rank) inference could not determine. */
  unknownShapes: string[];
  /** Op types and how often each occurs, most frequent first. */
  ops: [string, number][];
}

/**
 * Checker-level validation of a converted graph: every node input is defined before use (a
 * graph input, an initializer, or an earlier node's output), no tensor is produced twice, every
 * graph output is produced, and the shapes inference found are reported.
 */
export function validateGraph(graph: OnnxGraph): ValidationReport {
  const defined = new Set<string>([...graph.inputs.map((i) => i.name), ...graph.initializers.keys()]);
  const bad = (reason: string) => new AccelError('ACCEL_ERR_CONVERT_NODE', { node: graph.name, op: 'graph', reason });
  const ops = new Map<string, number>();
  for (const node of graph.nodes) {
    for (const input of node.inputs) {
      if (input !== '' && !defined.has(input)) throw bad(`node "${node.name}" (${node.op}) reads "${input}", which nothing defines before it`);
    }
    for (const output of node.outputs) {
      if (defined.has(output)) throw bad(`tensor "${output}" is defined twice`);
      defined.add(output);
    }
    ops.set(node.op, (ops.get(node.op) ?? 0) + 1);
  }
  for (const o of graph.outputs) if (!defined.has(o.name)) throw bad(`graph output "${o.name}" is not produced`);
  const unknownShapes = graph.nodes.flatMap((n) => n.outputs).filter((t) => t !== '' && graph.types.get(t)?.shape == null);
  return {
    nodes: graph.nodes.length,
    initializers: graph.initializers.size,
    unknownShapes,
    ops: [...ops].sort((a, b) => b[1] - a[1]),
  };
}
