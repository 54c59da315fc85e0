import { describe, expect, it } from 'vitest';
import { tensor, type DType, type Tensor } from '../../onnx/graph';
import { expectConvertsLikeTfjs, randomFloats, runOnnx } from '../../test-util/convert';
import { mapGraph } from '../map';
import { runTfjsGraph, tfjs } from '../reference';
import { tfAttr } from '../tf/attrs';
import { TfGraphBuilder } from '../tf/builder';

const { s, b: bool, i, f, strs } = tfAttr;
const size = (dims: number[]) => dims.reduce((a, c) => a * c, 1);
const floats = (dims: number[], seed: number): Tensor => tensor('float32', dims, randomFloats(size(dims), seed));

/** Converts a graph with inputs `x` (and `y`) and compares with TF.js. */
async function check(shapes: number[][], body: (b: TfGraphBuilder, ...xs: string[]) => string, opts: { passes?: boolean; dtype?: DType } = {}) {
  const b = new TfGraphBuilder();
  const names = ['x', 'y'].slice(0, shapes.length);
  const xs = names.map((n, k) => b.placeholder(n, shapes[k]!, opts.dtype));
  const out = body(b, ...xs);
  const feeds = Object.fromEntries(names.map((n, k) => {
    const value = floats(shapes[k]!, k + 3);
    return [`${n}:0`, opts.dtype === 'int32' ? tensor('int32', value.dims, Array.from(value.data as Float32Array, (v) => Math.round(v * 5))) : value];
  }));
  return expectConvertsLikeTfjs(b.build(xs, [out]), feeds, [out], opts);
}

describe('MatMul', () => {
  for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
    it(`matches TF.js with transpose_a ${ta}, transpose_b ${tb}`, async () => {
      const a = ta ? [4, 3] : [3, 4];
      const bDims = tb ? [5, 4] : [4, 5];
      await check([a, bDims], (b, x, y) => b.op('MatMul', 'mm', [x!, y!], { transpose_a: bool(ta), transpose_b: bool(tb) }), { passes: !ta });
    });
  }

  it('matches TF.js on a constant weight with transpose_b, batch 3', async () => {
    await check([[3, 4]], (b, x) => b.op('MatMul', 'mm', [x!, b.const('w', floats([6, 4], 9))], { transpose_a: bool(false), transpose_b: bool(true) }));
  });

  it('multiplies int32 matrices (MatMul, not Gemm), transposing a constant in JS', async () => {
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [2, 3], 'int32');
    const w = b.const('w', tensor('int32', [2, 3], [1, 2, 3, 4, 5, 6]));
    const y = b.op('MatMul', 'mm', [x, w], { T: tfAttr.type('DT_INT32'), transpose_a: bool(false), transpose_b: bool(true) });
    const onnx = mapGraph(b.build([x], [y]), { inputs: [x], outputs: [y] });
    expect(onnx.nodes.map((n) => n.op).filter((op) => op !== 'Identity')).toEqual(['MatMul']);
    const got = await runOnnx(onnx, { 'x:0': tensor('int32', [2, 3], [1, 0, 2, -1, 1, 1]) });
    // [1 0 2; -1 1 1] x [1 2 3; 4 5 6]^T = [7 16; 4 7]
    expect(Array.from(got[y]!.data)).toEqual([7, 16, 4, 7]);
  });
});

