import { tfAttr } from '../../tf/attrs';
import { attrs, normAxis, type KTensor, type LayerCall, type LoweringTable } from './lowering';

/** Broadcast shape of the inputs (unknown dims stay unknown). */
function broadcastShape(call: LayerCall): number[] {
  const rank = Math.max(...call.inputs.map((t) => t.shape.length));
  return [...Array(rank).keys()].map((k) => {
    const dims = call.inputs.map((t) => t.shape[t.shape.length - rank + k] ?? 1);
    return dims.includes(-1) ? -1 : Math.max(...dims);
  });
}

/** Folds the inputs pairwise with one binary op. */
const fold =
  (op: string) =>
  (call: LayerCall): KTensor => {
    if (call.inputs.length < 2) call.fail(`needs at least 2 inputs, got ${call.inputs.length}`);
    const name = call.inputs.slice(1).reduce((acc, t) => call.op(op, [acc, t.name]), call.inputs[0]!.name);
    return { name, shape: broadcastShape(call) };
  };

/** Merge layers: elementwise over equally shaped inputs, and Concatenate. */
export const mergeLayers: LoweringTable = {
  Add: fold('AddV2'),
  Multiply: fold('Mul'),
  Maximum: fold('Maximum'),
  Minimum: fold('Minimum'),
  Subtract: (call) => {
    if (call.inputs.length !== 2) call.fail(`needs exactly 2 inputs, got ${call.inputs.length}`);
    return fold('Sub')(call);
  },
  Average: (call) => {
    const sum = fold('AddV2')(call);
    return { name: call.op('Mul', [sum.name, call.floats([1 / call.inputs.length], 'scale')]), shape: sum.shape };
  },
  Concatenate: (call) => {
    const first = call.input();
    const rank = first.shape.length;
    const axis = normAxis(call.cfg.num('axis', -1), rank);
    const y = call.op('ConcatV2', [...call.inputs.map((t) => t.name), call.ints([axis], 'axis', [])], { N: tfAttr.i(call.inputs.length), Tidx: attrs.int32 });
    const along = call.inputs.map((t) => t.shape[axis]!);
    const shape = first.shape.map((d, k) => (k !== axis ? d : along.includes(-1) ? -1 : along.reduce((a, b) => a + b, 0)));
    return { name: y, shape };
  },
};
