import type { Dim, DType, TypeInfo } from './graph';
import { broadcastShapes, known, mapDim, normAxis, ti, unifyDim, type RuleCtx, type ShapeRule, type ShapeRuleTable } from './shape-dims';

/** Window geometry of a conv or pool node, read from its attributes. */
interface Window {
  kernel: number[];
  strides: number[];
  dilations: number[];
  pads: number[];
  autoPad: string;
  ceil: boolean;
}

function windowOf(c: RuleCtx, kernel: number[]): Window {
  const n = kernel.length;
  const ones = Array(n).fill(1);
  return {
    kernel,
    strides: c.ints('strides') ?? ones,
    dilations: c.ints('dilations') ?? ones,
    pads: c.ints('pads') ?? Array(2 * n).fill(0),
    autoPad: c.str('auto_pad', 'NOTSET'),
    ceil: c.int('ceil_mode', 0) === 1,
  };
}

/** Output length of one spatial axis of a conv or pool. */
function windowOut(input: Dim, w: Window, k: number): Dim {
  if (!known(input)) return null;
  const stride = w.strides[k];
  const extent = (w.kernel[k] - 1) * w.dilations[k] + 1;
  if (w.autoPad === 'SAME_UPPER' || w.autoPad === 'SAME_LOWER') return Math.ceil(input / stride);
  const [begin, end] = w.autoPad === 'VALID' ? [0, 0] : [w.pads[k], w.pads[k + w.kernel.length]];
  const span = input + begin + end - extent;
  if (!w.ceil) return Math.floor(span / stride) + 1;
  const out = Math.ceil(span / stride) + 1;
  // The last window must start inside the input or its leading padding.
  return (out - 1) * stride >= input + begin ? out - 1 : out;
}

/** Spatial output dims of a conv/pool over an NC... input. */
function spatial(x: Dim[], w: Window): Dim[] {
  return x.slice(2).map((d, k) => windowOut(d, w, k));
}

/** Kernel shape: the attribute, else the weight's trailing dims (when known). */
function kernelOf(c: RuleCtx, weight: number): number[] | null {
  const attr = c.ints('kernel_shape');
  if (attr) return attr;
  const ws = c.shape(weight);
  return ws && ws.slice(2).every(known) ? (ws.slice(2) as number[]) : null;
}

function convShape(c: RuleCtx, x: number, weight: number): Dim[] | null {
  const xs = c.shape(x);
  if (!xs) return null;
  const kernel = kernelOf(c, weight);
  const out = c.shape(weight)?.[0] ?? null;
  return [xs[0], out, ...(kernel ? spatial(xs, windowOf(c, kernel)) : xs.slice(2).map(() => null))];
}

function convTransposeShape(c: RuleCtx): Dim[] | null {
  const xs = c.shape(0);
  if (!xs) return null;
  const ws = c.shape(1);
  const channels = ws ? mapDim(ws[1], (m) => m * c.int('group', 1)) : null;
  const n = xs.length - 2;
  const given = c.ints('output_shape');
  if (given) return [xs[0], channels, ...given.slice(given.length - n)];
  const kernel = kernelOf(c, 1);
  if (!kernel) return [xs[0], channels, ...Array(n).fill(null)];
  const w = windowOf(c, kernel);
  const extra = c.ints('output_padding') ?? Array(n).fill(0);
  const dims = xs.slice(2).map((d, k) =>
    mapDim(d, (v) => {
      if (w.autoPad === 'SAME_UPPER' || w.autoPad === 'SAME_LOWER') return v * w.strides[k];
      const pads = w.autoPad === 'VALID' ? 0 : w.pads[k] + w.pads[k + n];
      return w.strides[k] * (v - 1) + extra[k] + (kernel[k] - 1) * w.dilations[k] + 1 - pads;
    }),
  );
  return [xs[0], channels, ...dims];
}

const pool: ShapeRule = (c) => {
  const xs = c.shape(0);
  const kernel = c.ints('kernel_shape');
  const shape = xs && kernel ? [xs[0], xs[1], ...spatial(xs, windowOf(c, kernel))] : xs && xs.map(() => null);
  return [ti(c.dtype(0), shape), ti('int64', shape)];
};

const globalPool: ShapeRule = (c) => {
  const xs = c.shape(0);
  return [ti(c.dtype(0), xs && [xs[0], xs[1], ...xs.slice(2).map(() => 1)])];
};

/** numpy.matmul result shape, 1-D operands included. */
export function matmulShape(a: Dim[] | null, b: Dim[] | null): Dim[] | null {
  if (!a || !b || a.length === 0 || b.length === 0) return null;
  const aa = a.length === 1 ? [1, a[0]] : a;
  const bb = b.length === 1 ? [b[0], 1] : b;
  const batch = broadcastShapes([aa.slice(0, -2), bb.slice(0, -2)]);
  if (!batch) return null;
  return [...batch, ...(a.length === 1 ? [] : [aa[aa.length - 2]]), ...(b.length === 1 ? [] : [bb[bb.length - 1]])];
}

