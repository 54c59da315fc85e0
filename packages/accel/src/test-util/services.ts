import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deployService } from '../deploy/deploy';
import { buildImage } from '../image/build';
import type { ServiceRecord } from '../workspace/types';
import type { Workspace } from '../workspace/workspace';

export interface TestModel {
  name: string;
  onnx: Uint8Array;
  /** Written as `model.accel.json` beside `model.onnx`, as convert does (labels, postprocess...). */
  sidecar?: Record<string, unknown>;
}

/**
 * Registers each model as a folder (`model.onnx` + its sidecar), records an image of them and
 * deploys it as `service` on a new `local` compute target, waiting until Healthy. The image holds
 * only its models layer: the local target serves the model files themselves, and packing the app
 * would read this checkout's sources, which may change under a running test. Stop the service
 * with `stopService(ws, service, { forget: true })`.
 */
export async function deployTestService(ws: Workspace, opts: { service: string; models: TestModel[]; auth?: boolean }): Promise<ServiceRecord> {
  const files = mkdtempSync(join(tmpdir(), 'accel-svc-'));
  try {
    const models = [];
    for (const m of opts.models) {
      const dir = join(files, m.name);
      mkdirSync(dir);
      writeFileSync(join(dir, 'model.onnx'), m.onnx);
      if (m.sidecar) writeFileSync(join(dir, 'model.accel.json'), JSON.stringify(m.sidecar));
      const record = await ws.registerModel(dir, { name: m.name });
      models.push({ id: record.id, name: record.name, version: record.version, path: dir });
    }
    const image = await ws.createImageRecord({ name: `${opts.service}-image`, models: models.map((m) => m.id), tags: {} });
    const built = await buildImage({ name: image.name, version: image.version, models, outDir: ws.imageDir(image), created: new Date(0), modelsOnly: true });
    await ws.updateImage(image.name, image.version, { state: 'Succeeded', digest: built.digest, size: built.size });
    await ws.createCompute({ name: `${opts.service}-box`, type: 'local', accelerators: 1, acceleratorType: 'cpu', properties: {} });
    const { service } = await deployService(ws, { name: opts.service, image: image.id, compute: `${opts.service}-box`, auth: opts.auth }, () => undefined);
    return service;
  } finally {
    rmSync(files, { recursive: true, force: true });
  }
}
