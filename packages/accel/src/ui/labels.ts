import { pipeline } from 'node:stream/promises';
import { imagenetLabels } from '@accel/client';
import tar from 'tar-stream';
import type { ModelRecord } from '../workspace/types';
import type { Workspace } from '../workspace/workspace';

/** What the dashboard reads from a model's sidecar (`model.accel.json`, written by convert and quantize). */
export interface ModelSidecar {
  /** Class names, index-aligned with the classifier's output (or a detector's class ids). */
  labels?: string[];
}

/** The sidecar's name in a registered model folder, as the server looks for it beside `model.onnx`. */
const SIDECAR = 'model.accel.json';

/**
 * The sidecars of the workspace's models, read once per model version. A version's blob never
 * changes, but a deleted latest version's number can be reused, so entries are checked by digest.
 */
export class SidecarCache {
  readonly #entries = new Map<string, { digest: string; sidecar: Promise<ModelSidecar> }>();

  constructor(private readonly ws: Workspace) {}

  get(model: ModelRecord): Promise<ModelSidecar> {
    const hit = this.#entries.get(model.id);
    if (hit?.digest === model.digest) return hit.sidecar;
    const sidecar = readSidecar(this.ws, model);
    this.#entries.set(model.id, { digest: model.digest, sidecar });
    sidecar.catch(() => this.#entries.delete(model.id)); // a failed read is tried again next time
    return sidecar;
  }
}

/** The sidecar inside a model folder's tar blob; `{}` for a single-file model or a folder without one. */
async function readSidecar(ws: Workspace, model: ModelRecord): Promise<ModelSidecar> {
  if (model.format !== 'folder') return {};
  const extract = tar.extract();
  const source = await ws.blobs.open(model.digest);
  const feeding = pipeline(source, extract);
  feeding.catch(() => {}); // an error here also ends the loop below, which reports it
  let text: string | undefined;
  for await (const entry of extract) {
    const name = entry.header.name.replace(/^\.\//, '');
    if (name === SIDECAR) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      text = Buffer.concat(chunks).toString('utf8');
    } else {
      entry.resume();
    }
    // Folder blobs are packed in byte order of names: past the sidecar's name it cannot follow,
    // so a large model.onnx after it is never read.
    if (text !== undefined || name > SIDECAR) break;
  }
  source.destroy();
  return text === undefined ? {} : (JSON.parse(text) as ModelSidecar);
}

/**
 * Names of a model's classes, index-aligned with its output: the sidecar's labels, else the
 * ImageNet names for 1000 classes (1001: a background class first, as some classifiers have),
 * else none (callers show the index).
 */
export function classLabels(sidecar: ModelSidecar, classes: number): readonly string[] | undefined {
  if (sidecar.labels?.length) return sidecar.labels;
  if (classes === 1000) return imagenetLabels();
  if (classes === 1001) return ['background', ...imagenetLabels()];
  return undefined;
}
