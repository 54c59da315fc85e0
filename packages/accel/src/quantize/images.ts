import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { AccelError } from '../errors';
import { decodeImageInto } from '../preprocess/image';
import { inferPreprocessSpec, mergePreprocessSpec, type PreprocessSpec } from '../preprocess/spec';

/** Calibration (or evaluation) images, decoded and normalized for one model input. */
export interface LoadedImages {
  /** Paths of the files read, sorted. */
  files: string[];
  /** One array of `3 * width * height` floats per file, in the spec's layout. */
  images: Float32Array[];
  /** Dims of one image without the batch axis: [H, W, 3] (NHWC) or [3, H, W] (NCHW). */
  itemDims: number[];
}

/** Dims of one preprocessed image, without the batch axis. */
export function itemDimsOf(spec: PreprocessSpec): number[] {
  return spec.layout === 'NHWC' ? [spec.height, spec.width, 3] : [3, spec.height, spec.width];
}

/**
 * The files of an image folder, sorted, as paths; dot files and subfolders are skipped.
 * Throws ACCEL_ERR_QUANTIZE_NO_IMAGES when the folder is missing, is not a folder or holds no file.
 */
export async function listImageFiles(dir: string): Promise<string[]> {
  const noImages = (reason: string) => new AccelError('ACCEL_ERR_QUANTIZE_NO_IMAGES', { dir, reason });
  const info = await stat(dir).catch((err: NodeJS.ErrnoException) => {
    throw noImages(err.code === 'ENOENT' ? 'the folder does not exist' : `cannot read it (${err.code ?? err.message})`);
  });
  if (!info.isDirectory()) throw noImages('it is a file, not a folder');
  const entries = (await readdir(dir)).sort();
  const files: string[] = [];
  for (const name of entries) {
    if (name.startsWith('.')) continue;
    const path = join(dir, name);
    if ((await stat(path)).isFile()) files.push(path);
  }
  if (!files.length) throw noImages(`it holds no files (${entries.length} entries seen, all dot files or subfolders)`);
  return files;
}

/**
 * Reads every file of `dir` (sorted; dot files and subfolders skipped) and decodes each into
 * its own float array as the server would preprocess it. Throws ACCEL_ERR_QUANTIZE_NO_IMAGES
 * for an empty or missing folder and ACCEL_ERR_QUANTIZE_BAD_IMAGE naming a file that does not decode.
 *
 * @example
 * const { images, itemDims } = await loadCalibrationImages('/data/calib', spec, { limit: 200 });
 */
export async function loadCalibrationImages(
  dir: string,
  spec: PreprocessSpec,
  opts: { limit?: number; signal?: AbortSignal; progress?: (done: number, total: number) => void } = {},
): Promise<LoadedImages> {
  const files = (await listImageFiles(dir)).slice(0, opts.limit);
  const images: Float32Array[] = [];
  for (const [index, file] of files.entries()) {
    opts.signal?.throwIfAborted();
    const image = new Float32Array(3 * spec.width * spec.height);
    try {
      await decodeImageInto(await readFile(file), spec, image, 0, { input: 'calibration', index });
    } catch (err) {
      const reason = err instanceof AccelError ? String(err.params.reason) : (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new AccelError('ACCEL_ERR_QUANTIZE_BAD_IMAGE', { file, reason }, { cause: err });
    }
    images.push(image);
    opts.progress?.(index + 1, files.length);
  }
  return { files, images, itemDims: itemDimsOf(spec) };
}

/**
 * The one image input of an ONNX model and its preprocessing: the sidecar's `preprocess` over
 * the spec inferred from the input shape. Throws ACCEL_ERR_QUANTIZE_NOT_IMAGE_MODEL when the
 * model does not have exactly one float32 NCHW/NHWC 3-channel input with a dynamic batch or batch 1.
 */
export async function modelImageInput(model: Uint8Array, modelId: string, preprocess?: unknown): Promise<{ input: string; spec: PreprocessSpec }> {
  const notImage = (reason: string) => new AccelError('ACCEL_ERR_QUANTIZE_NOT_IMAGE_MODEL', { model: modelId, reason });
  const session = await ort.InferenceSession.create(model);
  let meta: ort.InferenceSession.ValueMetadata[];
  try {
    meta = [...session.inputMetadata];
  } finally {
    await session.release();
  }
  if (meta.length !== 1) throw notImage(`it has ${meta.length} inputs (${meta.map((m) => m.name).join(', ')})`);
  const m = meta[0];
  const shape = m.isTensor ? m.shape : [];
  const inferred = m.isTensor ? inferPreprocessSpec(m.type, shape) : undefined;
  if (!m.isTensor || !inferred) {
    throw notImage(`input "${m.name}" is ${m.isTensor ? `${m.type} [${shape.join(', ')}]` : 'not a tensor'}, not an image batch`);
  }
  if (typeof shape[0] === 'number' && shape[0] > 1) throw notImage(`input "${m.name}" has a fixed batch of ${shape[0]}; export it with a dynamic batch or batch 1`);
  if (preprocess !== undefined && (typeof preprocess !== 'object' || preprocess === null || Array.isArray(preprocess))) {
    throw notImage(`"preprocess" in model.accel.json must be an object, got ${JSON.stringify(preprocess)}`);
  }
  return { input: m.name, spec: preprocess ? mergePreprocessSpec(inferred, preprocess as Record<string, unknown>) : inferred };
}
