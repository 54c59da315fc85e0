import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tensor } from '../../onnx/graph';
import { tfAttr } from '../tf/attrs';
import { TfGraphBuilder } from '../tf/builder';
import type { TfGraph } from '../tf/graph';
import { runTfjsGraph } from '../reference';
import { tfProto, writeGraphDef } from './graphdef';
import { loadSavedModel, readSavedModelBytes, readSsTable } from './saved-model';

function smallGraph(): TfGraph {
  const b = new TfGraphBuilder();
  const x = b.placeholder('serving_default_x', [-1, 2]);
  const w = b.const('w', tensor('float32', [2], [2, 3]));
  const y = b.op('Mul', 'out', [x, w]);
  return b.build([x], [y]);
}

/** SavedModel bytes holding `graphs` as meta graphs (tags, graph) with a serving_default signature on each. */
function savedModel(graphs: { tags: string[]; graph: TfGraph }[]): Uint8Array {
  const type = tfProto('SavedModel');
  const metaGraphs = graphs.map(({ tags, graph }) => ({
    metaInfoDef: { tags },
    graphDef: tfProto('GraphDef').toObject(tfProto('GraphDef').decode(writeGraphDef(graph))),
    signatureDef: { serving_default: { inputs: { x: { name: graph.signature!.inputs[0] } }, outputs: { y: { name: graph.signature!.outputs[0] } }, methodName: 'tensorflow/serving/predict' } },
  }));
  return type.encode(type.fromObject({ savedModelSchemaVersion: 1, metaGraphs })).finish();
}

describe('readSavedModelBytes', () => {
  it('reads the meta graph tagged serve, its constants and its serving_default signature', () => {
    const other = new TfGraphBuilder();
    const train = other.build([other.placeholder('t', [1])], [other.op('Relu', 'r', ['t'])]);
    const graph = readSavedModelBytes(savedModel([{ tags: ['train'], graph: train }, { tags: ['serve', 'gpu'], graph: smallGraph() }]));
    expect(graph.format).toBe('saved-model');
    expect(graph.nodes.map((n) => n.op)).toEqual(['Placeholder', 'Const', 'Mul']);
    expect(graph.consts.get('w')).toEqual(tensor('float32', [2], [2, 3]));
    expect(graph.signature).toEqual({ inputs: ['serving_default_x:0'], outputs: ['out:0'] });
  });

  it('takes the first meta graph when none is tagged serve', () => {
    const graph = readSavedModelBytes(savedModel([{ tags: ['custom'], graph: smallGraph() }]));
    expect(graph.nodes.map((n) => n.name)).toEqual(['serving_default_x', 'w', 'out']);
  });

  it('refuses graphs that read variables or call library functions, saying how to freeze them', () => {
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [2]);
    b.op('VarHandleOp', 'v', [], { shared_name: tfAttr.s('v'), dtype: tfAttr.type('DT_FLOAT') });
    const r = b.op('ReadVariableOp', 'read', ['v'], { dtype: tfAttr.type('DT_FLOAT') });
    const y = b.op('Mul', 'y', [x, r]);
    expect(() => readSavedModelBytes(savedModel([{ tags: ['serve'], graph: b.build([x], [y]) }]), 'm/saved_model.pb')).toThrow(
      /Cannot read "m\/saved_model.pb" as a TensorFlow SavedModel: the graph reads variables \(VarHandleOp, ReadVariableOp\) and there is no variables\/ folder beside it/,
    );
    const c = new TfGraphBuilder();
    const cx = c.placeholder('x', [2]);
    const call = c.op('StatefulPartitionedCall', 'call', [cx], { f: { func: { name: '__inference_f' } } });
    expect(() => readSavedModelBytes(savedModel([{ tags: ['serve'], graph: c.build([cx], [call]) }]))).toThrow(/calls functions of its library \(StatefulPartitionedCall\)/);
  });

  it('fails clearly on bytes that are not a SavedModel', () => {
    expect(() => readSavedModelBytes(Buffer.from('garbage bytes here'), 'x.pb')).toThrow(/Cannot read "x.pb" as a TensorFlow SavedModel/);
    expect(() => readSavedModelBytes(new Uint8Array(0))).toThrow(/no meta graph/);
  });
});

