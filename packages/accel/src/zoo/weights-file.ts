import { readFile } from 'node:fs/promises';
import onnxProto from 'onnx-proto';
import { AccelError } from '../errors';
import type { WeightTable } from './params';

/**
 * Reads a weights file: an ONNX file whose float32 initializers are the weights, named like
 * torchvision's state_dict (`conv1.weight`, `layer1.0.bn1.running_mean`, ...). A built zoo
 * model is itself such a file, so weights round-trip through `zoo build`.
 */
export async function readWeightsFile(path: string): Promise<WeightTable> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new AccelError('ACCEL_ERR_USAGE', { reason: `cannot read weights file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
  }
  let model: onnxProto.onnx.ModelProto;
  try {
    model = onnxProto.onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw new AccelError('ACCEL_ERR_USAGE', { reason: `${path} is not an ONNX weights file: ${(err as Error).message}` });
  }
  const table = new Map<string, { dims: number[]; data: Float32Array }>();
  for (const t of model.graph?.initializer ?? []) {
    if (t.dataType !== onnxProto.onnx.TensorProto.DataType.FLOAT) continue;
    const dims = (t.dims ?? []).map(Number);
    let data: Float32Array;
    if (t.rawData?.length) {
      const aligned = new Uint8Array(t.rawData.byteLength); // raw data sits at any offset of the file buffer
      aligned.set(t.rawData);
      data = new Float32Array(aligned.buffer);
    } else {
      data = Float32Array.from(t.floatData ?? []);
    }
    table.set(t.name!, { dims, data });
  }
  if (table.size === 0) throw new AccelError('ACCEL_ERR_USAGE', { reason: `${path} holds no float32 initializers` });
  return table;
}
