import { int, ints, tensor, type OnnxGraph } from '../onnx/graph';
import { inferNodeTypes } from '../onnx/shapes';

const intsOf = (a: unknown, dflt: number[]) => (a && typeof a === 'object' && 'ints' in a ? (a as { ints: number[] }).ints : dflt);
const intOf = (a: unknown, dflt: number) => (a && typeof a === 'object' && 'i' in a ? (a as { i: number }).i : dflt);

/**
 * Rewrites each 2-D AveragePool with a static input shape as a depthwise Conv (every weight
 * 1/k) followed, when padding is excluded from the count, by a Mul with the constant
 * k/count map of the output positions. Exact in float; in int8 it runs as QLinearConv and
 * QLinearMul, where ONNX Runtime's QLinearAveragePool is slow (measured on Inception-v3:
 * 6.7 ms of its 18 ms int8 run) and a float AveragePool costs layout changes around it.
 */
export function averagePoolsAsConvs(g: OnnxGraph): number {
  for (const n of g.nodes) if (!g.types.get(n.outputs[0]!)?.shape) inferNodeTypes(g, n);
  let count = 0;
  g.nodes = g.nodes.flatMap((n) => {
    if (n.op !== 'AveragePool' || n.domain) return [n];
    const shape = g.types.get(n.inputs[0]!)?.shape;
    const kernel = intsOf(n.attrs.kernel_shape, []);
    const strides = intsOf(n.attrs.strides, [1, 1]);
    const pads = intsOf(n.attrs.pads, [0, 0, 0, 0]);
    const autoPad = n.attrs.auto_pad && 's' in n.attrs.auto_pad ? n.attrs.auto_pad.s : 'NOTSET';
    if (!shape || shape.length !== 4 || kernel.length !== 2 || autoPad !== 'NOTSET' || intOf(n.attrs.ceil_mode, 0) !== 0) return [n];
    const [, c, h, w] = shape;
    if (typeof c !== 'number' || typeof h !== 'number' || typeof w !== 'number') return [n];
    const [kh, kw] = kernel as [number, number];
    const [sh, sw] = strides as [number, number];
    const [pt, pl, pb, pr] = pads as [number, number, number, number];
    const ho = Math.floor((h + pt + pb - kh) / sh) + 1;
    const wo = Math.floor((w + pl + pr - kw) / sw) + 1;
    const weights = g.addInitializer(`${n.name}/ones`, tensor('float32', [c, 1, kh, kw], new Array(c * kh * kw).fill(1 / (kh * kw))));
    const conv = { name: n.name, op: 'Conv', inputs: [n.inputs[0]!, weights], outputs: [n.outputs[0]!], attrs: { group: int(c), kernel_shape: ints([kh, kw]), strides: ints([sh, sw]), pads: ints([pt, pl, pb, pr]) } };
    count++;
    const padded = pt + pl + pb + pr > 0;
    if (!padded || intOf(n.attrs.count_include_pad, 0) === 1) return [conv];
    // Positions near the border average fewer inputs: scale them by k / (inputs inside).
    const scale = new Float32Array(ho * wo);
    for (let i = 0; i < ho; i++) {
      const rows = Math.min(h, i * sh - pt + kh) - Math.max(0, i * sh - pt);
      for (let j = 0; j < wo; j++) scale[i * wo + j] = (kh * kw) / (rows * (Math.min(w, j * sw - pl + kw) - Math.max(0, j * sw - pl)));
    }
    const summed = g.fresh(`${n.outputs[0]}/sum`);
    conv.outputs = [summed];
    g.types.set(summed, { dtype: 'float32', shape: [shape[0]!, c, ho, wo] });
    const m = g.addInitializer(`${n.name}/count_scale`, tensor('float32', [1, 1, ho, wo], scale));
    return [conv, { name: `${n.name}/count`, op: 'Mul', inputs: [summed, m], outputs: [n.outputs[0]!], attrs: {} }];
  });
  return count;
}
