import { int, size, tensor, type Node, type OnnxGraph, type Tensor } from '../onnx/graph';
import type { QuantPlan } from './plan';
import { uint8Params } from './ranges';

export type ActivationParams = Map<string, { scale: number; zeroPoint: number }>;

/**
 * Symmetric int8 weights: one scale per slice along `axis` (per output channel), or one for
 * the whole tensor when axis is -1. Values map to [-127, 127] so negation stays exact.
 */
export function quantizeWeight(w: Tensor, axis: number): { q: Tensor; scales: number[] } {
  const data = w.data as Float32Array;
  const channels = axis < 0 ? 1 : w.dims[axis]!;
  const stride = axis < 0 ? data.length : size(w.dims.slice(axis + 1));
  const channelOf = (i: number) => (axis < 0 ? 0 : Math.floor(i / stride) % channels);
  const absMax = new Float64Array(channels);
  for (let i = 0; i < data.length; i++) absMax[channelOf(i)] = Math.max(absMax[channelOf(i)]!, Math.abs(data[i]!));
  const scales = Array.from(absMax, (m) => (m > 0 ? m / 127 : 1));
  const q = new Int8Array(data.length);
  for (let i = 0; i < data.length; i++) q[i] = Math.max(-127, Math.min(127, Math.round(data[i]! / scales[channelOf(i)]!)));
  return { q: { dtype: 'int8', dims: [...w.dims], data: q }, scales };
}

/**
 * uint8 values of a constant input of a `calibrated` node (an Add's bias, a Mul's scale), over
 * its own range. A non-negative constant gets a scale that stores its most frequent value
 * exactly (a count-correction map is mostly 1s: off by 0.3% it would bias every interior pixel).
 */
function quantizeConstant(c: Tensor): { q: Tensor; scale: number; zeroPoint: number } {
  const data = c.data as Float32Array;
  let lo = 0;
  let hi = 0;
  const freq = new Map<number, number>();
  for (const v of data) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
    freq.set(v, (freq.get(v) ?? 0) + 1);
  }
  let { scale, zeroPoint } = uint8Params(lo, hi);
  const mode = [...freq].reduce((a, b) => (b[1] > a[1] ? b : a))[0];
  if (lo >= 0 && mode > 0 && hi > 0) {
    const steps = Math.floor((255 * mode) / hi);
    if (steps >= 1) [scale, zeroPoint] = [mode / steps, 0];
  }
  const q = Uint8Array.from(data, (v) => Math.max(0, Math.min(255, Math.round(v / scale) + zeroPoint)));
  return { q: { dtype: 'uint8', dims: [...c.dims], data: q }, scale, zeroPoint };
}

/**
 * Rewrites the graph into QDQ form following the plan: a QuantizeLinear/DequantizeLinear pair
 * after every planned activation tensor (all its consumers read the dequantized value), int8
 * weights and int32 biases behind DequantizeLinear, uint8 constants behind DequantizeLinear.
 * ONNX Runtime then fuses each DQ -> op -> Q group into an integer kernel.
 */
