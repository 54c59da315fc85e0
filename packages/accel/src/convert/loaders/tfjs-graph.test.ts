import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tensor } from '../../onnx/graph';
import { runTfjsGraph, tfjs } from '../reference';
import { loadTfjsGraphModel, readTfjsGraphModel } from './tfjs-graph';

const f32 = (v: number[]) => new Uint8Array(Float32Array.from(v).buffer);
const i32 = (v: number[]) => new Uint8Array(Int32Array.from(v).buffer);
const constNode = (name: string, dtype: string) => ({ name, op: 'Const', attr: { dtype: { type: dtype }, value: { tensor: { dtype } } } });

/** x [-1,2] -> MatMul(x, w [2,2]) -> BiasAdd(b [2]); the weights are described by `manifest`. */
function matmulModel(manifest: object[]) {
  return {
    format: 'graph-model',
    modelTopology: {
      node: [
        { name: 'x', op: 'Placeholder', attr: { dtype: { type: 'DT_FLOAT' }, shape: { shape: { dim: [{ size: '-1' }, { size: '2' }] } } } },
        constNode('w', 'DT_FLOAT'),
        constNode('b', 'DT_FLOAT'),
        { name: 'mm', op: 'MatMul', input: ['x', 'w'], attr: { T: { type: 'DT_FLOAT' }, transpose_a: { b: false }, transpose_b: { b: false } } },
        { name: 'y', op: 'BiasAdd', input: ['mm', 'b', '^w'], attr: { T: { type: 'DT_FLOAT' }, data_format: { s: Buffer.from('NHWC').toString('base64') } } },
      ],
      library: { function: [{ signature: { name: 'ignored' } }] },
      versions: { producer: 1 },
    },
    signature: { inputs: { 'x:0': { name: 'x:0' } }, outputs: { 'y:0': { name: 'y:0' } } },
    weightsManifest: manifest,
  };
}

