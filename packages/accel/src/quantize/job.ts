import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AccelError } from '../errors';
import { describePreprocessSpec } from '../preprocess/spec';
import type { JobContext } from '../workspace/jobs';
import type { Workspace } from '../workspace/workspace';
import { loadCalibrationImages, modelImageInput, type LoadedImages } from './images';
import { quantizeModel } from './quantize';
import { compareModels, formatReport } from './report';
import type { CalibrationMethod } from './types';

export interface QuantizeJobInputs {
  model: string;
  version?: number;
  /** Absolute path of the calibration image folder. */
  calibration: string;
  /** Absolute path of held-out images for the report (default: every 5th calibration image). */
  evaluation?: string;
  method?: CalibrationMethod;
  perChannel?: boolean;
  exclude?: string[];
  /** Name of the quantized model (default: `<source>-int8`). */
  name?: string;
  /** Images read at most from each folder (sorted order). */
  limit?: number;
}

const HOLD_OUT_EVERY = 5;

/** The ONNX file and sidecar of a downloaded model: a folder with model.onnx, or a single .onnx file. */
async function readSource(path: string, id: string): Promise<{ model: Uint8Array; sidecar: Record<string, unknown> }> {
  if ((await stat(path)).isFile()) {
    if (path.toLowerCase().endsWith('.onnx')) return { model: await readFile(path), sidecar: {} };
    throw new AccelError('ACCEL_ERR_USAGE', { reason: `model ${id} is not ONNX (${path}); convert it first with \`accel convert\`` });
  }
  const files = await readdir(path);
  if (!files.includes('model.onnx')) {
    throw new AccelError('ACCEL_ERR_USAGE', { reason: `model ${id} is a folder without model.onnx (holds ${files.join(', ') || 'nothing'}); convert it first with \`accel convert\`` });
  }
  const model = await readFile(join(path, 'model.onnx'));
  if (!files.includes('model.accel.json')) return { model, sidecar: {} };
  let sidecar: unknown;
  try {
    sidecar = JSON.parse(await readFile(join(path, 'model.accel.json'), 'utf8'));
  } catch (err) {
    throw new AccelError('ACCEL_ERR_USAGE', { reason: `model.accel.json of ${id} is not valid JSON: ${(err as Error).message}` });
  }
  if (typeof sidecar !== 'object' || sidecar === null || Array.isArray(sidecar)) {
    throw new AccelError('ACCEL_ERR_USAGE', { reason: `model.accel.json of ${id} must hold a JSON object` });
  }
  return { model, sidecar: sidecar as Record<string, unknown> };
}

/** Calibration and evaluation sets: the evaluation folder, or every 5th calibration image held out. */
async function imageSets(ctx: JobContext, inputs: QuantizeJobInputs, load: (dir: string, label: string) => Promise<LoadedImages>) {
  const all = await load(inputs.calibration, 'calibration images');
  if (inputs.evaluation) {
    const evaluation = await load(inputs.evaluation, 'evaluation images');
    return { itemDims: all.itemDims, calibration: all.images, evaluation: evaluation.images, note: `${evaluation.images.length} images of ${inputs.evaluation}` };
  }
  const held = (i: number) => i % HOLD_OUT_EVERY === HOLD_OUT_EVERY - 1;
  const evaluation = all.images.filter((_, i) => held(i));
  if (!evaluation.length) {
    throw new AccelError('ACCEL_ERR_QUANTIZE_NO_IMAGES', {
      dir: inputs.calibration,
      reason: `holding out every ${HOLD_OUT_EVERY}th of its ${all.images.length} images for evaluation leaves none; add images or give --evaluation DIR`,
    });
  }
  const note = `${evaluation.length} images held out of ${inputs.calibration} (every ${HOLD_OUT_EVERY}th in sorted order, not used to calibrate)`;
  await ctx.log(`evaluation: ${note}`);
  return { itemDims: all.itemDims, calibration: all.images.filter((_, i) => !held(i)), evaluation, note };
}

