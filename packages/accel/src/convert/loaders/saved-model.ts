import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { AccelError } from '../../errors';
import type { Tensor } from '../../onnx/graph';
import { dtypeToTf, parseTensorName, shapeToTf, tensorName, type TfGraph, type TfNode } from '../tf/graph';
import { dataTypeName, nodesFromProto, tensorFromProto, tfProto, toBigInt } from './graphdef';

const FORMAT = 'TensorFlow SavedModel';
const VARIABLE_OPS = new Set(['VariableV2', 'Variable']);
const RESOURCE_OPS = new Set(['VarHandleOp', 'ReadVariableOp']);
const CALL_OPS = new Set(['StatefulPartitionedCall', 'PartitionedCall']);

interface TensorInfo {
  name?: string;
}
interface MetaGraph {
  metaInfoDef?: { tags?: string[] };
  graphDef?: { node?: Parameters<typeof nodesFromProto>[0] };
  signatureDef?: Record<string, { inputs?: Record<string, TensorInfo>; outputs?: Record<string, TensorInfo> }>;
}

function bad(file: string, reason: string, cause?: unknown): AccelError {
  return new AccelError('ACCEL_ERR_CONVERT_BAD_MODEL', { file, format: FORMAT, reason }, { cause });
}

/** The meta graph tagged `serve`, or the first one. */
function serveGraph(metaGraphs: MetaGraph[]): MetaGraph | undefined {
  return metaGraphs.find((m) => m.metaInfoDef?.tags?.includes('serve')) ?? metaGraphs[0];
}

function signatureOf(meta: MetaGraph): TfGraph['signature'] {
  const sig = meta.signatureDef?.serving_default;
  if (!sig) return undefined;
  const names = (m: Record<string, TensorInfo> = {}) => Object.values(m).flatMap((t) => (t.name ? [tensorName(t.name)] : []));
  return { inputs: names(sig.inputs), outputs: names(sig.outputs) };
}

/** A LEB128 varint at `pos` -> [value, next position]. */
function varint(buf: Uint8Array, pos: number): [number, number] {
  let value = 0;
  for (let shift = 0; ; shift += 7) {
    if (pos >= buf.length) throw new Error('truncated varint');
    const b = buf[pos++]!;
    value += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return [value, pos];
  }
}

/** The key/value entries of one uncompressed table block (prefix-compressed keys, restart array at the end). */
function readBlock(file: Uint8Array, offset: number, length: number, out: Map<string, Uint8Array>): void {
  if (offset + length + 5 > file.length) throw new Error('a block runs past the end of the file');
  if (file[offset + length] !== 0) throw new Error(`compressed blocks (type ${file[offset + length]}) are not supported`);
  const block = file.subarray(offset, offset + length);
  const view = new DataView(block.buffer, block.byteOffset, block.byteLength);
  const end = length - 4 - 4 * view.getUint32(length - 4, true);
  let key: Uint8Array = new Uint8Array(0);
  for (let p = 0; p < end; ) {
    let shared: number, unshared: number, valueLength: number;
    [shared, p] = varint(block, p);
    [unshared, p] = varint(block, p);
    [valueLength, p] = varint(block, p);
    key = Buffer.concat([key.subarray(0, shared), block.subarray(p, p + unshared)]);
    p += unshared;
    out.set(Buffer.from(key).toString('utf8'), block.subarray(p, p + valueLength));
    p += valueLength;
  }
}

const TABLE_MAGIC = 0xdb4775248b80fb57n;

/** All entries of an SSTable (the LevelDB table format TensorFlow's checkpoint index uses). */
export function readSsTable(file: Uint8Array): Map<string, Uint8Array> {
  if (file.length < 48) throw new Error('too short for a table');
  const footer = file.subarray(file.length - 48);
  if (new DataView(footer.buffer, footer.byteOffset + 40, 8).getBigUint64(0, true) !== TABLE_MAGIC) throw new Error('not a table (bad magic number)');
  let p = 0;
  for (let skip = 0; skip < 2; skip++) [, p] = varint(footer, p); // metaindex handle: unused
  const [indexOffset, q] = varint(footer, p);
  const [indexSize] = varint(footer, q);
  const index = new Map<string, Uint8Array>();
  readBlock(file, indexOffset, indexSize, index);
  const entries = new Map<string, Uint8Array>();
  for (const handle of index.values()) {
    const [offset, r] = varint(handle, 0);
    readBlock(file, offset, varint(handle, r)[0], entries);
  }
  return entries;
}

interface BundleEntry {
  dtype?: number;
  shape?: { dim?: { size?: unknown }[] };
  shardId?: number;
  offset?: unknown;
  size?: unknown;
}

/** A SavedModel's `variables/` checkpoint: a lookup from variable name to its value. */
export function readCheckpoint(variablesDir: string): (name: string) => Tensor | undefined {
  const index = readSsTable(readFileSync(path.join(variablesDir, 'variables.index')));
  const header = tfProto('BundleHeaderProto').decode(index.get('') ?? new Uint8Array(0)) as unknown as { numShards?: number; endianness?: number };
  if (header.endianness) throw new Error('the checkpoint was written big-endian');
  const shards = header.numShards || 1;
  const data = new Map<number, Uint8Array>();
  const shard = (id: number) => {
    const file = path.join(variablesDir, `variables.data-${String(id).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}`);
    if (!data.has(id)) data.set(id, readFileSync(file));
    return data.get(id)!;
  };
  return (name) => {
    const raw = index.get(name);
    if (!name || !raw) return undefined;
    const e = tfProto('BundleEntryProto').decode(raw) as unknown as BundleEntry;
    if (dataTypeName(e.dtype) === 'DT_STRING') throw new Error(`variable "${name}" holds strings, which are not read from checkpoints`);
    const offset = Number(toBigInt(e.offset ?? 0));
    const length = Number(toBigInt(e.size ?? 0));
    const bytes = shard(e.shardId ?? 0).subarray(offset, offset + length);
    if (bytes.byteLength !== length) throw new Error(`variable "${name}": the data file ends before its ${length} bytes`);
    const count = (e.shape?.dim ?? []).reduce((a, d) => a * Number(toBigInt(d.size ?? 0)), 1);
    if (length === 0 && count > 0) throw new Error(`variable "${name}" has no data (partitioned variables are not supported)`);
    return tensorFromProto({ dtype: e.dtype, tensorShape: e.shape ?? {}, tensorContent: bytes });
  };
}

