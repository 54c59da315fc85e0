import * as ort from 'onnxruntime-node';
import { AccelError } from '../errors';
import { sessionOptions } from '../runtime/session-options';
import type { QuantizeResult } from './types';

/** Median milliseconds per run of each model at one batch size; `ratio` = int8 / fp32. */
export interface LatencyPair {
  fp32Ms: number;
  int8Ms: number;
  ratio: number;
}

/** How closely the int8 model follows the float model on held-out images, and how fast each runs. */
export interface AgreementReport {
  images: number;
  /** Share of images whose top-1 class is the same. */
  top1Agreement: number;
  /** Mean over images of |top-k(fp32) ∩ top-k(int8)| / k, with k = min(5, classes). */
  top5Agreement: number;
  /** Mean and largest |p_fp32 - p_int8| over every class of every image, on probabilities. */
  meanAbsDiff: number;
  maxAbsDiff: number;
  classes: number;
  /** The compared output: the model's first. */
  output: string;
  /** True when the outputs were not probabilities and softmax was applied to both before comparing. */
  softmaxApplied: boolean;
  /** `batch8` is null for a model with a fixed batch of 1. */
  latency: { batch1: LatencyPair; batch8: LatencyPair | null };
}

export interface CompareOptions {
  /** Timed runs per model at each batch size (default 30 at batch 1, 8 at batch 8). */
  latencyRuns?: number;
  /** Intra-op threads of each session (default: the machine's cores). */
  threads?: number;
  log?: (line: string) => void;
  progress?: (label: string, done: number, total: number, unit: string) => void;
  signal?: AbortSignal;
}

const EVAL_BATCH = 8;
const WARMUP_RUNS = 3;

/** Images `[start, start+count)` as one batch tensor. */
function batchOf(images: Float32Array[], start: number, count: number, itemDims: number[]): ort.Tensor {
  const size = images[0].length;
  const data = new Float32Array(count * size);
  for (let i = 0; i < count; i++) data.set(images[(start + i) % images.length], i * size);
  return new ort.Tensor('float32', data, [count, ...itemDims]);
}

/** Indices of the k largest values, largest first (ties: lower index first). */
function topK(row: Float32Array, k: number): number[] {
  const best: number[] = [];
  for (let i = 0; i < row.length; i++) {
    if (best.length === k && !(row[i] > row[best[k - 1]])) continue;
    let pos = Math.min(best.length, k - 1);
    while (pos > 0 && row[i] > row[best[pos - 1]]) pos--;
    best.splice(pos, 0, i);
    if (best.length > k) best.pop();
  }
  return best;
}

function isProbabilities(rows: Float32Array[]): boolean {
  return rows.every((r) => r.every((v) => v >= 0 && v <= 1) && Math.abs(r.reduce((a, b) => a + b, 0) - 1) <= 1e-3);
}

