import { AccelError } from '../errors';
import { postprocessDetections, type PostprocessOptions } from '../preprocess/ssd';
import type { SignatureTensor } from './signature';
import type { NamedTensors } from './tensor';

/** Server-side post-processing named in a model's sidecar: `{ "postprocess": { "type": "ssd", ... } }`. */
export interface PostprocessConfig extends Omit<PostprocessOptions, 'anchors' | 'variances'> {
  type: 'ssd';
}

export const DETECTION_OUTPUTS = ['detection_boxes', 'detection_classes', 'detection_scores', 'num_detections'] as const;

export function parsePostprocess(value: unknown): PostprocessConfig | undefined {
  if (value === undefined) return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v !== 'object' || v === null || v.type !== 'ssd') {
    throw new AccelError('ACCEL_ERR_USAGE', { reason: `"postprocess" must be { "type": "ssd", ... }, got ${JSON.stringify(value)}` });
  }
  return v as unknown as PostprocessConfig;
}

/** The signature entries the post-processing adds (TF object detection API names, float32). */
export function detectionSignature(config: PostprocessConfig): SignatureTensor[] {
  const max = config.maxDetections ?? 100;
  const shapes: Record<(typeof DETECTION_OUTPUTS)[number], number[]> = {
    detection_boxes: [-1, max, 4],
    detection_classes: [-1, max],
    detection_scores: [-1, max],
    num_detections: [-1],
  };
  return DETECTION_OUTPUTS.map((alias) => ({ alias, tensorName: alias, dtype: 'float32', shape: shapes[alias] }));
}

/** Decodes boxes against the default anchors and applies per-class NMS over the raw outputs. */
export function runPostprocess(config: PostprocessConfig, raw: NamedTensors): NamedTensors {
  return { ...postprocessDetections(raw, config) };
}
