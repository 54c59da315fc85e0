import type { InferenceSession } from 'onnxruntime-node';
import type { DType } from './tensor';

export const DEFAULT_SIGNATURE = 'serving_default';
export const PREDICT_METHOD = 'tensorflow/serving/predict';
/** Aliases that clients of the original accelerated-models service send and read. */
export const IMAGE_ALIAS = 'images';
export const CLASSIFIER_OUTPUT_ALIAS = 'output_alias';

/** One entry of a signature: an alias the client uses, and the graph tensor behind it. */
export interface SignatureTensor {
  alias: string;
  tensorName: string;
  dtype: DType;
  /** -1 for dimensions that vary (the batch). */
  shape: number[];
  /** True when the alias takes encoded images that the server decodes into `tensorName`. */
  encodedImage?: boolean;
}

export interface Signature {
  name: string;
  methodName: string;
  inputs: SignatureTensor[];
  outputs: SignatureTensor[];
}

function dims(shape: readonly (number | string)[]): number[] {
  return shape.map((d) => (typeof d === 'number' && d > 0 ? d : -1));
}

function tensorMeta(m: InferenceSession.ValueMetadata): { dtype: DType; shape: number[] } {
  if (!m.isTensor) return { dtype: 'float32', shape: [] };
  return { dtype: m.type as DType, shape: dims(m.shape) };
}

/**
 * The `serving_default` signature of an ONNX model: every graph input and output under its own
 * name; an image input also under `images` (JPEG/PNG strings) when it is the only input, and a
 * classifier's single 2-D output also under `output_alias`.
 */
export function buildSignature(
  inputs: readonly InferenceSession.ValueMetadata[],
  outputs: readonly InferenceSession.ValueMetadata[],
  imageInputs: ReadonlySet<string>,
): Signature {
  const sigInputs: SignatureTensor[] = [];
  for (const m of inputs) {
    const { dtype, shape } = tensorMeta(m);
    sigInputs.push({ alias: m.name, tensorName: m.name, dtype, shape });
  }
  if (inputs.length === 1 && imageInputs.has(inputs[0].name) && inputs[0].name !== IMAGE_ALIAS) {
    sigInputs.unshift({ alias: IMAGE_ALIAS, tensorName: inputs[0].name, dtype: 'string', shape: [-1], encodedImage: true });
  }
  const sigOutputs: SignatureTensor[] = outputs.map((m) => ({ alias: m.name, tensorName: m.name, ...tensorMeta(m) }));
  if (sigOutputs.length === 1 && sigOutputs[0].shape.length === 2 && sigOutputs[0].alias !== CLASSIFIER_OUTPUT_ALIAS) {
    sigOutputs.push({ ...sigOutputs[0], alias: CLASSIFIER_OUTPUT_ALIAS });
  }
  return { name: DEFAULT_SIGNATURE, methodName: PREDICT_METHOD, inputs: sigInputs, outputs: sigOutputs };
}
