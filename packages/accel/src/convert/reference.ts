import { createRequire } from 'node:module';
import path from 'node:path';
import type { Tensor } from '../onnx/graph';
import { dtypeToTf, parseTensorName, shapeToTf, type TfGraph } from './tf/graph';

type Tfjs = typeof import('@tensorflow/tfjs-core');

let ready: Promise<Tfjs> | undefined;

/**
 * TensorFlow.js on its WebAssembly backend (XNNPACK; no native build, no download: the .wasm
 * files ship in the package). The converter's reference runtime.
 */
export function tfjs(backend: 'wasm' | 'cpu' = 'wasm'): Promise<Tfjs> {
  ready ??= (async () => {
    const tf = await import('@tensorflow/tfjs-core');
    await import('@tensorflow/tfjs-backend-cpu');
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    const require = createRequire(import.meta.url);
    wasm.setWasmPaths(`${path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'))}/dist/`);
    await tf.setBackend(backend);
    await tf.ready();
    return tf;
  })();
  return ready;
}

const TFJS_DTYPES = new Set(['float32', 'int32', 'bool']);

/** A TfGraph as TF.js graph-model artifacts (topology + weights), to load without files. */
export function toTfjsArtifacts(graph: TfGraph): { modelTopology: object; weightSpecs: object[]; weightData: ArrayBuffer } {
  const weightSpecs: { name: string; shape: number[]; dtype: string }[] = [];
  const chunks: Uint8Array[] = [];
  for (const [name, t] of graph.consts) {
    if (Array.isArray(t.data)) continue;
    let data = t.data as ArrayLike<number | bigint>;
    let dtype: string = t.dtype;
    if (!TFJS_DTYPES.has(dtype)) {
      // TF.js keeps int64 as int32 and everything else floating as float32.
      const wide = dtype.startsWith('int') || dtype.startsWith('uint');
      dtype = dtype === 'bool' ? 'bool' : wide ? 'int32' : 'float32';
      data = wide ? Int32Array.from(data as ArrayLike<number>, Number) : Float32Array.from(data as ArrayLike<number>, Number);
    }
    const bytes = data as unknown as ArrayBufferView;
    chunks.push(new Uint8Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)));
    weightSpecs.push({ name, shape: t.dims, dtype });
  }
  const total = chunks.reduce((a, c) => a + c.byteLength, 0);
  const weightData = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    weightData.set(c, offset);
    offset += c.byteLength;
  }
  const node = graph.nodes.map((n) => {
    if (n.op !== 'Const') return { name: n.name, op: n.op, input: n.inputs, attr: n.attr };
    const t = graph.consts.get(n.name);
    const value = t ? { tensor: { dtype: dtypeToTf(t.dtype), tensorShape: shapeToTf(t.dims) } } : n.attr.value;
    return { name: n.name, op: n.op, input: [], attr: { ...n.attr, value } };
  });
  return { modelTopology: { node, versions: {} }, weightSpecs, weightData: weightData.buffer };
}

/** Values a reference run produced, by output tensor name. */
export type Outputs = Record<string, { dims: number[]; data: Float32Array | Int32Array | Uint8Array }>;

/**
 * Runs a TfGraph in TF.js: feeds by tensor name (`x:0`), returns the named outputs. Used to
 * check converted models and by the converter's tests.
 */
export async function runTfjsGraph(graph: TfGraph, feeds: Record<string, Tensor>, outputs: string[]): Promise<Outputs> {
  const tf = await tfjs();
  const converter = await import('@tensorflow/tfjs-converter');
  const model = await converter.loadGraphModel(tf.io.fromMemory(toTfjsArtifacts(graph) as never));
  const tfName = (t: string) => {
    const { node, index } = parseTensorName(t);
    return index === 0 ? node : `${node}:${index}`;
  };
  const inputs: Record<string, import('@tensorflow/tfjs-core').Tensor> = {};
  for (const [name, t] of Object.entries(feeds)) {
    const dtype = t.dtype === 'int32' || t.dtype === 'int64' ? 'int32' : t.dtype === 'bool' ? 'bool' : 'float32';
    inputs[tfName(name)] = tf.tensor(Array.from(t.data as ArrayLike<number>, Number), t.dims, dtype);
  }
  try {
    const result = (await model.executeAsync(inputs, outputs.map(tfName))) as import('@tensorflow/tfjs-core').Tensor | import('@tensorflow/tfjs-core').Tensor[];
    const list = Array.isArray(result) ? result : [result];
    const out: Outputs = {};
    for (const [k, t] of list.entries()) {
      out[outputs[k]!] = { dims: t.shape, data: (await t.data()) as Float32Array | Int32Array | Uint8Array };
      t.dispose();
    }
    return out;
  } finally {
    for (const t of Object.values(inputs)) t.dispose();
    model.dispose();
  }
}
