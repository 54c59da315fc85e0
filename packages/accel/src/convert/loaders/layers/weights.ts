import { AccelError } from '../../../errors';
import { tensor, type Tensor } from '../../../onnx/graph';
import { fromHalf } from '../../../runtime/half';

interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string; scale?: number; min?: number; original_dtype?: string };
}

interface WeightGroup {
  paths?: string[];
  weights: WeightSpec[];
}

const BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2 };

function bad(reason: string): AccelError {
  return new AccelError('ACCEL_ERR_CONVERT_BAD_MODEL', { file: 'model.json', format: 'TF.js layers model', reason });
}

function decode(spec: WeightSpec, bytes: Uint8Array): Tensor {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const q = spec.quantization;
  if (q && (q.dtype === 'uint8' || q.dtype === 'uint16')) {
    // Affine quantization as TF.js writes it: value = q * scale + min.
    const scale = q.scale ?? 1;
    const min = q.min ?? 0;
    const out = new Float32Array(n);
    for (let k = 0; k < n; k++) out[k] = (q.dtype === 'uint8' ? bytes[k]! : view.getUint16(2 * k, true)) * scale + min;
    return spec.dtype === 'int32' ? tensor('int32', spec.shape, out.map(Math.round)) : tensor('float32', spec.shape, out);
  }
  if (q?.dtype === 'float16') return tensor('float32', spec.shape, Float32Array.from({ length: n }, (_, k) => fromHalf(view.getUint16(2 * k, true))));
  if (q) throw bad(`weight "${spec.name}" uses quantization ${q.dtype}, which is not supported`);
  if (spec.dtype === 'float32') return tensor('float32', spec.shape, Float32Array.from({ length: n }, (_, k) => view.getFloat32(4 * k, true)));
  if (spec.dtype === 'int32') return tensor('int32', spec.shape, Int32Array.from({ length: n }, (_, k) => view.getInt32(4 * k, true)));
  if (spec.dtype === 'bool') return tensor('bool', spec.shape, bytes.subarray(0, n));
  throw bad(`weight "${spec.name}" has dtype ${spec.dtype}, which is not supported`);
}

/**
 * Decodes a `weightsManifest` against the weight bytes (every group's shards concatenated in
 * manifest order): weight name -> value. Quantized weights (uint8/uint16 affine, float16) come
 * back as float32.
 */
export function readWeights(manifest: unknown, weights: Uint8Array): Map<string, Tensor> {
  if (!Array.isArray(manifest)) throw bad('weightsManifest is missing or not a list');
  const out = new Map<string, Tensor>();
  let offset = 0;
  for (const group of manifest as WeightGroup[]) {
    for (const spec of group.weights ?? []) {
      const n = spec.shape.reduce((a, b) => a * b, 1);
      const width = BYTES[spec.quantization?.dtype ?? spec.dtype];
      if (width === undefined) throw bad(`weight "${spec.name}" has dtype ${spec.quantization?.dtype ?? spec.dtype}, which is not supported`);
      const end = offset + n * width;
      if (end > weights.byteLength) throw bad(`the weight files hold ${weights.byteLength} bytes, fewer than the manifest needs (weight "${spec.name}" ends at byte ${end})`);
      out.set(spec.name, decode(spec, weights.subarray(offset, end)));
      offset = end;
    }
  }
  if (offset !== weights.byteLength) throw bad(`the weight files hold ${weights.byteLength} bytes, the manifest describes ${offset}`);
  return out;
}
