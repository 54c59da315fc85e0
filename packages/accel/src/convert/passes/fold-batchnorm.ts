/**
 * Folds per-channel affine ops into the linear op before them, once transposes are gone (the
 * graph is NCHW): Conv / ConvTranspose / Gemm / MatMul with constant weights, followed by
 *
 * - BatchNormalization (inference) with constant parameters: weights scaled by
 *   scale / sqrt(var + eps), bias becomes (bias - mean) * that + B;
 * - Mul or Div by a constant that is per output channel (shape [C], [C,1,1], [1,C,1,1] or a
 *   size-1 constant, after numpy left-padding): weights and bias scaled;
 * - Add of such a constant, or Sub of it: added to the bias (a bias is created when there is
 *   none; MatMul with a 2-D input becomes Gemm to carry it).
 *
 * Only when the linear op's output has no other consumer and is not a graph output, and the
 * weights are float32/float64 (shared weights are copied). A BatchNormalization that follows
 * anything else stays: ONNX Runtime runs (and fuses) it well, and Mul+Add would be no faster.
 */
import { size, type Node, type OnnxGraph, type Tensor } from '../../onnx/graph';
import type { Pass } from './pass';
import { constantOf, consumersOf, indexGraph, removeNode, setConstantInput } from './util';

/** What folding needs of a linear op: its output channels and how to scale/shift them. */
interface Linear {
  /** Output channels. */
  channels: number;
  /** Output rank and channel axis, to read broadcast constants. */
  rank: number;
  axis: number;
  /** Multiplies output channel k by s[k]. */
  scale(s: Float64Array): void;
  /** Adds d[k] to output channel k; false when the op cannot carry a bias. */
  shift(d: Float64Array): boolean;
}

const isFloat = (t: Tensor | undefined): t is Tensor => !!t && (t.dtype === 'float32' || t.dtype === 'float64');

function withValues(t: Tensor, dims: number[], values: ArrayLike<number>): Tensor {
  const Ctor = t.dtype === 'float64' ? Float64Array : Float32Array;
  return { dtype: t.dtype, dims, data: Ctor.from(values) };
}

/** Scales weight elements by s[channelOf(flat index)]. */
function scaled(w: Tensor, s: Float64Array, channelOf: (k: number) => number): Tensor {
  const src = w.data as Float32Array | Float64Array;
  return withValues(w, [...w.dims], Array.from(src, (v, k) => v * s[channelOf(k)]!));
}

/** Bias input `i` of `n` (rank 1 for Conv, 2 for Gemm) as `channels` numbers (zeros when absent); null when not constant or not per channel. */
function biasOf(graph: OnnxGraph, n: Node, i: number, channels: number, rank = 1): Float64Array | null {
  if (!n.inputs[i]) return new Float64Array(channels);
  const b = constantOf(graph, n.inputs[i]!);
  return b ? perChannel(b, rank, rank - 1, channels) : null;
}

function setBias(graph: OnnxGraph, n: Node, i: number, like: Tensor, values: Float64Array): void {
  const t = withValues(like, [values.length], values);
  if (n.inputs[i]) setConstantInput(graph, n, i, t);
  else {
    while (n.inputs.length < i) n.inputs.push('');
    n.inputs[i] = graph.addInitializer(`${n.name}/bias`, t);
  }
}

/**
 * A constant broadcast against an output of `rank` dims as one value per channel on `axis`
 * (length `channels`); null when it varies along another axis or would grow the rank.
 */
export function perChannel(c: Tensor, rank: number, axis: number, channels: number): Float64Array | null {
  if (c.dims.length > rank || !isFloat(c)) return null;
  const dims = [...Array(rank - c.dims.length).fill(1), ...c.dims] as number[];
  if (dims.some((d, k) => d !== 1 && k !== axis) || (dims[axis] !== 1 && dims[axis] !== channels)) return null;
  const v = c.data as Float32Array | Float64Array;
  return Float64Array.from({ length: channels }, (_, k) => v[size(c.dims) === 1 ? 0 : k]!);
}

function convLike(graph: OnnxGraph, n: Node): Linear | null {
  const w = constantOf(graph, n.inputs[1] ?? '');
  if (!isFloat(w) || w.dims.length < 3) return null;
  const transposed = n.op === 'ConvTranspose';
  const group = (n.attrs.group && 'i' in n.attrs.group ? n.attrs.group.i : 1);
  const perGroup = transposed ? w.dims[1]! : 0;
  const channels = transposed ? perGroup * group : w.dims[0]!;
  const inner = size(w.dims.slice(2));
  const rowsPerGroup = w.dims[0]! / group;
  // Conv W: [M, C/g, k...]; ConvTranspose W: [C, M/g, k...] with output channel g*(M/g) + j.
  const channelOf = transposed
    ? (k: number) => Math.floor(Math.floor(k / (inner * perGroup)) / rowsPerGroup) * perGroup + (Math.floor(k / inner) % perGroup)
    : (k: number) => Math.floor(k / (size(w.dims) / channels));
  const bias = biasOf(graph, n, 2, channels);
  if (!bias) return null;
  return {
    channels,
    rank: w.dims.length,
    axis: 1,
    scale(s) {
      setConstantInput(graph, n, 1, scaled(w, s, channelOf));
      if (n.inputs[2]) setBias(graph, n, 2, w, bias.map((b, k) => b * s[k]!));
    },
    shift(d) {
      setBias(graph, n, 2, w, biasOf(graph, n, 2, channels)!.map((b, k) => b + d[k]!));
      return true;
    },
  };
}