function gemm(c: RuleCtx): Dim[] | null {
  const a = c.shape(0);
  const b = c.shape(1);
  const m = a ? a[c.int('transA', 0) ? 1 : 0] : null;
  const n = b ? b[c.int('transB', 0) ? 0 : 1] : null;
  return [m ?? null, n ?? null];
}

function resize(c: RuleCtx): Dim[] | null {
  const xs = c.shape(0);
  const sizes = c.has(3) ? c.values(3) : undefined;
  if (sizes && sizes.length) return sizes;
  const scales = c.has(2) ? c.values(2) : c.has(1) && c.node.inputs.length === 2 ? c.values(1) : undefined;
  if (!xs) return sizes ?? null;
  if (!scales || !scales.length) return xs.map(() => null);
  return xs.map((d, k) => (scales[k] === 1 ? d : mapDim(d, (v) => Math.floor(Math.fround(v * scales[k])))));
}

function depthToSpace(c: RuleCtx, inverse: boolean): Dim[] | null {
  const s = c.shape(0);
  if (!s) return null;
  const b = c.int('blocksize', 1);
  const b2 = b * b;
  if (inverse) return [s[0], mapDim(s[1], (v) => v * b2), mapDim(s[2], (v) => v / b), mapDim(s[3], (v) => v / b)];
  return [s[0], mapDim(s[1], (v) => v / b2), mapDim(s[2], (v) => v * b), mapDim(s[3], (v) => v * b)];
}

/** Einsum output shape for equations without an ellipsis; unknown otherwise. */
function einsum(c: RuleCtx): Dim[] | null {
  const eq = c.str('equation', '').replace(/\s/g, '');
  if (eq.includes('.')) return null;
  const [lhs, rhs] = eq.split('->');
  const terms = lhs.split(',');
  const dims = new Map<string, Dim>();
  const counts = new Map<string, number>();
  for (const [k, term] of terms.entries()) {
    const s = c.shape(k);
    if (!s || s.length !== term.length) return null;
    [...term].forEach((ch, j) => {
      dims.set(ch, dims.has(ch) ? unifyDim(dims.get(ch)!, s[j]) : s[j]);
      counts.set(ch, (counts.get(ch) ?? 0) + 1);
    });
  }
  const out = rhs ?? [...counts].filter(([, n]) => n === 1).map(([ch]) => ch).sort().join('');
  return [...out].map((ch) => dims.get(ch) ?? null);
}

function normalization(c: RuleCtx): (TypeInfo | undefined)[] {
  const s = c.shape(0);
  const axis = c.int('axis', -1);
  const stat = s && s.map((d, k) => (k < normAxis(axis, s.length) ? d : 1));
  return [c.type(0), ti('float32', stat), ti('float32', stat)];
}

/** Output dtype of a quantizing op: its output zero point's, else uint8. */
const quantDtype = (c: RuleCtx, zeroPoint: number): DType => (c.has(zeroPoint) ? c.dtype(zeroPoint) : 'uint8');

/** Type rules for convolution, pooling, normalization, matmul, resize and quantization ops. */
export const NN_RULES: ShapeRuleTable = {
  Conv: (c) => [ti(c.dtype(0), convShape(c, 0, 1))],
  ConvInteger: (c) => [ti('int32', convShape(c, 0, 1))],
  QLinearConv: (c) => [ti(quantDtype(c, 7), convShape(c, 0, 3))],
  ConvTranspose: (c) => [ti(c.dtype(0), convTransposeShape(c))],
  MaxPool: pool,
  AveragePool: pool,
  LpPool: pool,
  GlobalAveragePool: globalPool,
  GlobalMaxPool: globalPool,
  GlobalLpPool: globalPool,
  BatchNormalization: (c) => [c.type(0), c.type(3), c.type(4)],
  LayerNormalization: normalization,
  Gemm: (c) => [ti(c.dtype(0), gemm(c))],
  MatMul: (c) => [ti(c.dtype(0), matmulShape(c.shape(0), c.shape(1)))],
  MatMulInteger: (c) => [ti('int32', matmulShape(c.shape(0), c.shape(1)))],
  QLinearMatMul: (c) => [ti(quantDtype(c, 7), matmulShape(c.shape(0), c.shape(3)))],
  Resize: (c) => [ti(c.dtype(0), resize(c))],
  Upsample: (c) => [ti(c.dtype(0), resize(c))],
  DepthToSpace: (c) => [ti(c.dtype(0), depthToSpace(c, false))],
  SpaceToDepth: (c) => [ti(c.dtype(0), depthToSpace(c, true))],
  Einsum: (c) => [ti(c.dtype(0), einsum(c))],
  QuantizeLinear: (c) => [ti(quantDtype(c, 2), c.shape(0))],
  DequantizeLinear: (c) => [ti(c.has(1) && c.type(1) ? c.dtype(1) : 'float32', c.shape(0))],
};
