import { size, tensor, type Dim, type Node, type OnnxGraph, type Tensor } from '../../onnx/graph';
import { evaluateNode } from './evaluate';
import { shapeValue } from './evaluate-shape';
import type { Pass } from './pass';

/** Results larger than this (elements) stay computed at run time rather than stored in the model. */
export const FOLD_LIMIT = 1 << 22;

const isStatic = (shape: Dim[] | null | undefined): shape is number[] => !!shape && shape.every((d) => typeof d === 'number' && d >= 0);

/** Values of a node's outputs when they are known now, else undefined. */
function foldedValues(graph: OnnxGraph, node: Node): Tensor[] | undefined {
  const shape = graph.types.get(node.inputs[0])?.shape;
  if (node.op === 'Size' && isStatic(shape)) return [tensor('int64', [], [size(shape)])];
  if (node.op === 'Shape' && shape) {
    // Only the dims Shape's start/end select need to be known.
    const value = shapeValue(node, shape.map((d) => (typeof d === 'number' ? d : -1)));
    if (!(value.data as BigInt64Array).includes(-1n)) return [value];
  }
  const inputs = node.inputs.map((i) => graph.initializers.get(i));
  if (node.inputs.some((i, k) => i !== '' && !inputs[k])) return undefined;
  // Evaluating a huge constant (a large weight's transpose) would cost more than it saves.
  if (inputs.some((t) => t && t.data.length > FOLD_LIMIT)) return undefined;
  try {
    return evaluateNode(node, inputs as Tensor[]);
  } catch {
    // Invalid constant values (a division by zero, an index out of range): the node stays, so
    // that the runtime reports it where it happens.
    return undefined;
  }
}

/**
 * Constant folding: evaluates every node whose inputs are all initializers, and Shape/Size of
 * tensors whose shape is fully static, replacing them by initializers. A node producing a
 * graph output stays (the output must remain produced by a node), and so do results over
 * {@link FOLD_LIMIT} elements. Returns the number of nodes folded.
 */
export const foldConstants: Pass = {
  name: 'fold-constants',
  run(graph) {
    const outputs = new Set(graph.outputs.map((o) => o.name));
    const kept: Node[] = [];
    let folded = 0;
    for (const node of graph.nodes) {
      const values = node.outputs.some((o) => outputs.has(o)) ? undefined : foldedValues(graph, node);
      if (!values || values.some((v) => v.data.length > FOLD_LIMIT)) {
        kept.push(node);
        continue;
      }
      node.outputs.forEach((o, k) => o && graph.setInitializer(o, values[k]));
      folded++;
    }
    graph.nodes = kept;
    return folded;
  },
};
