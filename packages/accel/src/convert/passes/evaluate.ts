import type { Node, Tensor } from '../../onnx/graph';

/** Evaluates an ONNX node on constant inputs in JS; undefined when it cannot (filled in by the passes work). */
export function evaluateNode(_node: Node, _inputs: Tensor[]): Tensor[] | undefined {
  return undefined;
}
