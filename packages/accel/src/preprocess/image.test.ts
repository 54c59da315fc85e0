import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { BufferPool, decodeImageInto } from './image';
import { IMAGENET_PREPROCESS, inferPreprocessSpec, mergePreprocessSpec, type PreprocessSpec } from './spec';

const raw: PreprocessSpec = { ...IMAGENET_PREPROCESS, width: 4, height: 4, layout: 'NCHW', scale: 1, mean: [0, 0, 0], std: [1, 1, 1] };

describe('inferPreprocessSpec', () => {
  it('reads NCHW and NHWC float inputs and defaults symbolic sizes to 224', () => {
    expect(inferPreprocessSpec('float32', ['N', 3, 299, 299])).toMatchObject({ layout: 'NCHW', height: 299, width: 299, channelOrder: 'RGB' });
    expect(inferPreprocessSpec('float32', [1, 160, 128, 3])).toMatchObject({ layout: 'NHWC', height: 160, width: 128 });
    expect(inferPreprocessSpec('float32', ['N', 3, 'H', 'W'])).toMatchObject({ height: 224, width: 224 });
  });
  it('leaves non-image inputs alone', () => {
    expect(inferPreprocessSpec('float32', ['N', 2])).toBeUndefined();
    expect(inferPreprocessSpec('int32', [1, 3, 224, 224])).toBeUndefined();
  });
});

describe('mergePreprocessSpec', () => {
  it('applies overrides and checks each one', () => {
    const s = mergePreprocessSpec(raw, { channelOrder: 'bgr', mean: [1, 2, 3], std: 2, resize: 'stretch' });
    expect(s).toMatchObject({ channelOrder: 'BGR', mean: [1, 2, 3], std: [2, 2, 2], resize: 'stretch' });
    expect(() => mergePreprocessSpec(raw, { std: [1, 0, 1] })).toThrow(/"std" must not contain 0/);
    expect(() => mergePreprocessSpec(raw, { mean: [1, 2] })).toThrow(/"mean" must be a number or a list of 3 numbers/);
    expect(() => mergePreprocessSpec(raw, { cropFraction: 1.5 })).toThrow(/"cropFraction" must be in \(0, 1\]/);
    expect(() => mergePreprocessSpec(raw, { colour: 'red' })).toThrow(/unknown key "colour"/);
  });
});

describe('decodeImageInto', () => {
  it('lays out channels per layout and order', async () => {
    const png = await sharp({ create: { width: 9, height: 7, channels: 3, background: { r: 10, g: 20, b: 30 } } }).png().toBuffer();
    const nchw = new Float32Array(48);
    await decodeImageInto(png, raw, nchw, 0, { input: 'x', index: 0 });
    expect([nchw[0], nchw[16], nchw[32]]).toEqual([10, 20, 30]);
    const nhwcBgr = new Float32Array(48 + 48);
    await decodeImageInto(png, { ...raw, layout: 'NHWC', channelOrder: 'BGR' }, nhwcBgr, 48, { input: 'x', index: 1 });
    expect(Array.from(nhwcBgr.subarray(48, 54))).toEqual([30, 20, 10, 30, 20, 10]);
    expect(nhwcBgr[0]).toBe(0);
  });

  it('normalizes with scale, mean and std', async () => {
    const png = await sharp({ create: { width: 5, height: 5, channels: 3, background: { r: 255, g: 0, b: 51 } } }).png().toBuffer();
    const out = new Float32Array(48);
    await decodeImageInto(png, { ...raw, scale: 1 / 255, mean: [0.5, 0.5, 0.5], std: [0.5, 0.25, 0.1] }, out, 0, { input: 'x', index: 0 });
    expect(out[0]).toBeCloseTo(1, 6);
    expect(out[16]).toBeCloseTo(-2, 6);
    expect(out[32]).toBeCloseTo(-3, 5);
  });

  it('turns greyscale and RGBA images into three channels', async () => {
    const grey = await sharp({ create: { width: 6, height: 6, channels: 3, background: { r: 90, g: 90, b: 90 } } }).toColourspace('b-w').png().toBuffer();
    expect((await sharp(grey).metadata()).channels).toBe(1);
    const out = new Float32Array(48);
    await decodeImageInto(grey, raw, out, 0, { input: 'x', index: 0 });
    expect([out[0], out[16], out[32]]).toEqual([90, 90, 90]);
    const rgba = await sharp({ create: { width: 6, height: 6, channels: 4, background: { r: 1, g: 2, b: 3, alpha: 1 } } }).png().toBuffer();
    await decodeImageInto(rgba, raw, out, 0, { input: 'x', index: 0 });
    expect([out[0], out[16], out[32]]).toEqual([1, 2, 3]);
  });

  it('reads 16-bit PNGs and CMYK JPEGs as 8-bit RGB', async () => {
    const solid = () => sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 200, g: 100, b: 50 } } });
    const png16 = await solid().toColourspace('rgb16').png().toBuffer();
    expect((await sharp(png16).metadata()).depth).toBe('ushort');
    const out = new Float32Array(48);
    await decodeImageInto(png16, raw, out, 0, { input: 'x', index: 0 });
    [200, 100, 50].forEach((v, c) => expect(Math.abs(out[c * 16] - v)).toBeLessThanOrEqual(1));
    const cmyk = await solid().toColourspace('cmyk').jpeg({ quality: 100 }).toBuffer();
    expect((await sharp(cmyk).metadata()).space).toBe('cmyk');
    await decodeImageInto(cmyk, raw, out, 0, { input: 'x', index: 0 });
    [200, 100, 50].forEach((v, c) => expect(Math.abs(out[c * 16] - v)).toBeLessThan(25)); // ICC round trip, not exact
  });

  it('refuses images that declare more pixels than allowed', async () => {
    const big = await sharp({ create: { width: 400, height: 300, channels: 3, background: { r: 0, g: 0, b: 0 } } }).jpeg().toBuffer();
    const out = new Float32Array(48);
    await expect(decodeImageInto(big, raw, out, 0, { input: 'images', index: 2, maxPixels: 1000 })).rejects.toMatchObject({
      code: 'ACCEL_ERR_BAD_IMAGE',
      message: expect.stringMatching(/Input "images" item 2 .*pixel limit/),
    });
  });

  it('centre-crops: the border of the image does not reach the crop', async () => {
    // 100x100 black with a white border 5 px wide: crop 0.875 of a 32 px target covers the centre 87.5%.
    const size = 100;
    const px = Buffer.alloc(size * size * 3, 0);
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++) if (x < 5 || y < 5 || x >= 95 || y >= 95) px.fill(255, (y * size + x) * 3, (y * size + x) * 3 + 3);
    const png = await sharp(px, { raw: { width: size, height: size, channels: 3 } }).png().toBuffer();
    const spec = { ...raw, width: 32, height: 32 };
    const out = new Float32Array(3 * 32 * 32);
    await decodeImageInto(png, spec, out, 0, { input: 'x', index: 0 });
    expect(Math.max(...out)).toBeLessThan(40);
    await decodeImageInto(png, { ...spec, resize: 'stretch' }, out, 0, { input: 'x', index: 0 });
    expect(Math.max(...out)).toBeGreaterThan(200);
  });
});

describe('BufferPool', () => {
  it('reuses released buffers per batch size', () => {
    const pool = new BufferPool(12);
    const a = pool.acquire(2);
    expect(a.length).toBe(24);
    pool.release(a);
    expect(pool.acquire(2)).toBe(a);
    expect(pool.acquire(2)).not.toBe(a);
  });
});