function constNode(name: string, value: Tensor): TfNode {
  const dtype = dtypeToTf(value.dtype);
  return { name, op: 'Const', inputs: [], attr: { dtype: { type: dtype }, value: { tensor: { dtype, tensorShape: shapeToTf(value.dims) } } } };
}

/**
 * Replaces variable reads by constants from the checkpoint: a `VariableV2` node becomes a Const
 * of the same name; a `ReadVariableOp` of a `VarHandleOp` becomes a Const named like the read,
 * and the handle goes, with the other ops that use it (assignments).
 * Values are looked up by the variable's `shared_name`, then by its node name (TF1 savers);
 * TF2 object-based checkpoint keys are not resolved.
 */
export function freezeVariables(graph: TfGraph, lookup: (name: string) => Tensor | undefined): TfGraph {
  const consts = new Map(graph.consts);
  const missing: string[] = [];
  const valueOf = (n: TfNode) => {
    const shared = n.attr.shared_name?.s ? Buffer.from(n.attr.shared_name.s, 'base64').toString('utf8') : '';
    const v = lookup(shared) ?? lookup(n.name);
    if (!v) missing.push(shared || n.name);
    return v;
  };
  const handles = new Map<string, Tensor | undefined>();
  for (const n of graph.nodes) if (n.op === 'VarHandleOp') handles.set(n.name, valueOf(n));
  const readsHandle = (n: TfNode) => n.inputs.some((i) => handles.has(parseTensorName(i).node));
  // Handles and what else uses them (assignments, initialization checks) have no part in inference.
  const nodes = graph.nodes.flatMap((n) => {
    if (handles.has(n.name) || (n.op !== 'ReadVariableOp' && readsHandle(n))) return [];
    const value = n.op === 'ReadVariableOp' ? handles.get(parseTensorName(n.inputs[0] ?? '').node) : VARIABLE_OPS.has(n.op) ? valueOf(n) : undefined;
    if (!value) return [n];
    consts.set(n.name, value);
    return [constNode(n.name, value)];
  });
  if (missing.length) throw new Error(`the checkpoint has no value for variable(s) ${missing.map((m) => `"${m}"`).join(', ')} (TF2 object-based checkpoints are not supported; freeze the model first)`);
  return { ...graph, nodes, consts };
}

/**
 * Reads the bytes of a `saved_model.pb`: the `serve` meta graph's GraphDef and its
 * `serving_default` signature. Variables are read from `variablesDir` (a TF1-style checkpoint)
 * and turned into constants; calls into the function library (TF2 SavedModels) are refused.
 */
export function readSavedModelBytes(bytes: Uint8Array, file = 'saved_model.pb', variablesDir?: string): TfGraph {
  let meta: MetaGraph | undefined;
  try {
    const model = tfProto('SavedModel').decode(bytes) as unknown as { metaGraphs?: MetaGraph[] };
    meta = serveGraph(model.metaGraphs ?? []);
  } catch (err) {
    throw bad(file, `not a SavedModel protobuf (${(err as Error).message})`, err);
  }
  const decoded = meta?.graphDef?.node ?? [];
  if (decoded.length === 0) throw bad(file, 'it holds no meta graph with a non-empty graph_def');
  const ops = new Set(decoded.map((n) => n.op));
  const calls = [...ops].filter((op) => CALL_OPS.has(op));
  if (calls.length) throw bad(file, `the graph calls functions of its library (${calls.join(', ')}), which the converter does not inline; freeze the model first (e.g. convert_variables_to_constants_v2)`);
  const vars = [...ops].filter((op) => VARIABLE_OPS.has(op) || RESOURCE_OPS.has(op));
  if (vars.length && !variablesDir) throw bad(file, `the graph reads variables (${vars.join(', ')}) and there is no variables/ folder beside it`);
  try {
    const graph: TfGraph = { ...nodesFromProto(decoded), format: 'saved-model', signature: signatureOf(meta!) };
    return vars.length ? freezeVariables(graph, readCheckpoint(variablesDir!)) : graph;
  } catch (err) {
    throw bad(file, (err as Error).message, err);
  }
}

/**
 * Loads a SavedModel from its folder (or its `saved_model.pb` path): a frozen graph, or a TF1
 * graph whose variables are in `variables/`.
 *
 * @example
 * const graph = await loadSavedModel('export/1');
 */
export async function loadSavedModel(dirOrPb: string): Promise<TfGraph> {
  const file = dirOrPb.endsWith('.pb') ? dirOrPb : path.join(dirOrPb, 'saved_model.pb');
  const bytes = await readFile(file).catch((err: Error) => {
    throw bad(file, err.message, err);
  });
  const variables = path.join(path.dirname(file), 'variables');
  return readSavedModelBytes(bytes, file, existsSync(variables) ? variables : undefined);
}
