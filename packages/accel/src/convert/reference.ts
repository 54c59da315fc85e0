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
export function tfjs(backend: 'wasm' | 'cpu' = (process.env.ACCEL_TFJS_BACKEND as 'cpu' | undefined) ?? 'wasm'): Promise<Tfjs> {
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

type TfTensor = import('@tensorflow/tfjs-core').Tensor;

/** A TfGraph loaded in TF.js, to run several times. */
export interface Reference {
  /** Runs the graph; `ms` is the time of the run itself (no loading, no copying out). */
  run(feeds: Record<string, Tensor>, outputs: string[]): Promise<{ outputs: Outputs; ms: number }>;
  dispose(): void;
}

const tfName = (t: string) => {
  const { node, index } = parseTensorName(t);
  return index === 0 ? node : `${node}:${index}`;
};

async function execute(tf: Tfjs, model: import('@tensorflow/tfjs-converter').GraphModel, feeds: Record<string, Tensor>, outputs: string[]) {
  const inputs: Record<string, TfTensor> = {};
  for (const [name, t] of Object.entries(feeds)) {
    const dtype = t.dtype === 'int32' || t.dtype === 'int64' ? 'int32' : t.dtype === 'bool' ? 'bool' : 'float32';
    inputs[tfName(name)] = tf.tensor(Array.from(t.data as ArrayLike<number>, Number), t.dims, dtype);
  }
  try {
    const t0 = performance.now();
    let result: TfTensor | TfTensor[];
    try {
      result = model.execute(inputs, outputs.map(tfName));
    } catch (err) {
      // Graphs with dynamic ops (control flow, NonMaxSuppression, Where) need the async executor.
      if (!/executeAsync/.test((err as Error).message)) throw err;
      result = await model.executeAsync(inputs, outputs.map(tfName));
    }
    const list = Array.isArray(result) ? result : [result];
    const data = await Promise.all(list.map((t) => t.data()));
    const ms = performance.now() - t0;
    const out: Outputs = {};
    for (const [k, t] of list.entries()) {
      out[outputs[k]!] = { dims: t.shape, data: data[k] as Float32Array | Int32Array | Uint8Array };
      t.dispose();
    }
    return { outputs: out, ms };
  } finally {
    for (const t of Object.values(inputs)) t.dispose();
  }
}

/**
 * Loads a TfGraph into TF.js (WebAssembly backend; a run that needs a kernel only the CPU
 * backend has is retried there).
 */
export async function loadReference(graph: TfGraph): Promise<Reference> {
  const tf = await tfjs();
  const converter = await import('@tensorflow/tfjs-converter');
  const model = await converter.loadGraphModel(tf.io.fromMemory(toTfjsArtifacts(graph) as never));
  return {
    async run(feeds, outputs) {
      try {
        return await execute(tf, model, feeds, outputs);
      } catch (err) {
        const backend = tf.getBackend();
        if (backend === 'cpu' || !/not yet supported|not implemented|kernel/i.test((err as Error).message)) throw err;
        await tf.setBackend('cpu');
        try {
          return await execute(tf, model, feeds, outputs);
        } finally {
          await tf.setBackend(backend);
        }
      }
    },
    dispose: () => model.dispose(),
  };
}

/**
 * Runs a TfGraph in TF.js once: feeds by tensor name (`x:0`), returns the named outputs.
 */
export async function runTfjsGraph(graph: TfGraph, feeds: Record<string, Tensor>, outputs: string[]): Promise<Outputs> {
  const reference = await loadReference(graph);
  try {
    return (await reference.run(feeds, outputs)).outputs;
  } finally {
    reference.dispose();
  }
}
