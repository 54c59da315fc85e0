import { size, tensor, type Node, type Tensor } from '../../onnx/graph';
import { sliceLength } from '../../onnx/shape-rules-tensor';
import {
  attrInt, attrInts, axisOf, broadcastDims, broadcastMap, build, indexMap, isBig, pick, read, readNumbers, strides,
  type Kernel, type Scalar,
} from './evaluate-util';

/** The same values under new dims (a copy, so results never alias inputs). */
const withDims = (t: Tensor, dims: number[]): Tensor => ({ dtype: t.dtype, dims, data: t.data.slice() as Tensor['data'] });

const ints = (t: Tensor | undefined): number[] | undefined => (t ? readNumbers(t) : undefined);

const reshape: Kernel = (node, [x, shape]) => {
  const target = ints(shape)!;
  const allowZero = attrInt(node, 'allowzero', 0) === 1;
  const dims = target.map((d, k) => (d === 0 && !allowZero ? x!.dims[k] : d));
  const free = dims.indexOf(-1);
  if (free >= 0) dims[free] = size(x!.dims) / size(dims.filter((_, k) => k !== free));
  if (size(dims) !== size(x!.dims) || dims.some((d) => !Number.isInteger(d) || d < 0)) throw new Error(`Reshape: [${x!.dims}] to [${target}]`);
  return [withDims(x!, dims)];
};

const flatten: Kernel = (node, [x]) => {
  const axis = axisOf(attrInt(node, 'axis', 1), x!.dims.length);
  return [withDims(x!, [size(x!.dims.slice(0, axis)), size(x!.dims.slice(axis))])];
};

const squeeze: Kernel = (node, [x, axesInput]) => {
  const axes = (ints(axesInput) ?? attrInts(node, 'axes'))?.map((a) => axisOf(a, x!.dims.length));
  return [withDims(x!, x!.dims.filter((d, k) => (axes ? !axes.includes(k) : d !== 1)))];
};

const unsqueeze: Kernel = (node, [x, axesInput]) => {
  const given = ints(axesInput) ?? attrInts(node, 'axes')!;
  const rank = x!.dims.length + given.length;
  const axes = given.map((a) => axisOf(a, rank));
  const rest = [...x!.dims];
  return [withDims(x!, Array.from({ length: rank }, (_, k) => (axes.includes(k) ? 1 : rest.shift()!)))];
};

const transpose: Kernel = (node, [x]) => {
  const dims = x!.dims;
  const perm = attrInts(node, 'perm') ?? dims.map((_, k) => dims.length - 1 - k);
  const st = strides(dims);
  const out = perm.map((p) => dims[p]);
  return [pick(x!, out, indexMap(out, (idx) => idx.reduce((acc, i, k) => acc + i * st[perm[k]], 0)))];
};

/** Copies `parts` (same dims but along `axis`) into one tensor along `axis`. */
function joinAlong(parts: Tensor[], axis: number): Tensor {
  const first = parts[0];
  const dims = [...first.dims];
  dims[axis] = parts.reduce((acc, t) => acc + t.dims[axis], 0);
  const outer = size(dims.slice(0, axis));
  const inner = size(dims.slice(axis + 1));
  const from = new Int32Array(size(dims));
  const offsets: number[] = [];
  let base = 0;
  for (const t of parts) {
    offsets.push(base);
    base += t.data.length;
  }
  let at = 0;
  for (let o = 0; o < outer; o++) {
    parts.forEach((t, p) => {
      const len = t.dims[axis] * inner;
      for (let k = 0; k < len; k++) from[at++] = offsets[p] + o * len + k;
    });
  }
  const all = { ...first, data: concatData(parts) };
  return pick(all, dims, from);
}

/** Data of several tensors of one dtype, end to end. */
function concatData(parts: Tensor[]): Tensor['data'] {
  if (Array.isArray(parts[0].data)) return parts.flatMap((t) => t.data as Uint8Array[]);
  const Ctor = parts[0].data.constructor as new (n: number) => { set(a: ArrayLike<Scalar>, at: number): void };
  const out = new Ctor(parts.reduce((acc, t) => acc + t.data.length, 0));
  let at = 0;
  for (const t of parts) {
    out.set(t.data as ArrayLike<Scalar>, at);
    at += t.data.length;
  }
  return out as unknown as Tensor['data'];
}

const concat: Kernel = (node, inputs) => {
  const parts = inputs.filter((t): t is Tensor => !!t);
  return [joinAlong(parts, axisOf(attrInt(node, 'axis', 0), parts[0].dims.length))];
};