describe('_FusedMatMul', () => {
  const fused = (ops: string[], n: number, extra = {}) => ({ transpose_a: bool(false), transpose_b: bool(false), fused_ops: strs(ops), num_args: i(n), ...extra });

  for (const act of [[], ['Relu'], ['Relu6'], ['Elu'], ['Sigmoid']]) {
    it(`matches TF.js for BiasAdd ${act.join('')}`, async () => {
      await check([[3, 4]], (b, x) => {
        const bias = b.const('bias', floats([5], 4));
        return b.op('_FusedMatMul', 'mm', [x!, b.const('w', floats([4, 5], 9)), bias], fused(['BiasAdd', ...act], 1));
      });
    });
  }

  it('matches TF.js for BiasAdd + LeakyRelu and BiasAdd + Prelu', async () => {
    await check([[3, 4]], (b, x) => {
      const w = b.const('w', floats([4, 5], 9));
      const bias = b.const('bias', floats([5], 4));
      const leaky = b.op('_FusedMatMul', 'leaky', [x!, w, bias], fused(['BiasAdd', 'LeakyRelu'], 1, { leakyrelu_alpha: f(0.1) }));
      const alpha = b.const('alpha', floats([5], 5));
      return b.op('_FusedMatMul', 'prelu', [leaky, b.const('w2', floats([5, 5], 2)), bias, alpha], fused(['BiasAdd', 'Prelu'], 2));
    }, { passes: false });
  });

  it('fails for FusedBatchNorm', () => {
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [2, 2]);
    const args = ['s', 'o', 'm', 'v'].map((n) => b.const(n, floats([2], 1)));
    const y = b.op('_FusedMatMul', 'mm', [x, x, ...args], fused(['FusedBatchNorm'], 4));
    expect(() => mapGraph(b.build([x], [y]), { inputs: [x], outputs: [y] })).toThrow(/FusedBatchNorm after a MatMul is not supported/);
  });
});

describe('BatchMatMul', () => {
  for (const [ax, ay] of [[false, false], [true, false], [false, true], [true, true]] as const) {
    it(`BatchMatMulV2 broadcasts batch dims with adj_x ${ax}, adj_y ${ay}`, async () => {
      const a = [2, 3, ...(ax ? [4, 3] : [3, 4])];
      const bDims = [3, ...(ay ? [5, 4] : [4, 5])];
      await check([a, bDims], (b, x, y) => b.op('BatchMatMulV2', 'bmm', [x!, y!], { adj_x: bool(ax), adj_y: bool(ay) }));
    });
  }

  it('BatchMatMul with a constant adjoint right side', async () => {
    await check([[2, 3, 4]], (b, x) => b.op('BatchMatMul', 'bmm', [x!, b.const('w', floats([2, 5, 4], 8))], { adj_x: bool(false), adj_y: bool(true) }), { passes: false });
  });
});

describe('BiasAdd', () => {
  it('adds along the last axis for NHWC, batch 2', async () => {
    await check([[2, 3, 5, 4]], (b, x) => b.op('BiasAdd', 'ba', [x!, b.const('bias', floats([4], 3))], { data_format: s('NHWC') }));
  });

  it('adds along axis 1 for NCHW, with a constant or computed bias', async () => {
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [-1, 3, 5, 4]);
    const bias = b.placeholder('bias', [3]);
    const c = b.op('BiasAdd', 'c', [x, b.const('cb', tensor('float32', [3], [1, 10, 100]))], { data_format: s('NCHW') });
    const y = b.op('BiasAdd', 'y', [c, bias], { data_format: s('NCHW') });
    const feeds = { 'x:0': floats([2, 3, 5, 4], 1), 'bias:0': tensor('float32', [3], [-1, 2, 3]) };
    const got = await runOnnx(mapGraph(b.build([x, bias], [y]), { inputs: Object.keys(feeds), outputs: [y] }), feeds);
    // Reference: TF.js adds a [3, 1, 1] bias, which is what NCHW BiasAdd means.
    const r = new TfGraphBuilder();
    const rx = r.placeholder('x', [-1, 3, 5, 4]);
    const ry = r.op('AddV2', 'y', [rx, r.const('b', tensor('float32', [3, 1, 1], [0, 12, 103]))]);
    const want = await runTfjsGraph(r.build([rx], [ry]), { 'x:0': feeds['x:0'] }, [ry]);
    expect(got[y]!.dims).toEqual(want[ry]!.dims);
    Array.from(got[y]!.data, Number).forEach((v, k) => expect(v).toBeCloseTo(want[ry]!.data[k]!, 5));
  });
});

describe('Einsum', () => {
  it('matches TF.js (CPU backend: the WebAssembly one has no Einsum) for a batched matrix product', async () => {
    const tf = await tfjs();
    await tf.setBackend('cpu');
    try {
      await check([[2, 3, 4], [2, 4, 5]], (b, x, y) => b.op('Einsum', 'e', [x!, y!], { equation: s('bij,bjk->bik'), N: i(2) }));
    } finally {
      await tf.setBackend('wasm');
    }
  });
});