describe('loadSavedModel', () => {
  it('loads from the folder, and fails clearly when variables/ holds no checkpoint', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'saved-model-'));
    writeFileSync(path.join(dir, 'saved_model.pb'), savedModel([{ tags: ['serve'], graph: smallGraph() }]));
    expect((await loadSavedModel(dir)).consts.get('w')).toEqual(tensor('float32', [2], [2, 3]));
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [2]);
    const v = b.op('VariableV2', 'v', [], { dtype: tfAttr.type('DT_FLOAT'), shape: tfAttr.shape([2]) });
    writeFileSync(path.join(dir, 'saved_model.pb'), savedModel([{ tags: ['serve'], graph: b.build([x], [b.op('Mul', 'y', [x, v])]) }]));
    mkdirSync(path.join(dir, 'variables'));
    await expect(loadSavedModel(dir)).rejects.toThrow(/as a TensorFlow SavedModel: ENOENT.*variables.index/);
    await expect(loadSavedModel(path.join(dir, 'missing'))).rejects.toThrow(/Cannot read ".*missing\/saved_model.pb" as a TensorFlow SavedModel: ENOENT/);
  });
});

const varint = (n: number): number[] => (n < 0x80 ? [n] : [(n & 0x7f) | 0x80, ...varint(Math.floor(n / 128))]);

/** A table block: prefix-compressed keys (a restart every 4 entries), then the restart offsets and their count. */
function tableBlock(entries: [Buffer, Uint8Array][]): Buffer {
  const parts: number[] = [];
  const restarts: number[] = [];
  let prev: Buffer = Buffer.alloc(0);
  entries.forEach(([key, value], k) => {
    let shared = 0;
    if (k % 4 === 0) restarts.push(parts.length);
    else while (shared < Math.min(prev.length, key.length) && prev[shared] === key[shared]) shared++;
    parts.push(...varint(shared), ...varint(key.length - shared), ...varint(value.length), ...key.subarray(shared), ...value);
    prev = key;
  });
  if (restarts.length === 0) restarts.push(0);
  const tail = Buffer.alloc(4 * restarts.length + 4);
  restarts.forEach((r, k) => tail.writeUInt32LE(r, 4 * k));
  tail.writeUInt32LE(restarts.length, 4 * restarts.length);
  return Buffer.concat([Buffer.from(parts), tail]);
}

/** An uncompressed SSTable of sorted entries, `perBlock` entries per data block. */
function ssTable(entries: [string, Uint8Array][], perBlock: number): Buffer {
  const chunks: Buffer[] = [];
  let offset = 0;
  const put = (block: Buffer) => {
    const handle = Buffer.from([...varint(offset), ...varint(block.length)]);
    chunks.push(block, Buffer.from([0, 0, 0, 0, 0])); // type: no compression; crc not checked
    offset += block.length + 5;
    return handle;
  };
  const index: [Buffer, Uint8Array][] = [];
  for (let k = 0; k < entries.length; k += perBlock) {
    const group = entries.slice(k, k + perBlock).map(([key, v]): [Buffer, Uint8Array] => [Buffer.from(key), v]);
    index.push([group[group.length - 1]![0], put(tableBlock(group))]);
  }
  const footer = Buffer.alloc(48);
  Buffer.concat([put(tableBlock([])), put(tableBlock(index))]).copy(footer);
  footer.writeBigUInt64LE(0xdb4775248b80fb57n, 40);
  return Buffer.concat([...chunks, footer]);
}

/** A TF1-style checkpoint (`variables.index` + one data shard) of float32 variables. */
function writeCheckpoint(dir: string, vars: Record<string, { dims: number[]; values: number[] }>): void {
  const data: Buffer[] = [];
  let offset = 0;
  const entry = tfProto('BundleEntryProto');
  const entries: [string, Uint8Array][] = [['', tfProto('BundleHeaderProto').encode({ numShards: 1 }).finish()]];
  for (const name of Object.keys(vars).sort()) {
    const bytes = Buffer.from(Float32Array.from(vars[name]!.values).buffer);
    const shape = { dim: vars[name]!.dims.map((size) => ({ size })) };
    entries.push([name, entry.encode(entry.fromObject({ dtype: 'DT_FLOAT', shape, offset, size: bytes.length })).finish()]);
    data.push(bytes);
    offset += bytes.length;
  }
  mkdirSync(path.join(dir, 'variables'));
  writeFileSync(path.join(dir, 'variables', 'variables.index'), ssTable(entries, 3));
  writeFileSync(path.join(dir, 'variables', 'variables.data-00000-of-00001'), Buffer.concat(data));
}

