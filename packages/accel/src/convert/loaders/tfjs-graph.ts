import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { AccelError } from '../../errors';
import { size, type Tensor } from '../../onnx/graph';
import { tensorName, type TfAttrValue, type TfGraph, type TfNode } from '../tf/graph';
import { halfsToFloat32, tensorFromProto, typedFromBytes, type TensorProtoLike } from './graphdef';

/** One entry of a TF.js `weightsManifest` group. */
export interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: 'uint8' | 'uint16' | 'float16'; scale?: number; min?: number; original_dtype?: string };
}

/** The parts of a TF.js model.json the loaders read. */
export interface TfjsModelJson {
  format?: string;
  modelTopology?: { node?: { name: string; op: string; input?: string[]; attr?: Record<string, TfAttrValue> }[] } & Record<string, unknown>;
  weightsManifest?: { paths: string[]; weights: WeightSpec[] }[];
  signature?: TfjsSignature;
  userDefinedMetadata?: { signature?: TfjsSignature };
}

type TfjsSignature = { inputs?: Record<string, { name?: string }>; outputs?: Record<string, { name?: string }> };

const BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2 };

function badModel(reason: string, file = 'model.json'): AccelError {
  return new AccelError('ACCEL_ERR_CONVERT_BAD_MODEL', { file, format: 'TensorFlow.js model', reason });
}

/** Strings in a TF.js weight buffer: each is a little-endian uint32 byte length, then the bytes. */
function readStrings(view: Uint8Array, count: number): { data: Uint8Array[]; bytes: number } {
  const data: Uint8Array[] = [];
  let at = 0;
  for (let k = 0; k < count; k++) {
    if (at + 4 > view.byteLength) throw new Error('string weight runs past the end of the data');
    const len = new DataView(view.buffer, view.byteOffset + at, 4).getUint32(0, true);
    data.push(view.slice(at + 4, at + 4 + len));
    at += 4 + len;
  }
  return { data, bytes: at };
}

/** One weight's value from the bytes at the start of `view`; returns it and how many bytes it used. */
function decodeWeight(spec: WeightSpec, view: Uint8Array): { value: Tensor; bytes: number } {
  const n = size(spec.shape);
  const dims = [...spec.shape];
  if (spec.dtype === 'string') {
    const { data, bytes } = readStrings(view, n);
    return { value: { dtype: 'string', dims, data }, bytes };
  }
  const q = spec.quantization;
  const stored = q?.dtype ?? spec.dtype;
  const bytes = n * (BYTES[stored] ?? NaN);
  if (Number.isNaN(bytes)) throw new Error(`weight "${spec.name}" has unsupported dtype ${stored}`);
  if (bytes > view.byteLength) throw new Error(`weight "${spec.name}" needs ${bytes} bytes, only ${view.byteLength} left in the weight files`);
  const raw = view.subarray(0, bytes);
  if (!q) {
    const dtype = spec.dtype as 'float32' | 'int32' | 'bool';
    return { value: { dtype, dims, data: typedFromBytes(dtype, raw, n) }, bytes };
  }
  if (q.dtype === 'float16') {
    if (spec.dtype !== 'float32') throw new Error(`weight "${spec.name}": float16 quantization of ${spec.dtype}`);
    return { value: { dtype: 'float32', dims, data: halfsToFloat32(typedFromBytes('uint16', raw, n) as Uint16Array) }, bytes };
  }
  const ints = typedFromBytes(q.dtype, raw, n) as Uint8Array | Uint16Array;
  const scale = q.scale ?? 1;
  const min = q.min ?? 0;
  if (spec.dtype === 'int32') return { value: { dtype: 'int32', dims, data: Int32Array.from(ints, (v) => Math.round(v * scale + min)) }, bytes };
  if (spec.dtype !== 'float32') throw new Error(`weight "${spec.name}": ${q.dtype} quantization of ${spec.dtype}`);
  return { value: { dtype: 'float32', dims, data: Float32Array.from(ints, (v) => v * scale + min) }, bytes };
}

/** The weights of a manifest, read in manifest order from the concatenated weight files. */
export function decodeWeights(manifest: { weights: WeightSpec[] }[], weights: Uint8Array): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  let offset = 0;
  for (const spec of manifest.flatMap((g) => g.weights)) {
    const { value, bytes } = decodeWeight(spec, weights.subarray(offset));
    out.set(spec.name, value);
    offset += bytes;
  }
  if (offset !== weights.byteLength) throw new Error(`the manifest describes ${offset} bytes of weights, the weight files hold ${weights.byteLength}`);
  return out;
}

