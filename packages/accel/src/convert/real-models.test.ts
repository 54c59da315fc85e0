import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SAMPLE_PHOTO } from '../assets';
import { HUMAN_MODELS, NSFWJS_MODELS, realModel } from '../test-util/real-models';
import { convertGraph } from './convert';
import { mapGraph } from './map';
import { runPasses } from './passes/index';
import { writeGraphDef } from './loaders/graphdef';
import { loadTfModel } from './loaders/index';

/**
 * Every trained network of the fixture packages, converted and checked against TF.js on the
 * sample photo, its mirror image and noise. `ACCEL_REAL_MODELS=all` (CI) runs all 44; a plain
 * `npm test` runs a few. The fixtures come from the npm registry into .cache/real-models.
 */
const ALL = [...NSFWJS_MODELS, ...HUMAN_MODELS];
const QUICK = ['human/emotion', 'nsfwjs/mobilenet_v2_mid', 'nsfwjs/mobilenet_v2', 'human/faceboxes'];
const selected = process.env.ACCEL_REAL_MODELS === 'all' ? ALL : process.env.ACCEL_REAL_MODELS ? process.env.ACCEL_REAL_MODELS.split(',') : QUICK;

/** Graphs with TensorFlow control flow (while loops, TensorArrays): declared unsupported. */
const CONTROL_FLOW: Record<string, string[]> = {
  'human/faceboxes': ['Enter', 'Switch', 'Merge', 'NextIteration', 'TensorArrayV3'],
  'human/handtrack': ['Enter', 'Switch', 'Merge', 'NextIteration', 'TensorListReserve'],
  'human/rvm': ['Switch', 'Merge'],
};

/**
 * Outputs that agree with TF.js less closely than the 1e-4 default. Bisecting blazepose-lite
 * showed every intermediate tensor within ~1e-5 relative error; the gap opens in the last
 * layers, where float32 rounding differences of large pre-activation values are amplified.
 * Each bound is about 3x what was measured; top-1 agreement stays 100% where it applies.
 */
const TOLERANCE: Record<string, number> = {
  'human/blazepose-lite': 5e-2,
  'human/blazepose-full': 1.5e-2,
  'human/blazepose-heavy': 5e-3,
  'human/facemesh-attention': 1e-2,
  'human/handlandmark-sparse': 5e-3,
  'human/handskeleton': 1e-3,
  'human/facemesh': 5e-4,
};

const TIMEOUT = 600_000;
const scratch = mkdtempSync(join(tmpdir(), 'accel-real-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe.each(selected)('converting %s', (name) => {
  it(
    CONTROL_FLOW[name] ? 'fails listing its control-flow ops' : 'gives the outputs TF.js gives',
    async () => {
      const graph = await loadTfModel(realModel(name).modelJson);
      if (CONTROL_FLOW[name]) {
        const err = await convertGraph(graph, { verify: false }).catch((e: unknown) => e as Error);
        expect(err).toBeInstanceOf(Error);
        expect((err as Error).message).toMatch(/op type\(s\) the converter does not support/);
        for (const op of CONTROL_FLOW[name]!) expect((err as Error).message).toContain(`${op} (`);
        return;
      }
      const tolerance = TOLERANCE[name] ?? 1e-4;
      const result = await convertGraph(graph, { photos: [SAMPLE_PHOTO], samples: 3, tolerance });
      const v = result.verification!;
      expect(v.worstRel).toBeLessThanOrEqual(tolerance);
      for (const o of v.outputs) if (o.top1Agreement !== null) expect(o.top1Agreement, o.output).toBe(1);
      expect(result.inputs).toEqual(graph.signature!.inputs);
      // NHWC -> NCHW without a transpose around each convolution: no Transpose sits between two
      // convolutions joined only by layout-agnostic ops (those left are at the input, at an
      // output, or next to a Reshape/reduction whose meaning depends on the layout).
      const onnx = mapGraph(graph, { inputs: result.inputs, outputs: result.outputs });
      runPasses(onnx);
      const { producer, consumers } = onnx.index();
      const SPATIAL = /^(Conv|ConvTranspose|MaxPool|AveragePool)$/;
      const AGNOSTIC = /^(Relu|Clip|Sigmoid|Tanh|LeakyRelu|PRelu|Add|Sub|Mul|Div|Max|Min|Concat|Pad|Identity|BatchNormalization)$/;
      const afterSpatial = (tensor: string): boolean => {
        const seen = new Set<string>();
        const stack = [tensor];
        while (stack.length) {
          const node = producer.get(stack.pop()!);
          if (!node || seen.has(node.name)) continue;
          seen.add(node.name);
          if (SPATIAL.test(node.op)) return true;
          if (AGNOSTIC.test(node.op)) stack.push(...node.inputs);
        }
        return false;
      };
      for (const t of onnx.nodes.filter((n) => n.op === 'Transpose')) {
        const uses = (consumers.get(t.outputs[0]!) ?? []).map((c) => c.op);
        const between = uses.some((op) => SPATIAL.test(op)) && afterSpatial(t.inputs[0]!);
        expect(between, `Transpose between ${producer.get(t.inputs[0]!)?.op} and ${uses.join(',')}`).toBe(false);
      }
    },
    TIMEOUT,
  );
});

describe('a frozen GraphDef (.pb) of a real network', () => {
  it('converts like its TF.js original', async () => {
    const source = await loadTfModel(realModel('human/emotion').modelJson);
    const pb = join(scratch, 'emotion.pb');
    writeFileSync(pb, writeGraphDef(source));
    const graph = await loadTfModel(pb);
    expect(graph.format).toBe('graphdef');
    const result = await convertGraph(graph, { inputs: source.signature!.inputs, outputs: source.signature!.outputs, photos: [SAMPLE_PHOTO], samples: 3 });
    expect(result.verification!.worstRel).toBeLessThanOrEqual(1e-4);
    expect(result.verification!.outputs[0]!.top1Agreement).toBe(1);
  }, TIMEOUT);
});
