import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AccelError } from '../../errors';
import { tensor } from '../../onnx/graph';
import { TfGraphBuilder } from '../tf/builder';
import { tfProto, writeGraphDef } from './graphdef';
import { loadTfModel } from './index';

function graph() {
  const b = new TfGraphBuilder();
  const x = b.placeholder('x', [-1, 2]);
  const w = b.const('w', tensor('float32', [2], [2, 3]));
  return b.build([x], [b.op('Mul', 'y', [x, w])]);
}

function savedModelBytes(): Uint8Array {
  const graphDef = tfProto('GraphDef').toObject(tfProto('GraphDef').decode(writeGraphDef(graph())));
  const metaGraphs = [{ metaInfoDef: { tags: ['serve'] }, graphDef, signatureDef: { serving_default: { inputs: { x: { name: 'x:0' } }, outputs: { y: { name: 'y:0' } } } } }];
  const type = tfProto('SavedModel');
  return type.encode(type.fromObject({ savedModelSchemaVersion: 1, metaGraphs })).finish();
}

function tfjsModel(format: string | undefined, topology: object) {
  return { format, modelTopology: topology, weightsManifest: [{ paths: ['w.bin'], weights: [{ name: 'w', shape: [2], dtype: 'float32' }] }] };
}

describe('loadTfModel', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'load-tf-'));
  const file = (...parts: string[]) => path.join(dir, ...parts);
  mkdirSync(file('saved'));
  mkdirSync(file('tfjs'));
  mkdirSync(file('empty'));
  writeFileSync(file('frozen.pb'), writeGraphDef(graph()));
  writeFileSync(file('saved', 'saved_model.pb'), savedModelBytes());
  writeFileSync(file('renamed.pb'), savedModelBytes());
  writeFileSync(file('corrupt.pb'), Buffer.from('\x0a\xff\xff\xff\xff\x0fnot a graph'));
  const topology = { node: [{ name: 'x', op: 'Placeholder', attr: {} }, { name: 'w', op: 'Const', attr: {} }, { name: 'y', op: 'Mul', input: ['x', 'w'], attr: {} }] };
  writeFileSync(file('tfjs', 'model.json'), JSON.stringify(tfjsModel('graph-model', topology)));
  writeFileSync(file('tfjs', 'w.bin'), new Uint8Array(Float32Array.from([2, 3]).buffer));
  writeFileSync(file('tfjs', 'untagged.json'), JSON.stringify(tfjsModel(undefined, topology)));
  writeFileSync(file('tfjs', 'odd.json'), JSON.stringify(tfjsModel('something-else', { foo: 1 })));
  writeFileSync(file('notes.txt'), 'hello');
  mkdirSync(file('keras'));
  const dense = { class_name: 'Dense', config: { name: 'dense', units: 2, activation: 'linear', use_bias: false, batch_input_shape: [null, 2], dtype: 'float32' } };
  const keras = { format: 'layers-model', modelTopology: { keras_version: '2.4.0', model_config: { class_name: 'Sequential', config: { name: 's', layers: [dense] } } } };
  const kerasManifest = [{ paths: ['w.bin'], weights: [{ name: 'dense/kernel', shape: [2, 2], dtype: 'float32' }] }];
  writeFileSync(file('keras', 'model.json'), JSON.stringify({ ...keras, weightsManifest: kerasManifest }));
  writeFileSync(file('keras', 'w.bin'), new Uint8Array(Float32Array.from([1, 2, 3, 4]).buffer));

  it.each([
    ['frozen.pb', 'graphdef'],
    ['saved', 'saved-model'],
    ['saved/saved_model.pb', 'saved-model'],
    ['renamed.pb', 'saved-model'],
    ['tfjs', 'tfjs-graph'],
    ['tfjs/model.json', 'tfjs-graph'],
    ['tfjs/untagged.json', 'tfjs-graph'],
  ])('detects %s as %s and reads its constants', async (name, format) => {
    const g = await loadTfModel(file(name));
    expect(g.format).toBe(format);
    expect(g.nodes.map((n) => n.op)).toEqual(['Placeholder', 'Const', 'Mul']);
    expect(g.consts.get('w')).toEqual(tensor('float32', [2], [2, 3]));
  });

  it('hands a Keras layers model to the layers reader', async () => {
    const g = await loadTfModel(file('keras'));
    expect(g.format).toBe('tfjs-layers');
    expect(g.signature?.outputs).toHaveLength(1);
  });

  it.each([
    ['corrupt.pb', /Cannot read ".*corrupt.pb" as a TensorFlow GraphDef/],
    ['missing.pb', /Cannot read ".*missing.pb" as a TensorFlow model: no such file or folder/],
    ['empty', /holds neither saved_model.pb .* nor model.json/],
    ['notes.txt', /expected a .pb file/],
    ['tfjs/odd.json', /its format is "something-else" and its topology is neither a graph/],
  ])('fails clearly on %s', async (name, message) => {
    const err = await loadTfModel(file(name)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AccelError);
    expect((err as AccelError).code).toBe('ACCEL_ERR_CONVERT_BAD_MODEL');
    expect((err as Error).message).toMatch(message);
  });
});