/**
 * Input and output tensor names (`name:0`) of a model.json signature. Some files list only
 * outputs; their inputs are then the graph's Placeholders, as TF.js takes them.
 */
export function signatureOf(sig: TfjsSignature | undefined, nodes: TfNode[]): TfGraph['signature'] {
  if (!sig?.inputs && !sig?.outputs) return undefined;
  const names = (m: Record<string, { name?: string }> = {}) => Object.entries(m).map(([key, v]) => tensorName(v.name ?? key));
  const inputs = names(sig.inputs);
  if (inputs.length === 0) inputs.push(...nodes.filter((n) => n.op === 'Placeholder').map((n) => `${n.name}:0`));
  return { inputs, outputs: names(sig.outputs) };
}

/**
 * A TF.js graph model (`format: graph-model`): topology from `modelTopology.node` (the function
 * `library` is ignored), Const values from the weights (all manifest groups' files
 * concatenated in manifest order; uint8/uint16 quantized weights are dequantized as
 * `q * scale + min`, float16 ones widened to float32).
 *
 * @example
 * const graph = readTfjsGraphModel(JSON.parse(readFileSync('model.json', 'utf8')), readFileSync('group1-shard1of1.bin'));
 */
export function readTfjsGraphModel(modelJson: object, weights: Uint8Array, file = 'model.json'): TfGraph {
  const json = modelJson as TfjsModelJson;
  const topology = json.modelTopology?.node;
  if (!Array.isArray(topology)) throw badModel('it has no modelTopology.node list (is it a graph model?)', file);
  let consts: Map<string, Tensor>;
  try {
    consts = decodeWeights(json.weightsManifest ?? [], weights);
  } catch (err) {
    throw badModel((err as Error).message, file);
  }
  const nodes = topology.map((n): TfNode => {
    const attr = n.attr ?? {};
    const inline = n.op === 'Const' && !consts.has(n.name) ? (attr.value?.tensor as TensorProtoLike | undefined) : undefined;
    if (inline) {
      try {
        consts.set(n.name, tensorFromProto(inline));
      } catch (err) {
        throw badModel(`Const "${n.name}" has no weight in the manifest and no readable inline value: ${(err as Error).message}`, file);
      }
    }
    return { name: n.name, op: n.op, inputs: (n.input ?? []).filter((i) => !i.startsWith('^')), attr };
  });
  return { nodes, consts, format: 'tfjs-graph', signature: signatureOf(json.signature ?? json.userDefinedMetadata?.signature, nodes) };
}

/** A model.json and the weight files its manifest lists (read from beside it), concatenated in order. */
export async function readModelJsonFiles(modelJsonPath: string): Promise<{ json: TfjsModelJson; weights: Uint8Array }> {
  let json: TfjsModelJson;
  try {
    json = JSON.parse(await readFile(modelJsonPath, 'utf8')) as TfjsModelJson;
  } catch (err) {
    throw badModel(`not readable JSON: ${(err as Error).message}`, modelJsonPath);
  }
  const dir = path.dirname(modelJsonPath);
  const files = (json.weightsManifest ?? []).flatMap((g) => g.paths ?? []);
  const parts = await Promise.all(
    files.map((p) =>
      readFile(path.join(dir, p)).catch((err: Error) => {
        throw badModel(`weight file "${p}" listed in weightsManifest is not readable: ${err.message}`, modelJsonPath);
      }),
    ),
  );
  return { json, weights: Buffer.concat(parts) };
}

/** The model.json of a path that is the file itself or a folder holding `model.json`. */
export async function modelJsonPathOf(p: string): Promise<string> {
  return (await stat(p)).isDirectory() ? path.join(p, 'model.json') : p;
}

/**
 * Loads a TF.js graph model from its folder or its model.json path, reading the shard files
 * listed in the manifest's `paths`.
 *
 * @example
 * const graph = await loadTfjsGraphModel('models/emotion.json');
 */
export async function loadTfjsGraphModel(dirOrModelJson: string): Promise<TfGraph> {
  const file = await modelJsonPathOf(dirOrModelJson);
  const { json, weights } = await readModelJsonFiles(file);
  return readTfjsGraphModel(json, weights, file);
}
