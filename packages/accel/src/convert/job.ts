import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SAMPLE_PHOTO } from '../assets';
import { AccelError } from '../errors';
import type { JobContext } from '../workspace/jobs';
import type { Workspace } from '../workspace/workspace';
import * as ort from 'onnxruntime-node';
import { describePreprocessSpec, inferPreprocessSpec, mergePreprocessSpec } from '../preprocess/spec';
import { convertGraph } from './convert';
import { loadTfModel } from './loaders/index';

export interface ConvertJobInputs {
  model: string;
  version?: number;
  inputTensors?: string[];
  outputTensors?: string[];
  /** Name of the converted model (default: `<source>-onnx`). */
  name?: string;
  tolerance?: number;
  verify?: boolean;
  /** Preprocessing fields (size, scale, mean, std, resize...) over the one found or inferred. */
  preprocess?: Record<string, unknown>;
  /** Class names of the output, kept in the sidecar for clients. */
  labels?: string[];
}


/** Shape of the converted model's single input (dynamic dims as names). */
async function onnxInputShape(model: Uint8Array): Promise<(number | string)[]> {
  const session = await ort.InferenceSession.create(model);
  try {
    const meta = session.inputMetadata[0];
    return meta && meta.isTensor ? [...meta.shape] : [];
  } finally {
    await session.release();
  }
}

/** The file inside a downloaded model that the loaders read: a folder's model.json, saved_model.pb, or single .pb. */
async function modelEntry(path: string): Promise<string> {
  const info = await stat(path);
  if (info.isFile()) return path;
  const files = await readdir(path);
  for (const f of ['model.json', 'saved_model.pb']) if (files.includes(f)) return f === 'saved_model.pb' ? path : join(path, f);
  const json = files.filter((f) => f.endsWith('.json'));
  if (json.length === 1) return join(path, json[0]!);
  const pb = files.filter((f) => f.endsWith('.pb'));
  if (pb.length === 1) return join(path, pb[0]!);
  throw new AccelError('ACCEL_ERR_CONVERT_BAD_MODEL', { file: path, format: 'TensorFlow model', reason: `found no model.json, saved_model.pb or single .pb among ${files.join(', ') || 'no files'}` });
}

/**
 * The `convert` job: fetch the source model from the workspace, convert it, register the
 * ONNX model (a folder: model.onnx + model.accel.json) as a new model linked to its source.
 */
export async function runConvertJob(ctx: JobContext, ws: Workspace): Promise<Record<string, unknown>> {
  const inputs = ctx.inputs as unknown as ConvertJobInputs;
  const source = await ws.getModel(inputs.model, inputs.version);
  const work = await mkdtemp(join(tmpdir(), 'accel-convert-'));
  try {
    await ctx.log(`source ${source.id} (${source.fileName}, ${(source.size / 1e6).toFixed(1)} MB, ${source.digest.slice(0, 19)})`);
    const downloaded = await ws.downloadModel(source.name, source.version, join(work, 'source'));
    const t0 = performance.now();
    const graph = await loadTfModel(await modelEntry(downloaded));
    const bytes = [...graph.consts.values()].reduce((a, t) => a + (Array.isArray(t.data) ? 0 : t.data.byteLength), 0);
    await ctx.log(`parsing: ${graph.format}, ${graph.nodes.length} nodes, ${graph.consts.size} constants (${(bytes / 1e6).toFixed(1)} MB) in ${((performance.now() - t0) / 1000).toFixed(2)} s`);
    const result = await convertGraph(graph, {
      inputs: inputs.inputTensors,
      outputs: inputs.outputTensors,
      tolerance: inputs.tolerance,
      verify: inputs.verify,
      photos: [SAMPLE_PHOTO],
      signal: ctx.signal,
      log: (line) => void ctx.log(line),
      progress: (label, done, total) => void ctx.progress(label, done, total, 'nodes'),
    });
    const out = join(work, 'converted');
    await mkdir(out, { recursive: true });
    await writeFile(join(out, 'model.onnx'), result.model);
    const worst = result.verification?.worstRel;
    let preprocess = result.preprocess;
    if (inputs.preprocess && Object.keys(inputs.preprocess).length) {
      const base = preprocess ?? inferPreprocessSpec('float32', await onnxInputShape(result.model));
      if (!base) throw new AccelError('ACCEL_ERR_USAGE', { reason: '--preprocess needs one image input (NHWC or NCHW with 3 channels)' });
      preprocess = mergePreprocessSpec(base, inputs.preprocess);
      await ctx.log(`preprocessing: ${describePreprocessSpec(preprocess)}`);
    }
    await writeFile(
      join(out, 'model.accel.json'),
      `${JSON.stringify({ ...(preprocess ? { preprocess } : {}), ...(inputs.labels?.length ? { labels: inputs.labels } : {}), conversion: { source: source.id, inputs: result.inputs, outputs: result.outputs, verification: result.verification ?? null, timings: result.timings } }, null, 2)}\n`,
    );
    const name = inputs.name ?? `${source.name}-onnx`;
    const record = await ws.registerModel(out, {
      name,
      description: `${source.id} converted to ONNX`,
      tags: { format: 'onnx', ...(source.tags.task ? { task: source.tags.task } : {}) },
      properties: {
        source: source.id,
        inputs: result.inputs.join(','),
        outputs: result.outputs.join(','),
        ...(worst === undefined ? {} : { maxRelError: worst.toExponential(2) }),
      },
      derivedFrom: [{ kind: 'model', id: source.id }],
    });
    const seconds = Object.values(result.timings).reduce((a, b) => a + b, 0);
    await ctx.log(`registered ${record.id} (${record.digest.slice(0, 19)}, ${(record.size / 1e6).toFixed(1)} MB) in ${seconds.toFixed(1)} s of conversion`);
    return { model: record.id, name: record.name, version: record.version, digest: record.digest, createdAt: record.createdAt, source: source.id, maxRelError: worst ?? null };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