/** `x` restricted to `[start, start + len)` with `step` on each axis. */
function sliceOf(x: Tensor, starts: number[], lens: number[], steps: number[]): Tensor {
  const st = strides(x.dims);
  return pick(x, lens, indexMap(lens, (idx) => idx.reduce((acc, i, k) => acc + (starts[k] + i * steps[k]) * st[k], 0)));
}

const split: Kernel = (node, [x, splitInput]) => {
  const axis = axisOf(attrInt(node, 'axis', 0), x!.dims.length);
  const n = node.outputs.length;
  const dim = x!.dims[axis];
  const chunk = Math.ceil(dim / n);
  const sizes = ints(splitInput) ?? attrInts(node, 'split') ?? Array.from({ length: n }, (_, k) => Math.min(chunk, dim - k * chunk));
  let start = 0;
  return sizes.map((len) => {
    const starts = x!.dims.map((_, k) => (k === axis ? start : 0));
    start += len;
    return sliceOf(x!, starts, x!.dims.map((d, k) => (k === axis ? len : d)), x!.dims.map(() => 1));
  });
};

const slice: Kernel = (_node, [x, s, e, a, st]) => {
  const dims = x!.dims;
  const [startsIn, endsIn] = [ints(s)!, ints(e)!];
  const axes = ints(a) ?? startsIn.map((_, k) => k);
  const stepsIn = ints(st) ?? startsIn.map(() => 1);
  const starts = dims.map(() => 0);
  const lens = [...dims];
  const steps = dims.map(() => 1);
  axes.forEach((ax, k) => {
    const axis = axisOf(ax, dims.length);
    const d = dims[axis];
    const step = stepsIn[k];
    if (step === 0) throw new Error('Slice: step 0');
    const first = startsIn[k] < 0 ? startsIn[k] + d : startsIn[k];
    starts[axis] = step > 0 ? Math.min(Math.max(first, 0), d) : Math.min(Math.max(first, 0), d - 1);
    lens[axis] = sliceLength(d, startsIn[k], endsIn[k], step);
    steps[axis] = step;
  });
  return [sliceOf(x!, starts, lens, steps)];
};

const gather: Kernel = (node, [x, ind]) => {
  const axis = axisOf(attrInt(node, 'axis', 0), x!.dims.length);
  const idx = ints(ind)!;
  const d = x!.dims[axis];
  const outer = size(x!.dims.slice(0, axis));
  const inner = size(x!.dims.slice(axis + 1));
  const from: number[] = [];
  for (let o = 0; o < outer; o++) {
    for (const i of idx) {
      const j = i < 0 ? i + d : i;
      if (j < 0 || j >= d) throw new Error(`Gather: index ${i} out of range for ${d}`);
      for (let k = 0; k < inner; k++) from.push((o * d + j) * inner + k);
    }
  }
  return [pick(x!, [...x!.dims.slice(0, axis), ...ind!.dims, ...x!.dims.slice(axis + 1)], from)];
};

const gatherNd: Kernel = (node, [x, ind]) => {
  const b = attrInt(node, 'batch_dims', 0);
  const D = x!.dims;
  const I = ind!.dims;
  const last = I[I.length - 1];
  const idx = ints(ind)!;
  const st = strides(D);
  const slab = size(D.slice(b + last));
  const perBatch = size(I.slice(b, -1));
  const from: number[] = [];
  for (let t = 0; t < idx.length / last; t++) {
    const batch = Math.floor(t / perBatch);
    let at = batch * size(D.slice(b));
    for (let j = 0; j < last; j++) {
      const d = D[b + j];
      const i = idx[t * last + j];
      at += (i < 0 ? i + d : i) * st[b + j];
    }
    for (let k = 0; k < slab; k++) from.push(at + k);
  }
  return [pick(x!, [...I.slice(0, -1), ...D.slice(b + last)], from)];
};

const tile: Kernel = (_node, [x, reps]) => {
  const r = ints(reps)!;
  const dims = x!.dims;
  const st = strides(dims);
  const out = dims.map((d, k) => d * r[k]);
  return [pick(x!, out, indexMap(out, (idx) => idx.reduce((acc, i, k) => acc + (i % dims[k]) * st[k], 0)))];
};

const expand: Kernel = (_node, [x, shape]) => {
  const out = broadcastDims([x!.dims, ints(shape)!]);
  return [pick(x!, out, broadcastMap(x!.dims, out))];
};

