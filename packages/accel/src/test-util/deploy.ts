import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ImageRecord } from '../workspace/types';
import type { Workspace } from '../workspace/workspace';

/**
 * Registers `model` (ONNX bytes, or any text for a model that cannot load) as the next version
 * of model `modelName` and records image `image` serving it as built, so that it deploys on a
 * `local` target. Nothing is really built: a local service serves the model files from the
 * workspace, not from the image layout, and a full build gzips a ~250 MB runtime layer.
 */
export async function deployableImage(ws: Workspace, image: string, modelName: string, model: Uint8Array | string): Promise<ImageRecord> {
  const dir = mkdtempSync(join(tmpdir(), 'accel-image-'));
  try {
    writeFileSync(join(dir, 'model.onnx'), model);
    const m = await ws.registerModel(join(dir, 'model.onnx'), { name: modelName });
    const record = await ws.createImageRecord({ name: image, models: [m.id] });
    return ws.updateImage(record.name, record.version, { state: 'Succeeded', digest: `sha256:${'0'.repeat(64)}`, size: 1 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Deletes every service of the workspace, stopping its processes (tests' clean-up). */
export async function deleteAllServices(ws: Workspace): Promise<void> {
  for (const s of await ws.listServices()) await ws.delete([{ kind: 'service', id: s.name }]);
}