export function insertQdq(g: OnnxGraph, plan: QuantPlan, params: ActivationParams, perChannel: boolean): void {
  /** Quantized and dequantized names of each activation with a Q/DQ pair. */
  const qdqOf = new Map<string, { q: string; dq: string }>();
  const nodes: Node[] = [];
  const qdq = (t: string) => {
    const p = params.get(plan.tensors.get(t)!)!;
    const scale = g.addInitializer(`${t}/scale`, tensor('float32', [], [p.scale]));
    const zp = g.addInitializer(`${t}/zero_point`, tensor('uint8', [], [p.zeroPoint]));
    const q = g.fresh(`${t}/quantized`);
    const dq = g.fresh(`${t}/dequantized`);
    nodes.push({ name: g.fresh(`${t}/QuantizeLinear`), op: 'QuantizeLinear', inputs: [t, scale, zp], outputs: [q], attrs: {} });
    nodes.push({ name: g.fresh(`${t}/DequantizeLinear`), op: 'DequantizeLinear', inputs: [q, scale, zp], outputs: [dq], attrs: {} });
    g.types.set(q, { dtype: 'uint8', shape: g.types.get(t)?.shape ?? null });
    g.types.set(dq, { dtype: 'float32', shape: g.types.get(t)?.shape ?? null });
    qdqOf.set(t, { q, dq });
  };
  const dequantize = (prefix: string, q: Tensor, scale: Tensor, zp: Tensor | undefined, axis?: number) => {
    const qName = g.addInitializer(`${prefix}/quantized`, q);
    const inputs = [qName, g.addInitializer(`${prefix}/scale`, scale)];
    if (zp) inputs.push(g.addInitializer(`${prefix}/zero_point`, zp));
    const out = g.fresh(`${prefix}/dequantized`);
    nodes.push({ name: g.fresh(`${prefix}/DequantizeLinear`), op: 'DequantizeLinear', inputs, outputs: [out], attrs: axis === undefined ? {} : { axis: int(axis) } });
    return out;
  };

  // ONNX Runtime quantizes the weights of a float Conv/Gemm sitting between a per-tensor DQ and a
  // Q itself (per-tensor, which ruins depthwise convolutions): a node kept in float reads its input
  // through a per-axis DequantizeLinear holding the same scale for every channel, which it leaves alone.
  const perAxisDequantize = (t: string, { axis, channels }: { axis: number; channels: number }) => {
    const p = params.get(plan.tensors.get(t)!)!;
    const { q } = qdqOf.get(t)!;
    const scale = g.addInitializer(`${t}/float_scale`, tensor('float32', [channels], new Array(channels).fill(p.scale)));
    const zp = g.addInitializer(`${t}/float_zero_point`, tensor('uint8', [channels], new Array(channels).fill(p.zeroPoint)));
    const out = g.fresh(`${t}/dequantized_for_float`);
    nodes.push({ name: g.fresh(`${t}/DequantizeLinear_for_float`), op: 'DequantizeLinear', inputs: [q, scale, zp], outputs: [out], attrs: { axis: int(axis) } });
    return out;
  };

  for (const i of g.inputs) if (plan.tensors.has(i.name)) qdq(i.name);
  const constants = new Map<string, string>();
  for (const c of plan.constants) {
    const { q, scale, zeroPoint } = quantizeConstant(g.constant(c)!);
    constants.set(c, dequantize(c, q, tensor('float32', [], [scale]), tensor('uint8', [], [zeroPoint])));
  }

  for (const n of g.nodes) {
    const planned = plan.nodes.get(n.name);
    if (planned?.weight) {
      const { index, axis } = planned.weight;
      const w = g.constant(n.inputs[index]!)!;
      const perAxis = perChannel ? axis : -1;
      const { q, scales } = quantizeWeight(w, perAxis);
      const channelScale = scales.length === 1 ? tensor('float32', [], scales) : tensor('float32', [scales.length], scales);
      const zp = scales.length === 1 ? tensor('int8', [], [0]) : tensor('int8', [scales.length], new Array(scales.length).fill(0));
      n.inputs[index] = dequantize(`${n.name}/weight`, q, channelScale, zp, scales.length === 1 ? undefined : perAxis);
      const b = planned.rule.bias !== undefined ? n.inputs[planned.rule.bias] : undefined;
      const bias = b ? g.constant(b) : undefined;
      if (bias && bias.dtype === 'float32' && bias.dims.length === 1) {
        const x = params.get(plan.tensors.get(n.inputs[0]!)!)!;
        const bs = (bias.data as Float32Array).map((_, c) => x.scale * scales[scales.length === 1 ? 0 : c]!);
        const bq = Int32Array.from(bias.data as Float32Array, (v, c) => Math.round(v / bs[c]!));
        n.inputs[planned.rule.bias!] = dequantize(`${n.name}/bias`, { dtype: 'int32', dims: [...bias.dims], data: bq }, tensor('float32', [bs.length], bs), undefined, 0);
      }
    }
    if (planned) n.inputs = n.inputs.map((t) => constants.get(t) ?? t);
    const channels = planned ? undefined : floatComputeChannels(g, n);
    if (channels && qdqOf.has(n.inputs[0]!)) n.inputs[0] = perAxisDequantize(n.inputs[0]!, channels);
    // A float AveragePool reads the float tensor: from a DequantizeLinear, ORT would fuse it into
    // QLinearAveragePool regardless (slow, and per-axis scales make it fail to load).
    if (!(n.op === 'AveragePool' && !planned)) n.inputs = n.inputs.map((t) => qdqOf.get(t)?.dq ?? t);
    nodes.push(n);
    for (const o of n.outputs) if (plan.tensors.has(o)) qdq(o);
  }
  g.nodes = nodes;
  const used = new Set(nodes.flatMap((n) => n.inputs));
  for (const name of [...g.initializers.keys()]) if (!used.has(name)) g.initializers.delete(name);
}

/** For a Conv or Gemm left in float: the axis of its data input holding the channels, and their count. */
function floatComputeChannels(g: OnnxGraph, n: Node): { axis: number; channels: number } | undefined {
  const w = n.inputs[1] ? g.constant(n.inputs[1]) : undefined;
  if (!w || w.dims.length < 2) return undefined;
  const attr = (key: string, dflt: number) => (n.attrs[key] && 'i' in n.attrs[key]! ? (n.attrs[key] as { i: number }).i : dflt);
  if (n.op === 'Conv') return { axis: 1, channels: w.dims[1]! * attr('group', 1) };
  if (n.op === 'Gemm') return { axis: attr('transA', 0) ? 0 : 1, channels: attr('transB', 0) ? w.dims[1]! : w.dims[0]! };
  return undefined;
}
