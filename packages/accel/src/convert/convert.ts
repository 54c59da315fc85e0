import { AccelError } from '../errors';
import type { PreprocessSpec } from '../preprocess/spec';
import { mapGraph } from './map';
import { optimizeOffline } from './optimize';
import { runPasses } from './passes/index';
import { cutPreprocessing } from './preprocess-cut';
import { sampleFeeds } from './samples';
import { tensorName, type TfGraph } from './tf/graph';
import { validateGraph, type ValidationReport } from './validate';
import { verifyAgainstReference, type VerifyReport } from './verify';

export interface ConvertOptions {
  /** Input tensor names (`node:0`); default: the file's signature. */
  inputs?: string[];
  /** Output tensor names; default: the file's signature. */
  outputs?: string[];
  /** Check the result against TF.js (default true). */
  verify?: boolean;
  /** Largest accepted relative error (max |diff| / max |reference| per output); default 1e-4. */
  tolerance?: number;
  /** Photos to verify on (image-like inputs); noise is used otherwise. */
  photos?: string[];
  /** How many inputs to verify on (default 4). */
  samples?: number;
  log?: (line: string) => void;
  progress?: (label: string, done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface ConvertResult {
  /** The converted model after offline optimization (ONNX Runtime, level extended). */
  model: Uint8Array;
  inputs: string[];
  outputs: string[];
  /** The preprocessing cut off the graph, for the server to perform. */
  preprocess?: PreprocessSpec;
  validation: ValidationReport;
  verification?: VerifyReport;
  /** Seconds per stage. */
  timings: Record<string, number>;
}

const DEFAULT_TOLERANCE = 1e-4;

function pick(explicit: string[] | undefined, declared: string[] | undefined, what: string): string[] {
  const list = explicit?.length ? explicit : declared;
  if (!list?.length) throw new AccelError('ACCEL_ERR_USAGE', { reason: `the model file declares no ${what} tensors: name them with --${what}-tensors` });
  return list.map(tensorName);
}

/**
 * TensorFlow graph -> optimized ONNX model: cut at the named tensors (recording any JPEG
 * preprocessing cut off), map every node through its handler, run the graph passes
 * (constant folding, layout, BatchNorm folding, dead nodes), validate, optimize with ONNX
 * Runtime offline, and check against TF.js on sample inputs.
 */
export async function convertGraph(source: TfGraph, opts: ConvertOptions = {}): Promise<ConvertResult> {
  const log = opts.log ?? (() => undefined);
  const timings: Record<string, number> = {};
  const stage = async <T>(name: string, fn: () => T | Promise<T>): Promise<T> => {
    opts.signal?.throwIfAborted();
    const t0 = performance.now();
    const result = await fn();
    timings[name] = (performance.now() - t0) / 1000;
    return result;
  };
  const inputs = pick(opts.inputs, source.signature?.inputs, 'input');
  const outputs = pick(opts.outputs, source.signature?.outputs, 'output');
  const cuts = inputs.map((i) => ({ input: i, cut: cutPreprocessing(source, i) }));
  const inputShapes: Record<string, (number | string)[]> = {};
  let preprocess: PreprocessSpec | undefined;
  for (const { input, cut } of cuts) {
    if (!cut) continue;
    inputShapes[input] = cut.shape;
    preprocess = cut.spec;
    log(`preprocessing: cut ${cut.ops.join(' -> ')} before ${input}; the server does it (${cut.spec.height}x${cut.spec.width}, mean [${cut.spec.mean}], std [${cut.spec.std}])`);
  }
  const opCount = new Set(source.nodes.map((n) => n.op)).size;
  log(`mapping ${source.nodes.length} nodes (${opCount} op types) from ${inputs.join(', ')} to ${outputs.join(', ')}`);
  const graph = await stage('map', () =>
    mapGraph(source, { inputs, outputs, inputShapes, onProgress: (done, total) => opts.progress?.('mapping', done, total) }),
  );
  log(`mapped: ${graph.nodes.length} ONNX nodes, ${graph.initializers.size} constants`);
  await stage('passes', () => runPasses(graph, { onPass: (name, n) => n && log(`${name}: ${n} change(s)`) }));
  const validation = await stage('validate', () => validateGraph(graph));
  const transposes = validation.ops.find(([op]) => op === 'Transpose')?.[1] ?? 0;
  log(`validated: ${validation.nodes} nodes, ${transposes} Transpose(s) left, ${validation.unknownShapes.length} tensor(s) of unknown shape; ops: ${validation.ops.map(([op, n]) => `${op} ${n}`).join(', ')}`);
  if (preprocess) graph.metadata['accel.preprocess'] = JSON.stringify(preprocess);
  const model = await stage('optimize', () => optimizeOffline(graph.toBytes()));
  log(`optimized with ONNX Runtime (level extended): ${(model.byteLength / 1e6).toFixed(1)} MB`);
  let verification: VerifyReport | undefined;
  if (opts.verify !== false) {
    verification = await stage('verify', async () => {
      const feeds = await sampleFeeds(graph.inputs, opts.samples ?? 4, opts.photos ?? []);
      return verifyAgainstReference(model, source, feeds, outputs);
    });
    for (const o of verification.outputs) {
      const agree = o.top1Agreement === null ? '' : `, top-1 agreement ${(o.top1Agreement * 100).toFixed(0)}%`;
      log(`verified ${o.output} on ${verification.samples} inputs: max abs error ${o.maxAbs.toExponential(2)}, max rel error ${o.maxRel.toExponential(2)}${agree}`);
    }
    log(`speed (batch 1): ONNX Runtime ${verification.onnxMs.toFixed(1)} ms, TF.js reference ${verification.referenceMs.toFixed(1)} ms`);
    const tolerance = opts.tolerance ?? DEFAULT_TOLERANCE;
    const worst = verification.outputs.find((o) => !(o.maxRel <= tolerance));
    if (worst) {
      throw new AccelError('ACCEL_ERR_CONVERT_MISMATCH', { output: worst.output, error: worst.maxRel.toExponential(2), tolerance: tolerance.toExponential(0) });
    }
  }
  return { model, inputs, outputs, preprocess, validation, verification, timings };
}
