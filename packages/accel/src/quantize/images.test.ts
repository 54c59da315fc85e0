import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphBuilder } from '../onnx/builder';
import { decodeImageInto } from '../preprocess/image';
import { IMAGENET_PREPROCESS, type PreprocessSpec } from '../preprocess/spec';
import { randomFloats } from '../test-util/convert';
import { tinyClassifier, twoInputModel } from '../test-util/models';
import { listImageFiles, loadCalibrationImages, modelImageInput } from './images';

let root: string;
const spec: PreprocessSpec = { ...IMAGENET_PREPROCESS, width: 6, height: 5, layout: 'NCHW' };

/** Noisy pixels so that every value of the decoded image matters. */
function noise(width: number, height: number, seed: number): sharp.Sharp {
  const pixels = Buffer.from(randomFloats(width * height * 3, seed).map((v) => Math.round((v + 1) * 127.5)));
  return sharp(pixels, { raw: { width, height, channels: 3 } });
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'accel-quantize-images-'));
  mkdirSync(join(root, 'calib', 'nested'), { recursive: true });
  writeFileSync(join(root, 'calib', 'b.png'), await noise(9, 7, 1).png().toBuffer());
  writeFileSync(join(root, 'calib', 'a.jpg'), await noise(12, 10, 2).jpeg().toBuffer());
  writeFileSync(join(root, 'calib', 'c.png'), await noise(6, 5, 3).png().toBuffer());
  writeFileSync(join(root, 'calib', '.DS_Store'), 'not an image');
  writeFileSync(join(root, 'calib', 'nested', 'd.png'), await noise(6, 5, 4).png().toBuffer());
  mkdirSync(join(root, 'empty', '.cache'), { recursive: true });
  mkdirSync(join(root, 'bad'));
  writeFileSync(join(root, 'bad', 'a.png'), await noise(6, 5, 5).png().toBuffer());
  writeFileSync(join(root, 'bad', 'x.jpg'), 'this is text, not a JPEG');
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('loadCalibrationImages', () => {
  it('decodes every file of the folder in sorted order, skipping dot files and subfolders, as the server would', async () => {
    const seen: number[] = [];
    const dir = join(root, 'calib');
    const loaded = await loadCalibrationImages(dir, spec, { progress: (done, total) => seen.push(done / total) });
    expect(loaded.files).toEqual(['a.jpg', 'b.png', 'c.png'].map((f) => join(dir, f)));
    expect(loaded.itemDims).toEqual([3, 5, 6]);
    expect(seen).toEqual([1 / 3, 2 / 3, 1]);
    for (const [i, file] of loaded.files.entries()) {
      const want = new Float32Array(90);
      await decodeImageInto(readFileSync(file), spec, want, 0, { input: 'x', index: i });
      expect(loaded.images[i]).toEqual(want);
    }
    expect(loaded.images[0]).not.toEqual(loaded.images[1]);
  });

  it('lays out NHWC images and stops at the limit', async () => {
    const nhwc = { ...spec, layout: 'NHWC' as const };
    const loaded = await loadCalibrationImages(join(root, 'calib'), nhwc, { limit: 2 });
    expect(loaded.itemDims).toEqual([5, 6, 3]);
    expect(loaded.images).toHaveLength(2);
    const want = new Float32Array(90);
    await decodeImageInto(readFileSync(loaded.files[1]), nhwc, want, 0, { input: 'x', index: 0 });
    expect(loaded.images[1]).toEqual(want);
  });

  it('names the folder and what it saw when there are no images (ACCEL_ERR_QUANTIZE_NO_IMAGES)', async () => {
    await expect(loadCalibrationImages(join(root, 'empty'), spec)).rejects.toMatchObject({
      code: 'ACCEL_ERR_QUANTIZE_NO_IMAGES',
      message: expect.stringContaining(`"${join(root, 'empty')}": it holds no files (1 entries seen`),
    });
    await expect(listImageFiles(join(root, 'missing'))).rejects.toMatchObject({ code: 'ACCEL_ERR_QUANTIZE_NO_IMAGES', message: expect.stringContaining('the folder does not exist') });
    await expect(listImageFiles(join(root, 'calib', 'b.png'))).rejects.toMatchObject({ code: 'ACCEL_ERR_QUANTIZE_NO_IMAGES', message: expect.stringContaining('it is a file, not a folder') });
  });

  it('names the file that does not decode (ACCEL_ERR_QUANTIZE_BAD_IMAGE)', async () => {
    const err = await loadCalibrationImages(join(root, 'bad'), spec).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ACCEL_ERR_QUANTIZE_BAD_IMAGE', httpStatus: 400, params: { file: join(root, 'bad', 'x.jpg') } });
    expect((err as Error).message).toMatch(/^Cannot read ".*x\.jpg" as a JPEG or PNG image: .*unsupported image format/);
  });
});

describe('modelImageInput', () => {
  it('infers the spec from the input shape and applies the sidecar over it', async () => {
    expect(await modelImageInput(tinyClassifier({ size: 8 }), 'tiny:1')).toMatchObject({ input: 'input', spec: { layout: 'NCHW', width: 8, height: 8, scale: 1 / 255 } });
    const nhwc = await modelImageInput(tinyClassifier({ size: 8, layout: 'NHWC' }), 'tiny:2', { scale: 1, mean: 0, std: 1, width: 16, height: 16 });
    expect(nhwc).toMatchObject({ input: 'input', spec: { layout: 'NHWC', width: 16, height: 16, scale: 1, mean: [0, 0, 0] } });
  });

  it('refuses models without one image input (ACCEL_ERR_QUANTIZE_NOT_IMAGE_MODEL)', async () => {
    await expect(modelImageInput(twoInputModel(), 'two:1')).rejects.toMatchObject({
      code: 'ACCEL_ERR_QUANTIZE_NOT_IMAGE_MODEL',
      message: expect.stringContaining('Model "two:1" cannot be calibrated with images: it has 2 inputs (a, b)'),
    });
    const g = new GraphBuilder('vector');
    g.output(g.node('Relu', [g.input('x', 'float32', ['N', 10])], { name: 'y' }), 'float32', ['N', 10]);
    await expect(modelImageInput(g.toBytes(), 'vector:1')).rejects.toThrow(/input "x" is float32 \[N, 10\], not an image batch/);
    const fixed = new GraphBuilder('fixed');
    fixed.output(fixed.node('Relu', [fixed.input('x', 'float32', [4, 3, 8, 8])], { name: 'y' }), 'float32', [4, 3, 8, 8]);
    await expect(modelImageInput(fixed.toBytes(), 'fixed:1')).rejects.toThrow(/fixed batch of 4/);
  });
});
