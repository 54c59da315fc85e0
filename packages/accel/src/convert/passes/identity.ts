import { dtypeOfElemType, toNumbers, type Node, type OnnxGraph } from '../../onnx/graph';
import type { Pass } from './pass';
import { bypassNode, constantOf, indexGraph, isIdentityPerm, type GraphIndex } from './util';

/** Whether `n` passes its input 0 through unchanged as its output 0. */
function isNoOp(graph: OnnxGraph, n: Node, ix: GraphIndex): boolean {
  if (n.domain || !n.inputs[0] || !n.outputs[0]) return false;
  const type = graph.types.get(n.inputs[0]);
  switch (n.op) {
    case 'Identity':
      return true;
    case 'Dropout': {
      // Inference: no training_mode (or a constant false one), and the mask unused.
      const mode = n.inputs[2] ? constantOf(graph, n.inputs[2]) : undefined;
      const inference = !n.inputs[2] || (!!mode && toNumbers(mode)[0] === 0);
      return inference && (!n.outputs[1] || (!ix.consumers.has(n.outputs[1]) && !ix.outputs.has(n.outputs[1])));
    }
    case 'Cast': {
      const to = n.attrs.to;
      return !!type && !!to && 'i' in to && dtypeOfElemType(to.i) === type.dtype;
    }
    case 'Transpose': {
      const perm = n.attrs.perm;
      return !!perm && 'ints' in perm && isIdentityPerm(perm.ints);
    }
    case 'Reshape': {
      const shape = constantOf(graph, n.inputs[1] ?? '');
      const dims = type?.shape;
      if (!shape || !dims || !dims.every((d) => typeof d === 'number' && d >= 0)) return false;
      const known = dims as number[];
      const allowZero = n.attrs.allowzero && 'i' in n.attrs.allowzero && n.attrs.allowzero.i === 1;
      const target = toNumbers(shape).map((d, k) => (d === 0 && !allowZero ? known[k] : d));
      if (target.length !== known.length) return false;
      const fixed = target.reduce((a, d) => (d === -1 ? a : a * d!), 1);
      const total = known.reduce((a, d) => a * d, 1);
      return target.every((d, k) => (d === -1 ? total / fixed : d) === known[k]);
    }
    default:
      return false;
  }
}

/**
 * Removes nodes that pass their input through unchanged: Identity, Dropout in inference, Cast
 * to the input's own type, Reshape to the input's own static shape, Transpose with the
 * identity perm. Readers are renamed to the input. For a graph output, the producer of the
 * input is renamed to produce it when nothing else reads the input; otherwise an Identity stays.
 */
export const identityPass: Pass = {
  name: 'identity',
  run(graph) {
    let changes = 0;
    for (let again = true; again;) {
      again = false;
      const ix = indexGraph(graph);
      for (const n of graph.nodes) {
        if (!isNoOp(graph, n, ix)) continue;
        if (bypassNode(graph, n, ix)) {
          changes++;
          again = true;
          break;
        }
        if (n.op !== 'Identity') {
          Object.assign(n, { op: 'Identity', inputs: [n.inputs[0]], outputs: [n.outputs[0]], attrs: {} });
          changes++;
          again = true;
          break;
        }
      }
    }
    return changes;
  },
};
