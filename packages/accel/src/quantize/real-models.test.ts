import { describe, expect, it } from 'vitest';
import { convertGraph } from '../convert/convert';
import { loadTfModel } from '../convert/loaders/index';
import { inferPreprocessSpec, mergePreprocessSpec } from '../preprocess/spec';
import { realModel } from '../test-util/real-models';
import { itemDimsOf, loadCalibrationImages } from './images';
import { ensurePhotoSet } from './photo-set';
import { quantizeModel } from './quantize';
import { compareModels } from './report';
import { optimizedOps } from './test-models';

/**
 * int8 on a trained network: nsfwjs Inception-v3 (converted from its TF.js model), calibrated on
 * the calibration half of the Debian photo set and compared with fp32 on the held-out half
 * (420 images from other source photos). Measured: 97.9-98.3% top-1 agreement (the issue's
 * bar is 99%: not reached, see README). Runs with ACCEL_REAL_MODELS=all (CI).
 */
const enabled = process.env.ACCEL_REAL_MODELS === 'all' || (process.env.ACCEL_REAL_MODELS ?? '').split(',').includes('nsfwjs/inception_v3');

describe.skipIf(!enabled)('int8 Inception-v3 (nsfwjs, trained weights)', () => {
  it('agrees with fp32 on held-out photos and runs in integer kernels', async () => {
    const converted = await convertGraph(await loadTfModel(realModel('nsfwjs/inception_v3').modelJson), { verify: false });
    const spec = mergePreprocessSpec(inferPreprocessSpec('float32', [1, 299, 299, 3])!, { scale: 1 / 255, mean: 0, std: 1, resize: 'stretch' });
    const photos = await ensurePhotoSet();
    const [calibration, evaluation] = await Promise.all([loadCalibrationImages(photos.calibration, spec), loadCalibrationImages(photos.evaluation, spec)]);
    const input = converted.inputs[0]!;
    const result = await quantizeModel(converted.model, { input, itemDims: itemDimsOf(spec), images: calibration.images });
    expect(result.float.map((n) => n.op)).toEqual(['Softmax']);

    const ops = await optimizedOps(result.model);
    expect(ops.filter((op) => op === 'QLinearConv').length).toBeGreaterThanOrEqual(94);
    expect(ops.filter((op) => op === 'Conv' || op === 'FusedConv' || op === 'AveragePool' || op === 'QLinearAveragePool')).toEqual([]);

    const report = await compareModels(converted.model, result.model, input, itemDimsOf(spec), evaluation.images, { latencyRuns: 3 });
    expect(report.images).toBeGreaterThanOrEqual(300);
    expect(report.top1Agreement).toBeGreaterThanOrEqual(0.97);
    expect(report.top5Agreement).toBeGreaterThanOrEqual(0.99);
    expect(report.meanAbsDiff).toBeLessThan(0.01);
  }, 600_000);
});
