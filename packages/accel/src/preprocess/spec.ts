import { AccelError } from '../errors';

/**
 * How the server turns JPEG/PNG bytes into the model's float input. Stored beside a model as
 * `<model>.accel.json` ({ "preprocess": { ... } }), inferred from the ONNX input when absent.
 *
 * Pixel value p (0..255) of channel c becomes `(p * scale - mean[c]) / std[c]`.
 */
export interface PreprocessSpec {
  width: number;
  height: number;
  layout: 'NCHW' | 'NHWC';
  channelOrder: 'RGB' | 'BGR';
  /** `crop`: resize so the image covers size/cropFraction, then take the centre; `stretch`: resize the whole image. */
  resize: 'crop' | 'stretch';
  cropFraction: number;
  scale: number;
  mean: [number, number, number];
  std: [number, number, number];
}

export const IMAGENET_PREPROCESS: Omit<PreprocessSpec, 'width' | 'height' | 'layout'> = {
  channelOrder: 'RGB',
  resize: 'crop',
  cropFraction: 0.875,
  scale: 1 / 255,
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
};

const DEFAULT_SIZE = 224;

/**
 * Infers a spec from a model input's shape: rank 4 with 3 channels first (NCHW) or last (NHWC).
 * Returns undefined when the input does not look like an image batch.
 */
export function inferPreprocessSpec(
  dtype: string,
  shape: readonly (number | string)[],
): PreprocessSpec | undefined {
  if (dtype !== 'float32' || shape.length !== 4) return undefined;
  const dim = (d: number | string | undefined) => (typeof d === 'number' && d > 0 ? d : DEFAULT_SIZE);
  if (shape[1] === 3) return { ...IMAGENET_PREPROCESS, layout: 'NCHW', height: dim(shape[2]), width: dim(shape[3]) };
  if (shape[3] === 3) return { ...IMAGENET_PREPROCESS, layout: 'NHWC', height: dim(shape[1]), width: dim(shape[2]) };
  return undefined;
}

function bad(reason: string): AccelError {
  return new AccelError('ACCEL_ERR_USAGE', { reason: `Invalid preprocessing spec: ${reason}` });
}

function triple(value: unknown, key: string): [number, number, number] {
  if (typeof value === 'number' && Number.isFinite(value)) return [value, value, value];
  if (Array.isArray(value) && value.length === 3 && value.every((v) => typeof v === 'number' && Number.isFinite(v))) {
    return value as [number, number, number];
  }
  throw bad(`"${key}" must be a number or a list of 3 numbers, got ${JSON.stringify(value)}`);
}

function positive(value: unknown, key: string, integer: boolean): number {
  if (typeof value !== 'number' || !(value > 0) || (integer && !Number.isInteger(value))) {
    throw bad(`"${key}" must be a positive ${integer ? 'integer' : 'number'}, got ${JSON.stringify(value)}`);
  }
  return value;
}

function oneOf<T extends string>(value: unknown, key: string, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !allowed.includes(value.toUpperCase() as T) && !allowed.includes(value as T)) {
    throw bad(`"${key}" must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
  }
  return (allowed.includes(value as T) ? value : value.toUpperCase()) as T;
}

const KEYS = ['width', 'height', 'layout', 'channelOrder', 'resize', 'cropFraction', 'scale', 'mean', 'std'];

/** Applies a partial spec (from a sidecar file or flags) over a base spec, validating every field. */
export function mergePreprocessSpec(base: PreprocessSpec, patch: Record<string, unknown>): PreprocessSpec {
  const out = { ...base };
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) continue;
    switch (key) {
      case 'width':
      case 'height':
        out[key] = positive(value, key, true);
        break;
      case 'layout':
        out.layout = oneOf(value, key, ['NCHW', 'NHWC'] as const);
        break;
      case 'channelOrder':
        out.channelOrder = oneOf(value, key, ['RGB', 'BGR'] as const);
        break;
      case 'resize':
        out.resize = oneOf(value, key, ['crop', 'stretch'] as const);
        break;
      case 'cropFraction':
        out.cropFraction = positive(value, key, false);
        if (out.cropFraction > 1) throw bad(`"cropFraction" must be in (0, 1], got ${value}`);
        break;
      case 'scale':
        out.scale = positive(value, key, false);
        break;
      case 'mean':
        out.mean = triple(value, key);
        break;
      case 'std':
        out.std = triple(value, key);
        if (out.std.some((s) => s === 0)) throw bad('"std" must not contain 0');
        break;
      default:
        throw bad(`unknown key "${key}" (known: ${KEYS.join(', ')})`);
    }
  }
  return out;
}

/** One line describing a spec, printed by `accel serve`. */
export function describePreprocessSpec(s: PreprocessSpec): string {
  const r = (xs: number[]) => xs.map((x) => Number(x.toFixed(4))).join(',');
  const resize = s.resize === 'crop' ? `crop ${s.cropFraction}` : 'stretch';
  return `${s.layout} ${s.height}x${s.width} ${s.channelOrder}, ${resize}, scale ${Number(s.scale.toFixed(6))}, mean [${r(s.mean)}], std [${r(s.std)}]`;
}