describe('readTfjsGraphModel', () => {
  it('reads topology, signature and plain weights across manifest groups in order', () => {
    const model = matmulModel([
      { paths: ['a.bin'], weights: [{ name: 'w', shape: [2, 2], dtype: 'float32' }] },
      { paths: ['b.bin'], weights: [{ name: 'b', shape: [2], dtype: 'float32' }, { name: 'k', shape: [3], dtype: 'int32' }, { name: 'm', shape: [2], dtype: 'bool' }] },
    ]);
    const weights = Buffer.concat([f32([1, 2, 3, 4]), f32([0.5, -0.5]), i32([7, -8, 9]), new Uint8Array([1, 0])]);
    const graph = readTfjsGraphModel(model, weights);
    expect(graph.format).toBe('tfjs-graph');
    expect(graph.signature).toEqual({ inputs: ['x:0'], outputs: ['y:0'] });
    expect(graph.nodes.map((n) => n.name)).toEqual(['x', 'w', 'b', 'mm', 'y']);
    expect(graph.nodes[4]!.inputs).toEqual(['mm', 'b']);
    expect(graph.consts.get('w')).toEqual(tensor('float32', [2, 2], [1, 2, 3, 4]));
    expect(graph.consts.get('b')).toEqual(tensor('float32', [2], [0.5, -0.5]));
    expect(graph.consts.get('k')).toEqual(tensor('int32', [3], [7, -8, 9]));
    expect(graph.consts.get('m')).toEqual(tensor('bool', [2], [1, 0]));
  });

  it('dequantizes uint8 and uint16 weights as q * scale + min, and widens float16', () => {
    const model = matmulModel([
      {
        paths: ['w.bin'],
        weights: [
          { name: 'w', shape: [2, 2], dtype: 'float32', quantization: { dtype: 'uint8', scale: 0.5, min: -1 } },
          { name: 'b', shape: [2], dtype: 'float32', quantization: { dtype: 'uint16', scale: 0.25, min: 2, original_dtype: 'float32' } },
          { name: 'h', shape: [3], dtype: 'float32', quantization: { dtype: 'float16' } },
          { name: 'n', shape: [2], dtype: 'int32', quantization: { dtype: 'uint8', scale: 0.4, min: 0 } },
        ],
      },
    ]);
    const weights = Buffer.concat([new Uint8Array([0, 1, 2, 255]), new Uint8Array(Uint16Array.from([0, 1000]).buffer), new Uint8Array(Uint16Array.from([0x3c00, 0xc000, 0x3555]).buffer), new Uint8Array([3, 4])]);
    const graph = readTfjsGraphModel(model, weights);
    expect(graph.consts.get('w')).toEqual(tensor('float32', [2, 2], [-1, -0.5, 0, 126.5]));
    expect(graph.consts.get('b')).toEqual(tensor('float32', [2], [2, 252]));
    expect(Array.from(graph.consts.get('h')!.data as Float32Array)).toEqual([1, -2, 0.25 * (1 + 0x155 / 1024)]);
    expect(graph.consts.get('n')).toEqual(tensor('int32', [2], [1, 2]));
  });

  it('runs a uint8-quantized model like TF.js loading the same model.json does', async () => {
    const manifest = [{ paths: ['w.bin'], weights: [
      { name: 'w', shape: [2, 2], dtype: 'float32', quantization: { dtype: 'uint8', scale: 0.013, min: -1.7 } },
      { name: 'b', shape: [2], dtype: 'float32', quantization: { dtype: 'uint8', scale: 0.02, min: 0.1 } },
    ] }];
    const model = matmulModel(manifest);
    const weights = new Uint8Array([10, 200, 37, 99, 5, 250]);
    const tf = await tfjs();
    const converter = await import('@tensorflow/tfjs-converter');
    const reference = await converter.loadGraphModel(
      tf.io.fromMemory({ modelTopology: { ...model.modelTopology, library: {} }, weightSpecs: manifest[0]!.weights, weightData: weights.slice().buffer } as never),
    );
    const x = [0.3, -1.2, 2.5, 0.7];
    const expected = (reference.execute(tf.tensor2d(x, [2, 2]), 'y') as import('@tensorflow/tfjs-core').Tensor).dataSync();
    const ours = await runTfjsGraph(readTfjsGraphModel(model, weights), { 'x:0': tensor('float32', [2, 2], x) }, ['y:0']);
    expect(Array.from(ours['y:0']!.data)).toEqual(Array.from(expected));
  });

  it('reads string weights (uint32 length + bytes each)', () => {
    const model = { modelTopology: { node: [constNode('s', 'DT_STRING')] }, weightsManifest: [{ paths: [], weights: [{ name: 's', shape: [2], dtype: 'string' }] }] };
    const weights = Buffer.concat([new Uint8Array([2, 0, 0, 0]), Buffer.from('hi'), new Uint8Array([0, 0, 0, 0])]);
    const s = readTfjsGraphModel(model, weights).consts.get('s')!;
    expect((s.data as Uint8Array[]).map((v) => Buffer.from(v).toString())).toEqual(['hi', '']);
  });

  it('takes the signature from userDefinedMetadata when there is no top-level one', () => {
    const model = { ...matmulModel([]), signature: undefined, userDefinedMetadata: { signature: { inputs: { 'x:0': {} }, outputs: { y: { name: 'y' } } } } };
    expect(readTfjsGraphModel(model, new Uint8Array(0)).signature).toEqual({ inputs: ['x:0'], outputs: ['y:0'] });
  });

  it('takes the Placeholders as inputs when the signature lists only outputs', () => {
    const model = { ...matmulModel([]), signature: { outputs: { y: { name: 'y' } } } };
    expect(readTfjsGraphModel(model, new Uint8Array(0)).signature).toEqual({ inputs: ['x:0'], outputs: ['y:0'] });
  });

  it('fails clearly when the weight files do not match the manifest', () => {
    const model = matmulModel([{ paths: ['a.bin'], weights: [{ name: 'w', shape: [2, 2], dtype: 'float32' }] }]);
    expect(() => readTfjsGraphModel(model, f32([1, 2, 3]), 'm/model.json')).toThrow(/Cannot read "m\/model.json" as a TensorFlow.js model: weight "w" needs 16 bytes, only 12 left/);
    expect(() => readTfjsGraphModel(model, f32([1, 2, 3, 4, 5]))).toThrow(/describes 16 bytes of weights, the weight files hold 20/);
    expect(() => readTfjsGraphModel({ modelTopology: { config: {} } }, new Uint8Array(0))).toThrow(/no modelTopology.node/);
  });
});

describe('loadTfjsGraphModel', () => {
  it('reads the shard files listed in the manifest, from a folder or a model.json path', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tfjs-graph-'));
    const model = matmulModel([{ paths: ['group1-shard1of2.bin', 'group1-shard2of2.bin'], weights: [{ name: 'w', shape: [2, 2], dtype: 'float32' }, { name: 'b', shape: [2], dtype: 'float32' }] }]);
    const all = f32([1, 2, 3, 4, 5, 6]);
    writeFileSync(path.join(dir, 'model.json'), JSON.stringify(model));
    writeFileSync(path.join(dir, 'group1-shard1of2.bin'), all.subarray(0, 10));
    writeFileSync(path.join(dir, 'group1-shard2of2.bin'), all.subarray(10));
    for (const p of [dir, path.join(dir, 'model.json')]) {
      const graph = await loadTfjsGraphModel(p);
      expect(graph.consts.get('w')).toEqual(tensor('float32', [2, 2], [1, 2, 3, 4]));
      expect(graph.consts.get('b')).toEqual(tensor('float32', [2], [5, 6]));
    }
    writeFileSync(path.join(dir, 'model.json'), JSON.stringify({ ...model, weightsManifest: [{ paths: ['missing.bin'], weights: [] }] }));
    await expect(loadTfjsGraphModel(dir)).rejects.toThrow(/weight file "missing.bin" listed in weightsManifest is not readable/);
  });
});
