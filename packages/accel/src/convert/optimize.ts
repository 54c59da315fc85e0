import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';

/**
 * ONNX Runtime's offline optimization at level `extended` (constant folding, redundant-node
 * elimination, conv/activation and other fusions that hold on any CPU), saved as a model
 * file. Level `all` is left to the serving machine: its layouts are specific to the CPU that
 * saved them.
 */
export async function optimizeOffline(model: Uint8Array): Promise<Uint8Array> {
  const dir = await mkdtemp(join(tmpdir(), 'accel-opt-'));
  try {
    const src = join(dir, 'in.onnx');
    const dst = join(dir, 'out.onnx');
    await writeFile(src, model);
    const session = await ort.InferenceSession.create(src, {
      graphOptimizationLevel: 'extended',
      optimizedModelFilePath: dst,
      executionProviders: ['cpu'],
    });
    await session.release();
    return new Uint8Array(await readFile(dst));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
