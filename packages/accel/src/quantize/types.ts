/** How activation ranges are chosen from the calibration run. */
export type CalibrationMethod = 'minmax' | 'entropy' | 'percentile';

export const CALIBRATION_METHODS: readonly CalibrationMethod[] = ['minmax', 'entropy', 'percentile'];

/** Calibration samples for a model with one image input: each item is one image, already preprocessed. */
export interface CalibrationSet {
  /** Name of the model's (float) input. */
  input: string;
  /** Dims of one item, without the batch axis (e.g. [224, 224, 3] or [3, 224, 224]). */
  itemDims: number[];
  images: Float32Array[];
}

export interface QuantizeOptions {
  /** Default `percentile` (the best agreement on the real networks measured). */
  method?: CalibrationMethod;
  /** Per-output-channel weight scales (default true); per-tensor when false. */
  perChannel?: boolean;
  /** Node names (as in the ONNX model) left in float. */
  exclude?: string[];
  /** Percentile kept by `percentile` (default 99.999). */
  percentile?: number;
  signal?: AbortSignal;
  log?: (line: string) => void;
  progress?: (label: string, done: number, total: number, unit: string) => void;
}

/** A compute node of the source model and what became of it. */
export interface NodeOutcome {
  name: string;
  op: string;
}

export interface FloatNode extends NodeOutcome {
  /** Why it stayed in float: excluded by the user, an op the quantizer does not handle, ... */
  reason: string;
}

export interface QuantizeResult {
  /** The QDQ model (ONNX, int8 weights with DequantizeLinear, QuantizeLinear/DequantizeLinear on activations). */
  model: Uint8Array;
  method: CalibrationMethod;
  perChannel: boolean;
  calibrationImages: number;
  /** Nodes whose inputs and outputs are quantized (ONNX Runtime fuses them into integer kernels). */
  quantized: NodeOutcome[];
  /** Nodes of the source left in float, with the reason. */
  float: FloatNode[];
}