/**
 * The `quantize` job: fetch an ONNX model from the workspace, calibrate and quantize it to int8
 * with images, compare it with the float model on held-out images, and register it (a folder:
 * model.onnx + model.accel.json) linked to its source. Registering is the last step.
 */
export async function runQuantizeJob(ctx: JobContext, ws: Workspace): Promise<Record<string, unknown>> {
  const inputs = ctx.inputs as unknown as QuantizeJobInputs;
  const source = await ws.getModel(inputs.model, inputs.version);
  const work = await mkdtemp(join(tmpdir(), 'accel-quantize-'));
  try {
    await ctx.log(`source ${source.id} (${source.fileName}, ${(source.size / 1e6).toFixed(1)} MB, ${source.digest.slice(0, 19)})`);
    const { model, sidecar } = await readSource(await ws.downloadModel(source.name, source.version, join(work, 'source')), source.id);
    const { input, spec } = await modelImageInput(model, source.id, sidecar.preprocess);
    await ctx.log(`input "${input}": ${describePreprocessSpec(spec)}${sidecar.preprocess ? '' : ' (inferred from the input shape)'}`);
    const t0 = performance.now();
    const load = (dir: string, label: string) =>
      loadCalibrationImages(dir, spec, { limit: inputs.limit, signal: ctx.signal, progress: (done, total) => void ctx.progress(label, done, total, 'images') });
    const { itemDims, ...sets } = await imageSets(ctx, inputs, load);
    const [calibrationImages, evaluationImages] = [sets.calibration.length, sets.evaluation.length];
    await ctx.log(`images: ${calibrationImages} for calibration, ${evaluationImages} for evaluation, decoded in ${((performance.now() - t0) / 1000).toFixed(2)} s`);
    const log = (line: string) => void ctx.log(line);
    const progress = (label: string, done: number, total: number, unit: string) => void ctx.progress(label, done, total, unit);
    const result = await quantizeModel(model, { input, itemDims, images: sets.calibration }, { method: inputs.method, perChannel: inputs.perChannel, exclude: inputs.exclude, signal: ctx.signal, log, progress });
    const report = await compareModels(model, result.model, input, itemDims, sets.evaluation, { signal: ctx.signal, log, progress });
    await ctx.log(formatReport(report, result));
    const out = join(work, 'quantized');
    await mkdir(out, { recursive: true });
    await writeFile(join(out, 'model.onnx'), result.model);
    // Serving settings (labels, batching, postprocess) carry over; the spec is the one calibrated with.
    const { conversion: _conversion, quantization: _previous, ...serving } = sidecar;
    const quantization = {
      source: source.id,
      method: result.method,
      perChannel: result.perChannel,
      calibrationImages,
      evaluationImages,
      evaluation: sets.note,
      report,
      quantizedNodes: result.quantized.length,
      floatNodes: result.float,
    };
    await writeFile(join(out, 'model.accel.json'), `${JSON.stringify({ ...serving, preprocess: spec, quantization }, null, 2)}\n`);
    const record = await ws.registerModel(out, {
      name: inputs.name ?? `${source.name}-int8`,
      description: `${source.id} quantized to int8 (${result.method}, ${result.perChannel ? 'per-channel' : 'per-tensor'} weights, ${calibrationImages} calibration images)`,
      tags: { format: 'onnx', quantized: 'int8', ...(source.tags.task ? { task: source.tags.task } : {}) },
      properties: {
        source: source.id,
        method: result.method,
        top1Agreement: report.top1Agreement.toFixed(4),
        latencyRatioBatch1: report.latency.batch1.ratio.toFixed(3),
      },
      derivedFrom: [{ kind: 'model', id: source.id }],
    });
    await ctx.log(`registered ${record.id} (${record.digest.slice(0, 19)}, ${(record.size / 1e6).toFixed(1)} MB)`);
    return { model: record.id, name: record.name, version: record.version, digest: record.digest, createdAt: record.createdAt, source: source.id, evaluation: sets.note, report };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
