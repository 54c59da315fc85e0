import onnxProto from 'onnx-proto';
import { AccelError } from '../errors';
import { GraphBuilder } from '../onnx/builder';
import type { PreprocessSpec } from '../preprocess/spec';
import { Params, type WeightTable } from './params';
import type { Architecture } from './types';

export const INPUT_NAME = 'input:0';

export interface BuildOptions {
  /** Trained weights by name; absent: seeded random weights (speed tests only; the name says so). */
  weights?: WeightTable;
  seed?: number;
  /** `imagenet` (default), `none` (features out), or an ONNX classifier taking the features as its one input. */
  classifier?: 'imagenet' | 'none' | { onnx: Uint8Array };
}

export interface BuiltZooModel {
  bytes: Uint8Array;
  /** `resnet50`, or `resnet50-random` when the weights are random. */
  name: string;
  inputName: string;
  outputNames: string[];
  parameters: number;
  sidecar: { preprocess: PreprocessSpec; postprocess?: { type: 'ssd'; scope: string }; zoo: { architecture: string; weights: 'random' | 'pretrained'; outputs: string[] } };
}

/** The output names a model has, stable and documented. */
export function outputNames(arch: Architecture, classifier: BuildOptions['classifier'] = 'imagenet'): string[] {
  if (arch.kind === 'detector') return [];
  if (classifier === 'none') return [`${arch.scope}/features:0`];
  return [`classifier/${arch.scope}/predictions/Softmax:0`];
}

/** Grafts a user's ONNX classifier (one input: the features) onto the graph; returns its first output. */
function graft(g: GraphBuilder, features: string, bytes: Uint8Array, prefix: string): string[] {
  const model = onnxProto.onnx.ModelProto.decode(bytes);
  const graph = model.graph;
  if (!graph || graph.input?.length === 0) throw new AccelError('ACCEL_ERR_USAGE', { reason: 'the classifier ONNX file has no graph inputs' });
  const inits = new Set((graph.initializer ?? []).map((t) => t.name!));
  const realInputs = (graph.input ?? []).filter((i) => !inits.has(i.name!));
  if (realInputs.length !== 1) throw new AccelError('ACCEL_ERR_USAGE', { reason: `the classifier must take exactly one input (the features), it takes ${realInputs.length}` });
  const rename = (n: string) => (n === realInputs[0].name ? features : n ? `${prefix}/${n}` : n);
  for (const t of graph.initializer ?? []) g.raw.initializer.push({ ...t, name: rename(t.name!) });
  for (const n of graph.node ?? []) g.raw.node.push({ ...n, name: `${prefix}/${n.name ?? n.opType}`, input: (n.input ?? []).map(rename), output: (n.output ?? []).map(rename) });
  return (graph.output ?? []).map((o) => rename(o.name!));
}

/** Builds a zoo architecture into an ONNX model with named tensors and its preprocessing sidecar. */
export function buildZooModel(arch: Architecture, opts: BuildOptions = {}): BuiltZooModel {
  const random = !opts.weights;
  const g = new GraphBuilder(`${arch.name}${random ? '-random' : ''}`);
  const p = new Params(g, opts.weights, opts.seed ?? 1);
  const { height, width } = arch.preprocess;
  const input = g.input(INPUT_NAME, 'float32', ['N', 3, height, width]);
  const outputs: string[] = [];
  if (arch.kind === 'detector') {
    for (const o of arch.build(p, input)) outputs.push(g.output(g.node('Identity', [o.tensor], { name: o.name }), 'float32', o.shape));
  } else {
    const features = arch.featurizer(p, input);
    const classifier = opts.classifier ?? 'imagenet';
    if (classifier === 'none') {
      outputs.push(g.output(g.node('Identity', [features.output], { name: outputNames(arch, 'none')[0] }), 'float32', ['N', features.channels]));
    } else if (classifier === 'imagenet') {
      const logits = arch.imagenetHead(p, features.output, features.channels);
      outputs.push(g.output(g.node('Softmax', [logits], { name: outputNames(arch)[0], attrs: { axis: 1 } }), 'float32', ['N', 1000]));
    } else {
      for (const name of graft(g, features.output, classifier.onnx, 'classifier/custom')) outputs.push(g.output(name, 'float32', ['N', 'K']));
    }
  }
  const unused = p.unused();
  if (unused.length) {
    throw new AccelError('ACCEL_ERR_USAGE', { reason: `the weights hold ${unused.length} tensors ${arch.title} does not use (${unused.slice(0, 5).join(', ')}...): weights of another model?` });
  }
  const name = g.name;
  const bytes = g.toBytes({ docString: `${arch.title} (${arch.reference})${random ? '; random weights, for speed tests only' : ''}`, metadata: { 'accel.zoo': arch.name } });
  return {
    bytes,
    name,
    inputName: input,
    outputNames: outputs,
    parameters: p.learnable,
    sidecar: {
      preprocess: arch.preprocess,
      // Detectors get server-side box decoding and NMS (detection_boxes, ...) next to their raw outputs.
      ...(arch.kind === 'detector' ? { postprocess: { type: 'ssd' as const, scope: arch.scope } } : {}),
      zoo: { architecture: arch.name, weights: random ? 'random' : 'pretrained', outputs },
    },
  };
}