function gemmLike(graph: OnnxGraph, n: Node): Linear | null {
  const w = constantOf(graph, n.inputs[1] ?? '');
  if (!isFloat(w) || w.dims.length !== 2) return null;
  const gemm = n.op === 'Gemm';
  if (gemm && n.attrs.transA && 'i' in n.attrs.transA && n.attrs.transA.i) return null;
  const transB = gemm && !!(n.attrs.transB && 'i' in n.attrs.transB && n.attrs.transB.i);
  const channels = transB ? w.dims[0]! : w.dims[1]!;
  const rank = gemm ? 2 : (graph.types.get(n.inputs[0]!)?.shape?.length ?? 0);
  if (rank < 2) return null;
  const beta = gemm && n.attrs.beta && 'f' in n.attrs.beta ? n.attrs.beta.f : 1;
  const bias = gemm ? biasOf(graph, n, 2, channels, 2) : new Float64Array(channels);
  if (!bias) return null;
  const channelOf = transB ? (k: number) => Math.floor(k / w.dims[1]!) : (k: number) => k % channels;
  return {
    channels,
    rank,
    axis: rank - 1,
    scale(s) {
      setConstantInput(graph, n, 1, scaled(w, s, channelOf));
      if (gemm && n.inputs[2]) setBias(graph, n, 2, w, bias.map((b, k) => b * s[k]!));
    },
    shift(d) {
      if (!gemm && rank !== 2) return false;
      const current = gemm && n.inputs[2] && beta !== 0 ? biasOf(graph, n, 2, channels, 2)!.map((b) => b * beta) : new Float64Array(channels);
      n.op = 'Gemm';
      n.attrs = { ...n.attrs, beta: { f: 1 } };
      setBias(graph, n, 2, w, current.map((b, k) => b + d[k]!));
      return true;
    },
  };
}

function linearOf(graph: OnnxGraph, n: Node): Linear | null {
  if (n.domain) return null;
  if (n.op === 'Conv' || n.op === 'ConvTranspose') return convLike(graph, n);
  if (n.op === 'Gemm' || n.op === 'MatMul') return gemmLike(graph, n);
  return null;
}

/** Folds consumer `c` of `lin`'s output into it; true when done. */
function fold(graph: OnnxGraph, lin: Linear, c: Node, y: string): boolean {
  const other = c.inputs.find((t) => t !== y) ?? '';
  const value = constantOf(graph, other);
  if (c.op === 'BatchNormalization') {
    if (lin.axis !== 1 || (c.attrs.training_mode && 'i' in c.attrs.training_mode && c.attrs.training_mode.i)) return false;
    const [gamma, beta, mean, variance] = c.inputs.slice(1, 5).map((t) => constantOf(graph, t));
    const eps = c.attrs.epsilon && 'f' in c.attrs.epsilon ? c.attrs.epsilon.f : 1e-5;
    const v = [gamma, beta, mean, variance].map((t) => (t ? perChannel(t, 1, 0, lin.channels) : null));
    if (v.some((x) => !x)) return false;
    const s = v[0]!.map((g, k) => g / Math.sqrt(v[3]![k]! + eps));
    lin.scale(s);
    return lin.shift(v[1]!.map((b, k) => b - v[2]![k]! * s[k]!));
  }
  if (!value || c.inputs.length !== 2 || c.inputs[0] === c.inputs[1]) return false;
  const per = perChannel(value, lin.rank, lin.axis, lin.channels);
  if (!per) return false;
  if (c.op === 'Mul') lin.scale(per);
  else if (c.op === 'Div' && c.inputs[0] === y && per.every((x) => x !== 0)) lin.scale(per.map((x) => 1 / x));
  else if (c.op === 'Add') return lin.shift(per);
  else if (c.op === 'Sub' && c.inputs[0] === y) return lin.shift(per.map((x) => -x));
  else return false;
  return true;
}

const FOLDABLE = new Set(['BatchNormalization', 'Mul', 'Div', 'Add', 'Sub']);

function foldOne(graph: OnnxGraph): boolean {
  const ix = indexGraph(graph);
  for (const n of graph.nodes) {
    const y = n.outputs[0];
    if (!y || n.outputs.length !== 1 || ix.outputs.has(y)) continue;
    const users = consumersOf(ix, y);
    const c = users[0];
    if (users.length !== 1 || !c || c.domain || !FOLDABLE.has(c.op)) continue;
    if (c.outputs.slice(1).some((o) => o && (ix.outputs.has(o) || ix.consumers.has(o)))) continue;
    const lin = linearOf(graph, n);
    if (!lin || !fold(graph, lin, c, y)) continue;
    removeNode(graph, c);
    n.outputs = [c.outputs[0]!];
    return true;
  }
  return false;
}

/** Folds BatchNormalization and per-channel Mul/Add into the Conv/Gemm/MatMul before them. */
export const foldBatchNormPass: Pass = {
  name: 'fold-batchnorm',
  run(graph) {
    let changes = 0;
    while (foldOne(graph)) changes++;
    return changes;
  },
};
