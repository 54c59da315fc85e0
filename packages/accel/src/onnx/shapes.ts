import type { Node, OnnxGraph } from './graph';

/** Sets graph.types for a node's outputs from its inputs' types (filled in by the shapes work). */
export function inferNodeTypes(graph: OnnxGraph, node: Node): void {
  for (const o of node.outputs) if (!graph.types.has(o)) graph.types.set(o, { dtype: graph.types.get(node.inputs[0] ?? '')?.dtype ?? 'float32', shape: null });
}