describe('SavedModel variables', () => {
  it('reads every entry of a multi-block table with shared key prefixes', () => {
    const entries = Array.from({ length: 23 }, (_, k): [string, Uint8Array] => [`layer_${String(k).padStart(2, '0')}/kernel`, Buffer.from([k])]);
    const table = readSsTable(ssTable(entries, 5));
    expect([...table.keys()]).toEqual(entries.map(([k]) => k));
    expect([...table.values()].map((v) => v[0])).toEqual(entries.map((_, k) => k));
    expect(() => readSsTable(Buffer.alloc(64))).toThrow(/bad magic number/);
  });

  it('turns TF1 variables into constants from the checkpoint, and the graph computes with them', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'saved-model-vars-'));
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [-1, 2]);
    b.op('VariableV2', 'dense/kernel', [], { dtype: tfAttr.type('DT_FLOAT'), shape: tfAttr.shape([2, 2]) });
    const kernel = b.op('Identity', 'dense/kernel/read', ['dense/kernel']);
    b.op('VarHandleOp', 'bias_handle', [], { dtype: tfAttr.type('DT_FLOAT'), shape: tfAttr.shape([2]), shared_name: tfAttr.s('dense/bias') });
    const bias = b.op('ReadVariableOp', 'dense/bias/Read', ['bias_handle'], { dtype: tfAttr.type('DT_FLOAT') });
    b.op('AssignVariableOp', 'dense/bias/Assign', ['bias_handle', x], { dtype: tfAttr.type('DT_FLOAT') });
    const mm = b.op('MatMul', 'mm', [x, kernel], { transpose_a: tfAttr.b(false), transpose_b: tfAttr.b(false) });
    const y = b.op('BiasAdd', 'y', [mm, bias]);
    writeFileSync(path.join(dir, 'saved_model.pb'), savedModel([{ tags: ['serve'], graph: b.build([x], [y]) }]));
    writeCheckpoint(dir, { 'dense/kernel': { dims: [2, 2], values: [1, 2, 3, 4] }, 'dense/bias': { dims: [2], values: [0.5, -1] } });
    const graph = await loadSavedModel(dir);
    expect(graph.consts.get('dense/kernel')).toEqual(tensor('float32', [2, 2], [1, 2, 3, 4]));
    expect(graph.consts.get('dense/bias/Read')).toEqual(tensor('float32', [2], [0.5, -1]));
    expect(graph.nodes.find((n) => n.name === 'dense/kernel')!.op).toBe('Const');
    expect(graph.nodes.map((n) => n.name)).not.toContain('bias_handle');
    expect(graph.nodes.map((n) => n.name)).not.toContain('dense/bias/Assign');
    const out = await runTfjsGraph(graph, { 'x:0': tensor('float32', [1, 2], [1, 2]) }, [y]);
    expect(Array.from(out['y:0']!.data)).toEqual([1 + 6 + 0.5, 2 + 8 - 1]);
  });

  it('names the variables the checkpoint lacks', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'saved-model-vars-'));
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [2]);
    const v = b.op('VariableV2', 'model/w', [], { dtype: tfAttr.type('DT_FLOAT'), shape: tfAttr.shape([2]) });
    writeFileSync(path.join(dir, 'saved_model.pb'), savedModel([{ tags: ['serve'], graph: b.build([x], [b.op('Mul', 'y', [x, v])]) }]));
    writeCheckpoint(dir, { 'model/w/.ATTRIBUTES/VARIABLE_VALUE': { dims: [2], values: [1, 2] } });
    await expect(loadSavedModel(dir)).rejects.toThrow(/the checkpoint has no value for variable\(s\) "model\/w" \(TF2 object-based checkpoints are not supported/);
  });
});
