import { AccelError } from '../../../errors';

/** One tensor of a Keras graph: output `tensor` of call `node` of layer `layer`. */
export interface KerasRef {
  layer: string;
  node: number;
  tensor: number;
}

/** A Keras layer as its config describes it, with the calls that feed it (one per use). */
export interface KerasLayer {
  name: string;
  className: string;
  config: Record<string, unknown>;
  /** For each call of the layer, the tensors it takes. Empty for input layers. */
  calls: KerasRef[][];
}

/** A Keras model config, in one form whether it was Sequential or functional, Keras 2 or 3. */
export interface KerasModel {
  name: string;
  layers: KerasLayer[];
  inputs: KerasRef[];
  outputs: KerasRef[];
}

type Json = Record<string, unknown>;

export function badTopology(reason: string): AccelError {
  return new AccelError('ACCEL_ERR_CONVERT_BAD_MODEL', { file: 'model.json', format: 'TF.js layers model', reason });
}

/** Class names that hold a whole model (nested models are lowered in place). */
export const MODEL_CLASSES = new Set(['Sequential', 'Model', 'Functional']);

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Keras 2 `[name, node, tensor, kwargs]`. */
function refFromList(v: unknown[]): KerasRef {
  return { layer: String(v[0]), node: Number(v[1] ?? 0), tensor: Number(v[2] ?? 0) };
}

/** Every Keras 3 `__keras_tensor__` in call arguments, in order. */
function kerasTensors(v: unknown, into: KerasRef[]): KerasRef[] {
  if (Array.isArray(v)) for (const item of v) kerasTensors(item, into);
  else if (isObject(v)) {
    const history = isObject(v.config) ? v.config.keras_history : undefined;
    if (v.class_name === '__keras_tensor__' && Array.isArray(history)) into.push(refFromList(history));
  }
  return into;
}

function parseCall(call: unknown): KerasRef[] {
  if (isObject(call)) return kerasTensors(call.args ?? [], []);
  if (Array.isArray(call)) return call.map((r) => refFromList(r as unknown[]));
  throw badTopology(`inbound node ${JSON.stringify(call)} is neither a list nor a Keras 3 call`);
}

/** `input_layers`/`output_layers`: a list of refs, or one ref (Keras 3 with a single tensor). */
function parseRefs(v: unknown): KerasRef[] {
  if (!Array.isArray(v)) return [];
  return typeof v[0] === 'string' ? [refFromList(v)] : v.map((r) => refFromList(r as unknown[]));
}

function parseLayer(raw: unknown): KerasLayer {
  if (!isObject(raw) || typeof raw.class_name !== 'string') throw badTopology(`layer entry ${JSON.stringify(raw)?.slice(0, 200)} has no class_name`);
  const config = isObject(raw.config) ? raw.config : {};
  const name = String(raw.name ?? config.name ?? raw.class_name);
  const inbound = Array.isArray(raw.inbound_nodes) ? raw.inbound_nodes : [];
  return { name, className: raw.class_name, config, calls: inbound.map(parseCall) };
}

/**
 * Input shape a Sequential model's first layer declares (`batch_input_shape` / `batch_shape` /
 * `input_shape`), or, when that layer is a model itself, the shape of its first input.
 */
function declaredInputShape(first: KerasLayer): unknown[] | undefined {
  if (MODEL_CLASSES.has(first.className)) {
    const inner = parseKerasModel({ class_name: first.className, config: first.config });
    const input = inner.layers.find((l) => l.name === inner.inputs[0]?.layer);
    return input ? declaredInputShape(input) : undefined;
  }
  const config = first.config;
  const batch = config.batch_input_shape ?? config.batch_shape;
  if (Array.isArray(batch)) return batch;
  return Array.isArray(config.input_shape) ? [null, ...config.input_shape] : undefined;
}

function parseSequential(name: string, layerList: unknown[]): KerasModel {
  const layers = layerList.map(parseLayer);
  if (layers.length === 0) throw badTopology(`Sequential model "${name}" has no layers`);
  if (layers[0]!.className !== 'InputLayer') {
    const shape = declaredInputShape(layers[0]!);
    if (!shape) throw badTopology(`the first layer of Sequential model "${name}" declares no input shape`);
    const dtype = layers[0]!.config.dtype ?? 'float32';
    layers.unshift({ name: `${layers[0]!.name}_input`, className: 'InputLayer', config: { batch_input_shape: shape, dtype }, calls: [] });
  }
  for (let k = 1; k < layers.length; k++) layers[k]!.calls = [[{ layer: layers[k - 1]!.name, node: 0, tensor: 0 }]];
  layers[0]!.calls = [];
  return { name, layers, inputs: [{ layer: layers[0]!.name, node: 0, tensor: 0 }], outputs: [{ layer: layers.at(-1)!.name, node: 0, tensor: 0 }] };
}

/**
 * Reads a Keras model config (`{class_name, config}`) as TF.js `model.save` and the Keras
 * converters write it: Sequential (layer chain, Keras 2 list form too) or functional
 * (`Model`/`Functional`, Keras 2 list inbound nodes or Keras 3 call dicts).
 */
export function parseKerasModel(modelConfig: unknown): KerasModel {
  if (!isObject(modelConfig) || typeof modelConfig.class_name !== 'string') throw badTopology('modelTopology holds no Keras model config (class_name missing)');
  const { class_name: cls, config } = modelConfig;
  if (cls === 'Sequential') {
    if (Array.isArray(config)) return parseSequential('sequential', config);
    if (isObject(config) && Array.isArray(config.layers)) return parseSequential(String(config.name ?? 'sequential'), config.layers);
  } else if (MODEL_CLASSES.has(cls) && isObject(config) && Array.isArray(config.layers)) {
    return {
      name: String(config.name ?? 'model'),
      layers: config.layers.map(parseLayer),
      inputs: parseRefs(config.input_layers),
      outputs: parseRefs(config.output_layers),
    };
  }
  throw badTopology(`model class "${cls}" is not a Sequential or functional Keras model`);
}
