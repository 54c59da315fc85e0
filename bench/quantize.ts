/**
 * int8 quantization (`npm run bench:quantize`, part of `npm run bench`). Two parts, each
 * measured fp32 vs int8 in one run, sessions interleaved:
 * - trained networks (nsfwjs MobileNetV2 and Inception-v3, converted from TF.js): calibrated on
 *   the calibration half of the Debian photo set, compared on its held-out evaluation half:
 *   top-1/top-5 agreement, softmax differences, batch-1 and batch-8 latency;
 * - zoo models with random weights (speed only; the names say so), calibrated on the sample
 *   photo's variants. BENCH_QUANT_ZOO=all adds ResNet-152, VGG-16 and SSD-VGG.
 * Writes bench/out/quantize.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { convertGraph } from '../packages/accel/src/convert/convert';
import { loadTfModel } from '../packages/accel/src/convert/loaders/index';
import { realModel } from '../packages/accel/src/convert/npm-models';
import { mergePreprocessSpec, inferPreprocessSpec } from '../packages/accel/src/preprocess/spec';
import { itemDimsOf, loadCalibrationImages } from '../packages/accel/src/quantize/images';
import { ensurePhotoSet } from '../packages/accel/src/quantize/photo-set';
import { quantizeModel } from '../packages/accel/src/quantize/quantize';
import { compareModels, type AgreementReport } from '../packages/accel/src/quantize/report';
import { buildZooModel, INPUT_NAME } from '../packages/accel/src/zoo/build';
import { architecture } from '../packages/accel/src/zoo/catalog';
import { quantizeZooModel } from '../packages/accel/src/zoo/quantized';

const HERE = dirname(fileURLToPath(import.meta.url));
const log = (line: string) => process.stderr.write(`${line}\n`);
const rows: Array<{ model: string; weights: string; floatNodes: string[]; report: AgreementReport }> = [];

const photos = await ensurePhotoSet({ log });
for (const [name, size] of [['nsfwjs/mobilenet_v2', 224], ['nsfwjs/inception_v3', 299]] as const) {
  log(`${name}: converting ...`);
  const converted = await convertGraph(await loadTfModel(realModel(name).modelJson), { verify: false });
  // nsfwjs feeds pixels / 255, stretched to the input size.
  const spec = mergePreprocessSpec(inferPreprocessSpec('float32', [1, size, size, 3])!, { scale: 1 / 255, mean: 0, std: 1, resize: 'stretch' });
  const [calibration, evaluation] = await Promise.all([loadCalibrationImages(photos.calibration, spec), loadCalibrationImages(photos.evaluation, spec)]);
  log(`${name}: quantizing on ${calibration.images.length} images ...`);
  const result = await quantizeModel(converted.model, { input: converted.inputs[0]!, itemDims: itemDimsOf(spec), images: calibration.images }, { log });
  const report = await compareModels(converted.model, result.model, converted.inputs[0]!, itemDimsOf(spec), evaluation.images, { log });
  rows.push({ model: name, weights: 'trained', floatNodes: result.float.map((n) => n.op), report });
}

const zoo = process.env.BENCH_QUANT_ZOO === 'all' ? ['resnet50', 'resnet152', 'densenet121', 'vgg16', 'ssd300_vgg16'] : ['resnet50', 'densenet121'];
for (const name of zoo) {
  const arch = architecture(name);
  log(`${name}-random: building and quantizing ...`);
  const built = buildZooModel(arch);
  const q = await quantizeZooModel(arch, built, { log });
  // Random weights: the agreement figures mean nothing, the latency is what this measures.
  const images = Array.from({ length: 8 }, () => new Float32Array(3 * arch.preprocess.width * arch.preprocess.height).fill(0.2));
  const report = await compareModels(built.bytes, q.bytes, INPUT_NAME, itemDimsOf(arch.preprocess), images, { log, latencyRuns: 10 });
  rows.push({ model: q.name, weights: 'random (speed only)', floatNodes: q.result.float.map((n) => n.op), report });
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
console.log('\nint8 (QDQ, percentile calibration, per-channel weights) vs fp32, ONNX Runtime CPU, medians, sessions interleaved');
console.log('model                         weights      images  top-1   top-5   max|dp|   b1 fp32  b1 int8  b1 ratio  b8 ratio');
for (const { model, weights, report: r } of rows) {
  const trained = weights === 'trained';
  console.log(
    [
      model.padEnd(30),
      (trained ? 'trained' : 'random').padEnd(11),
      String(trained ? r.images : '-').padStart(6),
      (trained ? pct(r.top1Agreement) : '-').padStart(7),
      (trained ? pct(r.top5Agreement) : '-').padStart(7),
      (trained ? r.maxAbsDiff.toFixed(3) : '-').padStart(9),
      r.latency.batch1.fp32Ms.toFixed(1).padStart(9),
      r.latency.batch1.int8Ms.toFixed(1).padStart(8),
      r.latency.batch1.ratio.toFixed(2).padStart(9),
      (r.latency.batch8 ? r.latency.batch8.ratio.toFixed(2) : '-').padStart(9),
    ].join(' '),
  );
}
mkdirSync(join(HERE, 'out'), { recursive: true });
writeFileSync(join(HERE, 'out', 'quantize.json'), JSON.stringify(rows, null, 2));