const constantOfShape: Kernel = (node, [shape]) => {
  const a = node.attrs.value;
  const value = a && 't' in a ? a.t : tensor('float32', [1], [0]);
  const dims = ints(shape)!;
  return [pick(value, dims, new Int32Array(size(dims)))];
};

const range: Kernel = (_node, [s, l, d]) => {
  const [start, limit, delta] = [read(s!)![0], read(l!)![0], read(d!)![0]];
  const dtype = s!.dtype;
  const round = dtype === 'float32' ? Math.fround : (v: number) => v;
  // ONNX Runtime subtracts in the element type, then divides in double.
  const diff = isBig(dtype) ? Number((limit as bigint) - (start as bigint)) : round((limit as number) - (start as number));
  const n = Math.max(0, Math.ceil(diff / Number(delta)));
  const out: Scalar[] = [];
  let v: Scalar = start;
  for (let k = 0; k < n; k++) {
    out.push(v);
    v = isBig(dtype) ? (v as bigint) + (delta as bigint) : round((v as number) + (delta as number));
  }
  return [build(dtype, [out.length], out)];
};

const pad: Kernel = (node, [x, padsIn, valueIn, axesIn]) => {
  const dims = x!.dims;
  const r = dims.length;
  const given = ints(padsIn) ?? attrInts(node, 'pads')!;
  const axes = (ints(axesIn) ?? dims.map((_, k) => k)).map((a) => axisOf(a, r));
  const before = dims.map(() => 0);
  const after = dims.map(() => 0);
  axes.forEach((a, k) => {
    before[a] = given[k];
    after[a] = given[k + axes.length];
  });
  const mode = ((m) => (m && 's' in m ? m.s : 'constant'))(node.attrs.mode);
  if (mode !== 'constant' && mode !== 'edge' && mode !== 'reflect') return undefined;
  const out = dims.map((d, k) => d + before[k] + after[k]);
  const st = strides(dims);
  const source = (i: number, d: number): number => {
    if (i >= 0 && i < d) return i;
    if (mode === 'edge') return i < 0 ? 0 : d - 1;
    if (mode === 'reflect') {
      const period = 2 * (d - 1) || 1;
      const m = ((i % period) + period) % period;
      return m < d ? m : period - m;
    }
    return -1;
  };
  const from = indexMap(out, (idx) => {
    let at = 0;
    for (let k = 0; k < r; k++) {
      const i = source(idx[k] - before[k], dims[k]);
      if (i < 0) return -1;
      at += i * st[k];
    }
    return at;
  });
  const fill = valueIn ? read(valueIn)![0] : isBig(x!.dtype) ? 0n : 0;
  return [pick(x!, out, from, x!.dtype === 'float16' && valueIn ? (valueIn.data as Uint16Array)[0] : fill)];
};

/** The value of a Shape node (with its start/end attributes) over a tensor of shape `dims`. */
export function shapeValue(node: Node, dims: number[]): Tensor {
  const r = dims.length;
  const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + r : v, 0), r);
  const part = dims.slice(clamp(attrInt(node, 'start', 0)), clamp(attrInt(node, 'end', r)));
  return tensor('int64', [part.length], part);
}

const constant: Kernel = (node) => {
  const a = node.attrs.value ?? node.attrs.value_float ?? node.attrs.value_floats ?? node.attrs.value_int ?? node.attrs.value_ints;
  if (!a) return undefined;
  if ('t' in a) return [withDims(a.t, [...a.t.dims])];
  if ('f' in a) return [tensor('float32', [], [a.f])];
  if ('floats' in a) return [tensor('float32', [a.floats.length], a.floats)];
  if ('i' in a) return [tensor('int64', [], [a.i])];
  if ('ints' in a) return [tensor('int64', [a.ints.length], a.ints)];
  return undefined;
};

/** Kernels for shape, layout, indexing and tensor-creation ops. */
export const SHAPE_KERNELS: Record<string, Kernel> = {
  Identity: (_node, [x]) => [withDims(x!, [...x!.dims])],
  Shape: (node, [x]) => [shapeValue(node, x!.dims)],
  Size: (_node, [x]) => [tensor('int64', [], [size(x!.dims)])],
  Reshape: reshape,
  Flatten: flatten,
  Squeeze: squeeze,
  Unsqueeze: unsqueeze,
  Transpose: transpose,
  Concat: concat,
  Split: split,
  Slice: slice,
  Gather: gather,
  GatherND: gatherNd,
  Tile: tile,
  Expand: expand,
  ConstantOfShape: constantOfShape,
  Range: range,
  Pad: pad,
  Constant: constant,
};
