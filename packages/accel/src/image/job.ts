import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JobContext } from '../workspace/jobs';
import { parseModelRef } from '../workspace/names';
import type { Workspace } from '../workspace/workspace';
import { buildImage } from './build';

export interface ImageJobInputs {
  name: string;
  version: number;
}

/**
 * The `image-build` job: fetches the image's models from the workspace and builds the OCI image
 * layout in the workspace folder (runtime, app and model layers). The image record goes from
 * Building to Succeeded (digest, size) or Failed; the job log is the build log.
 */
export async function runImageBuildJob(ctx: JobContext, ws: Workspace): Promise<Record<string, unknown>> {
  const { name, version } = ctx.inputs as unknown as ImageJobInputs;
  const image = await ws.getImage(name, version);
  const work = await mkdtemp(join(tmpdir(), 'accel-image-'));
  try {
    const models = [];
    let created = 0;
    for (const id of image.models) {
      const ref = parseModelRef(id);
      const m = await ws.getModel(ref.name, ref.version);
      created = Math.max(created, Date.parse(m.createdAt));
      const path = await ws.downloadModel(m.name, m.version, join(work, m.name, String(m.version)));
      await ctx.log(`model ${m.id}: ${m.fileName} (${(m.size / 1e6).toFixed(1)} MB, ${m.digest.slice(0, 19)})`);
      models.push({ name: m.name, version: m.version, path });
    }
    const t0 = performance.now();
    const built = await buildImage({
      name,
      version,
      models,
      outDir: ws.imageDir(image),
      created: new Date(created),
      labels: Object.fromEntries(Object.entries(image.tags).map(([k, v]) => [`ai.accel.tag.${k}`, v])),
      onProgress: (layer: string, done: number, total: number) => void ctx.progress(`layer ${layer}`, Math.round(done / 1e6), Math.round(total / 1e6), 'MB'),
    });
    const seconds = (performance.now() - t0) / 1000;
    await ctx.log(`built ${image.id}: ${built.digest}, ${(built.size / 1e6).toFixed(1)} MB in ${seconds.toFixed(1)} s`);
    await ws.updateImage(name, version, { state: 'Succeeded', digest: built.digest, size: built.size });
    return { image: image.id, digest: built.digest, size: built.size, seconds };
  } catch (err) {
    await ws.updateImage(name, version, { state: 'Failed', error: (err as Error).message });
    throw err;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
