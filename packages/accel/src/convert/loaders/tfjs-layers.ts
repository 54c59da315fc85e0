import { AccelError } from '../../errors';
import type { DType } from '../../onnx/graph';
import type { TfGraph } from '../tf/graph';
import { LOWERINGS, UNCONVERTIBLE } from './layers/index';
import { LayerCall, LayersEmitter, type KTensor } from './layers/lowering';
import { badTopology, MODEL_CLASSES, parseKerasModel, type KerasLayer, type KerasModel, type KerasRef } from './layers/topology';
import { readWeights } from './layers/weights';

type Json = Record<string, unknown>;

const key = (r: KerasRef): string => `${r.layer}\u0000${r.node}\u0000${r.tensor}`;

/** A model used as a layer of another. */
function nested(layer: KerasLayer): KerasModel {
  return parseKerasModel({ class_name: layer.className, config: layer.config });
}

/** Every layer class the model (and the models nested in it) uses that has no lowering. */
function unsupportedLayers(model: KerasModel, into = new Map<string, string[]>()): Map<string, string[]> {
  for (const layer of model.layers) {
    if (MODEL_CLASSES.has(layer.className)) unsupportedLayers(nested(layer), into);
    else if (layer.className !== 'InputLayer' && !LOWERINGS.has(layer.className)) into.set(layer.className, [...(into.get(layer.className) ?? []), layer.name]);
  }
  return into;
}

function failUnsupported(missing: Map<string, string[]>): never {
  const ops = [...missing].map(([cls, names]) => `${cls} (layer${names.length > 1 ? 's' : ''} ${names.join(', ')}${UNCONVERTIBLE[cls] ? `: ${UNCONVERTIBLE[cls]}` : ''})`);
  throw new AccelError('ACCEL_ERR_CONVERT_UNSUPPORTED_OPS', { count: missing.size, ops: ops.join(', ') });
}

function inputDtype(v: unknown): DType {
  const name = typeof v === 'string' ? v : ((v as { config?: { name?: string } } | undefined)?.config?.name ?? 'float32');
  if (name !== 'float32' && name !== 'int32') throw badTopology(`input dtype ${name} is not supported`);
  return name;
}

/** A Placeholder for one of the top model's InputLayers. */
function placeholder(emitter: LayersEmitter, model: KerasModel, ref: KerasRef): KTensor {
  const layer = model.layers.find((l) => l.name === ref.layer);
  if (layer?.className !== 'InputLayer') throw badTopology(`model input "${ref.layer}" is not an InputLayer`);
  const raw = layer.config.batch_input_shape ?? layer.config.batch_shape;
  if (!Array.isArray(raw)) throw badTopology(`input layer "${layer.name}" declares no batch_input_shape`);
  const shape = raw.map((d) => (d === null ? -1 : Number(d)));
  return { name: emitter.builder.placeholder(emitter.unique(layer.name), shape, inputDtype(layer.config.dtype)), shape };
}

/**
 * Lowers every layer call of a model once its inputs exist (config order is not always
 * topological). `bound` are the tensors fed to the model's inputs.
 */
function lowerModel(emitter: LayersEmitter, model: KerasModel, bound: KTensor[]): KTensor[] {
  const tensors = new Map<string, KTensor>();
  if (bound.length !== model.inputs.length) throw badTopology(`model "${model.name}" takes ${model.inputs.length} input(s), is called with ${bound.length}`);
  model.inputs.forEach((ref, i) => tensors.set(key(ref), bound[i]!));
  const pending = model.layers.flatMap((layer) => layer.calls.map((refs, node) => ({ layer, refs, node })));
  while (pending.length > 0) {
    const ready = pending.findIndex((c) => c.refs.every((r) => tensors.has(key(r))));
    if (ready < 0) throw badTopology(`layer "${pending[0]!.layer.name}" takes a tensor that no layer produces`);
    const { layer, refs, node } = pending.splice(ready, 1)[0]!;
    const inputs = refs.map((r) => tensors.get(key(r))!);
    const outputs = MODEL_CLASSES.has(layer.className)
      ? lowerModel(emitter, nested(layer), inputs)
      : [LOWERINGS.get(layer.className)!(new LayerCall(layer, inputs, emitter))].flat();
    outputs.forEach((t, tensor) => tensors.set(key({ layer: layer.name, node, tensor }), t));
  }
  return model.outputs.map((ref) => {
    const t = tensors.get(key(ref));
    if (!t) throw badTopology(`model output "${ref.layer}" is not produced by any layer`);
    return t;
  });
}

/**
 * Reads a TF.js layers model (`model.json` with `format: 'layers-model'`: a Keras model config
 * plus a weights manifest) and lowers its layers to plain TensorFlow ops, weights as Const
 * nodes, so the op handlers map it like any TF graph. `weights` is every weight file,
 * concatenated in manifest order.
 *
 * @example
 * const graph = readTfjsLayersModel(JSON.parse(modelJsonText), shardBytes);
 * graph.signature; // { inputs: ['input_1:0'], outputs: ['dense_3/Softmax:0'] }
 */
export function readTfjsLayersModel(modelJson: object, weights: Uint8Array): TfGraph {
  const topology = (modelJson as Json).modelTopology as Json | undefined;
  if (!topology || typeof topology !== 'object') throw badTopology('modelTopology is missing');
  const model = parseKerasModel(topology.model_config ?? topology);
  const missing = unsupportedLayers(model);
  if (missing.size > 0) failUnsupported(missing);
  const emitter = new LayersEmitter(readWeights((modelJson as Json).weightsManifest, weights), String(topology.keras_version ?? ''));
  const inputs = model.inputs.map((ref) => placeholder(emitter, model, ref));
  const outputs = lowerModel(emitter, model, inputs);
  return emitter.builder.build(
    inputs.map((t) => t.name),
    outputs.map((t) => t.name),
    'tfjs-layers',
  );
}