function softmax(row: Float32Array): Float32Array {
  const max = row.reduce((a, b) => Math.max(a, b), -Infinity);
  const out = row.map((v) => Math.exp(v - max));
  const sum = out.reduce((a, b) => a + b, 0);
  return out.map((v) => v / sum);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Runs both models on every image (batches of 8) and returns the first output's rows per model. */
async function outputRows(sessions: ort.InferenceSession[], input: string, output: string, itemDims: number[], images: Float32Array[], batch: number, opts: CompareOptions) {
  const rows: Float32Array[][] = sessions.map(() => []);
  for (let start = 0; start < images.length; start += batch) {
    opts.signal?.throwIfAborted();
    const count = Math.min(batch, images.length - start);
    const feeds = { [input]: batchOf(images, start, count, itemDims) };
    for (const [s, session] of sessions.entries()) {
      const out = (await session.run(feeds, [output]))[output];
      if (out.type !== 'float32') throw new AccelError('ACCEL_ERR_USAGE', { reason: `output "${output}" is ${out.type}; the agreement report compares float32 scores` });
      const data = out.data as Float32Array;
      const width = data.length / count;
      for (let i = 0; i < count; i++) rows[s].push(data.slice(i * width, (i + 1) * width));
    }
    opts.progress?.('evaluated', start + count, images.length, 'images');
  }
  return rows as [Float32Array[], Float32Array[]];
}

/** Alternates fp32 and int8 runs (flipping which goes first) so both see the same machine load. */
async function interleavedLatency(fp32: ort.InferenceSession, int8: ort.InferenceSession, feeds: Record<string, ort.Tensor>, runs: number, signal?: AbortSignal): Promise<LatencyPair> {
  for (let i = 0; i < WARMUP_RUNS; i++) for (const s of [fp32, int8]) await s.run(feeds);
  const times = new Map<ort.InferenceSession, number[]>([[fp32, []], [int8, []]]);
  for (let i = 0; i < runs; i++) {
    signal?.throwIfAborted();
    for (const s of i % 2 ? [int8, fp32] : [fp32, int8]) {
      const t0 = performance.now();
      await s.run(feeds);
      times.get(s)!.push(performance.now() - t0);
    }
  }
  const fp32Ms = median(times.get(fp32)!);
  const int8Ms = median(times.get(int8)!);
  return { fp32Ms, int8Ms, ratio: int8Ms / fp32Ms };
}

/**
 * Compares an int8 model with its float source on held-out images (already preprocessed, one
 * per array) over the float model's first output: top-1 and top-5 agreement, probability
 * differences (softmax applied to both when the float rows are not already probabilities:
 * all in [0, 1], each summing to 1 within 1e-3), and interleaved CPU latency at batch 1 and 8.
 *
 * @example
 * const report = await compareModels(fp32, int8, 'input', [3, 224, 224], heldOut, { latencyRuns: 10 });
 */
export async function compareModels(
  fp32: Uint8Array,
  int8: Uint8Array,
  input: string,
  itemDims: number[],
  images: Float32Array[],
  opts: CompareOptions = {},
): Promise<AgreementReport> {
  if (!images.length) throw new AccelError('ACCEL_ERR_USAGE', { reason: 'compareModels needs at least one image' });
  // Two sessions in one process: with intra-op spinning on, the idle one's threads keep spinning
  // after each run and slow the other down (measured: Inception-v3 fp32 70 ms instead of 34 ms).
  const options = { ...sessionOptions({ executionProvider: 'cpu', threads: opts.threads }), extra: { session: { intra_op: { allow_spinning: '0' } } } };
  const sessions: ort.InferenceSession[] = [];
  try {
    for (const model of [fp32, int8]) sessions.push(await ort.InferenceSession.create(model, options));
    const [a, b] = sessions as [ort.InferenceSession, ort.InferenceSession];
    const output = a.outputNames[0];
    if (!b.outputNames.includes(output)) throw new AccelError('ACCEL_ERR_USAGE', { reason: `the int8 model has no output "${output}" (outputs: ${b.outputNames.join(', ')})` });
    const meta = a.inputMetadata.find((m) => m.name === input);
    const batchOne = meta?.isTensor === true && meta.shape[0] === 1;
    const t0 = performance.now();
    let [fRows, qRows] = await outputRows(sessions, input, output, itemDims, images, batchOne ? 1 : EVAL_BATCH, opts);
    const softmaxApplied = !isProbabilities(fRows);
    if (softmaxApplied) [fRows, qRows] = [fRows.map(softmax), qRows.map(softmax)];
    const classes = fRows[0].length;
    const k = Math.min(5, classes);
    let top1 = 0;
    let top5 = 0;
    let sumDiff = 0;
    let maxAbsDiff = 0;
    for (const [i, f] of fRows.entries()) {
      const q = qRows[i];
      const [fTop, qTop] = [topK(f, k), topK(q, k)];
      if (fTop[0] === qTop[0]) top1++;
      top5 += fTop.filter((c) => qTop.includes(c)).length / k;
      for (let c = 0; c < classes; c++) {
        const d = Math.abs(f[c] - q[c]);
        sumDiff += d;
        if (d > maxAbsDiff) maxAbsDiff = d;
      }
    }
    opts.log?.(`evaluated ${images.length} images at batch ${batchOne ? 1 : EVAL_BATCH} in ${((performance.now() - t0) / 1000).toFixed(2)} s`);
    const runs = (fallback: number) => opts.latencyRuns ?? fallback;
    const batch1 = await interleavedLatency(a, b, { [input]: batchOf(images, 0, 1, itemDims) }, runs(30), opts.signal);
    const batch8 = batchOne ? null : await interleavedLatency(a, b, { [input]: batchOf(images, 0, EVAL_BATCH, itemDims) }, runs(8), opts.signal);
    opts.log?.(`latency measured: ${runs(30)} runs at batch 1${batch8 ? `, ${runs(8)} at batch ${EVAL_BATCH}` : ' (fixed batch of 1)'}, fp32 and int8 interleaved`);
    return {
      images: images.length,
      top1Agreement: top1 / images.length,
      top5Agreement: top5 / images.length,
      meanAbsDiff: sumDiff / (images.length * classes),
      maxAbsDiff,
      classes,
      output,
      softmaxApplied,
      latency: { batch1, batch8 },
    };
  } finally {
    for (const s of sessions) await s.release();
  }
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

function countByOp(nodes: { op: string }[]): string {
  const counts = new Map<string, number>();
  for (const n of nodes) counts.set(n.op, (counts.get(n.op) ?? 0) + 1);
  return [...counts].map(([op, n]) => `${op} ${n}`).join(', ');
}

/** The report as readable lines: agreement, differences, latency table, quantized and float nodes. */
export function formatReport(report: AgreementReport, result: QuantizeResult): string {
  const k = Math.min(5, report.classes);
  const rows: [number, LatencyPair | null][] = [[1, report.latency.batch1], [8, report.latency.batch8]];
  const latency = rows.flatMap(([batch, l]) =>
    l ? [`  ${String(batch).padStart(5)}  ${l.fp32Ms.toFixed(2).padStart(8)}  ${l.int8Ms.toFixed(2).padStart(8)}  ${l.ratio.toFixed(2).padStart(9)}`] : [],
  );
  const lines = [
    `agreement on ${report.images} images, output "${report.output}" (${report.classes} classes${report.softmaxApplied ? ', softmax applied to both' : ''}):`,
    `  top-1 ${pct(report.top1Agreement)} of images predict the same class`,
    `  top-${k} ${pct(report.top5Agreement)} of the float model's top ${k} classes are in the int8 model's top ${k} (mean over images)`,
    `  |p_fp32 - p_int8| mean ${report.meanAbsDiff.toExponential(2)}, max ${report.maxAbsDiff.toExponential(2)}`,
    'latency (median per run, fp32 and int8 runs interleaved, CPU):',
    '  BATCH   FP32 MS   INT8 MS  INT8/FP32',
    ...latency,
    `quantized nodes: ${result.quantized.length}${result.quantized.length ? ` (${countByOp(result.quantized)})` : ''}`,
    `float nodes: ${result.float.length}`,
    ...result.float.map((n) => `  ${n.name} (${n.op}): ${n.reason}`),
  ];
  return lines.join('\n');
}
