import { describe, expect, it } from 'vitest';
import { AccelError } from '../../errors';
import { tensor, type Tensor } from '../../onnx/graph';
import { runTfjsGraph } from '../reference';
import { tfAttr } from '../tf/attrs';
import { TfGraphBuilder } from '../tf/builder';
import { halfToFloat, readGraphDef, tfProto, writeGraphDef } from './graphdef';

/** A GraphDef with one Const node whose TensorProto is given in JSON form. */
function constGraph(tensorJson: Record<string, unknown>, extraNodes: object[] = []): Uint8Array {
  const type = tfProto('GraphDef');
  const node = [{ name: 'c', op: 'Const', attr: { dtype: { type: tensorJson.dtype }, value: { tensor: tensorJson } } }, ...extraNodes];
  return type.encode(type.fromObject({ node })).finish();
}

const shape = (...dims: number[]) => ({ dim: dims.map((d) => ({ size: String(d) })) });

describe('readGraphDef / writeGraphDef', () => {
  it('round-trips a graph written in code: nodes, attributes and every constant type', () => {
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [-1, 2]);
    const w = b.const('w', tensor('float32', [2, 2], [1, 2.5, -3, 4]));
    b.const('i64', tensor('int64', [3], [-1, 0, 2 ** 40]));
    b.const('i32', tensor('int32', [2, 1], [7, -7]));
    b.const('flag', tensor('bool', [2], [1, 0]));
    b.const('names', { dtype: 'string', dims: [2], data: [Buffer.from('cat'), Buffer.from('')] } as Tensor);
    const y = b.op('MatMul', 'y', [x, w], { transpose_a: tfAttr.b(false), transpose_b: tfAttr.b(true) });
    const z = b.op('Conv2D', 'z', [y, w], {
      strides: tfAttr.ints([1, 2, 2, 1]),
      padding: tfAttr.s('SAME'),
      alpha: tfAttr.f(0.5),
      shape: tfAttr.shape([-1, 3]),
      fused_ops: tfAttr.strs(['BiasAdd', 'Relu']),
      num_args: tfAttr.i(1),
    });
    const graph = b.build([x], [z]);
    const back = readGraphDef(writeGraphDef(graph));
    expect(back.format).toBe('graphdef');
    expect(back.nodes).toEqual(graph.nodes);
    expect(back.consts).toEqual(graph.consts);
  });

  it('gives a graph that TF.js runs to the same result', async () => {
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [-1, 2]);
    const w = b.const('w', tensor('float32', [2, 2], [1, 2, 3, 4]));
    const y = b.op('MatMul', 'y', [x, w], { transpose_a: tfAttr.b(false), transpose_b: tfAttr.b(false) });
    const graph = readGraphDef(writeGraphDef(b.build([x], [y])));
    const out = await runTfjsGraph(graph, { 'x:0': tensor('float32', [1, 2], [1, 1]) }, [y]);
    expect(Array.from(out['y:0']!.data)).toEqual([4, 6]);
  });

  it('repeats the last value of a short typed list to fill the shape', () => {
    expect(readGraphDef(constGraph({ dtype: 'DT_FLOAT', tensorShape: shape(2, 3), floatVal: [1.5] })).consts.get('c')).toEqual(
      tensor('float32', [2, 3], [1.5, 1.5, 1.5, 1.5, 1.5, 1.5]),
    );
    expect(readGraphDef(constGraph({ dtype: 'DT_INT32', tensorShape: shape(4), intVal: [1, 2] })).consts.get('c')).toEqual(
      tensor('int32', [4], [1, 2, 2, 2]),
    );
    expect(readGraphDef(constGraph({ dtype: 'DT_BOOL', tensorShape: shape(3), boolVal: [true] })).consts.get('c')).toEqual(
      tensor('bool', [3], [1, 1, 1]),
    );
  });

  it('fills zeros when no value is given, and reads scalars', () => {
    expect(readGraphDef(constGraph({ dtype: 'DT_INT32', tensorShape: shape(2) })).consts.get('c')).toEqual(tensor('int32', [2], [0, 0]));
    expect(readGraphDef(constGraph({ dtype: 'DT_FLOAT', tensorShape: {}, floatVal: [3] })).consts.get('c')).toEqual(tensor('float32', [], [3]));
  });

  it('reads int64 exactly, float16 as float32 and strings as bytes', () => {
    const big = readGraphDef(constGraph({ dtype: 'DT_INT64', tensorShape: shape(2), int64Val: ['-5', '9007199254740993'] })).consts.get('c')!;
    expect(Array.from(big.data as BigInt64Array)).toEqual([-5n, 9007199254740993n]);
    // 0x3c00 = 1, 0xc000 = -2, 0x3800 = 0.5, 0x0001 = smallest subnormal 2^-24.
    const half = readGraphDef(constGraph({ dtype: 'DT_HALF', tensorShape: shape(4), halfVal: [0x3c00, 0xc000, 0x3800, 1] })).consts.get('c')!;
    expect(half).toEqual(tensor('float32', [4], [1, -2, 0.5, 2 ** -24]));
    const halfContent = readGraphDef(constGraph({ dtype: 'DT_HALF', tensorShape: shape(2), tensorContent: Buffer.from([0x00, 0x3c, 0x00, 0xfc]) }));
    expect(Array.from(halfContent.consts.get('c')!.data as Float32Array)).toEqual([1, -Infinity]);
    const strs = readGraphDef(constGraph({ dtype: 'DT_STRING', tensorShape: shape(2), stringVal: [Buffer.from('a'), Buffer.from('bc')] }));
    expect((strs.consts.get('c')!.data as Uint8Array[]).map((s) => Buffer.from(s).toString())).toEqual(['a', 'bc']);
  });

  it('decodes half-precision bits', () => {
    expect([0x7c00, 0x7e00, 0x8000, 0x7bff].map(halfToFloat)).toEqual([Infinity, NaN, -0, 65504]);
  });

  it('keeps only dtype and shape in a Const value attribute, and drops control inputs', () => {
    const bytes = constGraph({ dtype: 'DT_FLOAT', tensorShape: shape(1), floatVal: [2] }, [
      { name: 'x', op: 'Placeholder', attr: { dtype: { type: 'DT_FLOAT' } } },
      { name: 'y', op: 'AddV2', input: ['x', 'c:0', '^init'], attr: { T: { type: 'DT_FLOAT' } } },
    ]);
    const graph = readGraphDef(bytes);
    expect(graph.nodes[0]!.attr.value).toEqual({ tensor: { dtype: 'DT_FLOAT', tensorShape: shape(1) } });
    expect(graph.nodes[2]!.inputs).toEqual(['x', 'c:0']);
  });

  it('fails with a clear error on bytes that are not a GraphDef', () => {
    const read = (bytes: Uint8Array) => () => readGraphDef(bytes, 'model.pb');
    expect(read(Buffer.from('this is not a protobuf at all'))).toThrow(AccelError);
    expect(read(Buffer.from('this is not a protobuf at all'))).toThrow(/Cannot read "model.pb" as a TensorFlow GraphDef/);
    expect(read(new Uint8Array(0))).toThrow(/no nodes/);
    expect(read(constGraph({ dtype: 'DT_FLOAT', tensorShape: shape(2), tensorContent: Buffer.from([1, 2, 3]) }))).toThrow(/Const "c": 3 bytes of data/);
  });
});
