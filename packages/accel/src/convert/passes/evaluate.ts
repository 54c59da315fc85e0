import type { Node, Tensor } from '../../onnx/graph';
import { MATH_KERNELS } from './evaluate-math';
import { SHAPE_KERNELS } from './evaluate-shape';
import type { Kernel } from './evaluate-util';

/** JS kernels by ONNX op type (default domain, opset 17 semantics). */
export const KERNELS: ReadonlyMap<string, Kernel> = new Map(Object.entries({ ...MATH_KERNELS, ...SHAPE_KERNELS }));

/**
 * Evaluates an ONNX node on constant inputs in plain JS, with ONNX Runtime's results: floats
 * computed in double and rounded to the element type, integers wrapping, int64 as bigint.
 * `inputs` follows `node.inputs` (an absent optional input is undefined). Returns undefined
 * for ops or types it does not evaluate; throws on invalid values (integer division by zero,
 * a reshape that does not fit, an index out of range).
 *
 * @example
 * evaluateNode(addNode, [tensor('int64', [2], [1, 2]), tensor('int64', [], [3])]) // int64 [4, 5]
 */
export function evaluateNode(node: Node, inputs: Tensor[]): Tensor[] | undefined {
  if (node.domain && node.domain !== 'ai.onnx') return undefined;
  const kernel = KERNELS.get(node.op);
  if (!kernel) return undefined;
  const given = node.inputs.map((name, k) => (name ? inputs[k] : undefined));
  if (node.inputs.some((name, k) => name && !given[k])) return undefined;
  const results = kernel(node, given);
  return results && results.length >= node.outputs.length ? results.slice(0, node.outputs.length) : undefined;
}
