import sharp from 'sharp';
import { DEFAULT_MAX_IMAGE_PIXELS } from '../defaults';
import { AccelError } from '../errors';
import type { PreprocessSpec } from './spec';

// Decoded images are used once: libvips' operation cache only costs memory and time here.
sharp.cache(false);

export { DEFAULT_MAX_IMAGE_PIXELS };

/**
 * Decodes JPEG/PNG bytes with sharp and writes the normalized image into `target` at `offset`
 * (one image, `3 * width * height` floats, laid out per the spec). Throws ACCEL_ERR_BAD_IMAGE.
 */
export async function decodeImageInto(
  bytes: Uint8Array,
  spec: PreprocessSpec,
  target: Float32Array,
  offset: number,
  where: { input: string; index: number; maxPixels?: number },
): Promise<void> {
  let pixels: Buffer;
  let channels: number;
  const maxPixels = where.maxPixels ?? DEFAULT_MAX_IMAGE_PIXELS;
  try {
    const limits = { limitInputPixels: maxPixels, failOn: 'error' as const };
    let out = await resized(sharp(bytes, limits), spec).raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    // Grey images stay one channel (expanded while normalizing, cheaper than a colourspace pass);
    // anything else that is not RGB (CMYK JPEGs) goes through an sRGB conversion.
    if (out.info.channels !== 1 && out.info.channels !== 3) {
      out = await resized(sharp(bytes, limits), spec).toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    }
    if ((out.info.channels !== 1 && out.info.channels !== 3) || out.info.width !== spec.width || out.info.height !== spec.height) {
      throw new Error(`decoder produced ${out.info.width}x${out.info.height}x${out.info.channels}`);
    }
    pixels = out.data;
    channels = out.info.channels;
  } catch (err) {
    let reason = (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').trim();
    // libvips reads the size from the header: nothing was decoded (a decompression bomb costs nothing).
    if (/exceeds pixel limit/i.test(reason)) reason = `its header declares more pixels than the pixel limit of ${maxPixels} (--max-image-pixels); nothing was decoded`;
    throw new AccelError('ACCEL_ERR_BAD_IMAGE', { input: where.input, index: where.index, reason }, { cause: err });
  }
  normalizeInto(pixels, channels, spec, target, offset);
}

/** Resize (centre crop or stretch) to the spec's size, alpha dropped. */
function resized(img: sharp.Sharp, spec: PreprocessSpec): sharp.Sharp {
  if (spec.resize === 'crop') {
    const coverW = Math.round(spec.width / spec.cropFraction);
    const coverH = Math.round(spec.height / spec.cropFraction);
    img = img.resize(coverW, coverH, { fit: 'cover', kernel: 'linear' });
    if (coverW !== spec.width || coverH !== spec.height) {
      img = img.extract({
        left: Math.floor((coverW - spec.width) / 2),
        top: Math.floor((coverH - spec.height) / 2),
        width: spec.width,
        height: spec.height,
      });
    }
  } else {
    img = img.resize(spec.width, spec.height, { fit: 'fill', kernel: 'linear' });
  }
  return img.removeAlpha();
}

/** HWC uint8 pixels (RGB, or one grey channel) -> normalized floats in the spec's layout and channel order. */
export function normalizeInto(pixels: Uint8Array, channels: number, spec: PreprocessSpec, target: Float32Array, offset: number): void {
  const hw = spec.width * spec.height;
  for (let c = 0; c < 3; c++) {
    const src = channels === 1 ? 0 : spec.channelOrder === 'BGR' ? 2 - c : c;
    const a = spec.scale / spec.std[c];
    const b = -spec.mean[c] / spec.std[c];
    if (spec.layout === 'NCHW') {
      const base = offset + c * hw;
      for (let i = 0; i < hw; i++) target[base + i] = pixels[i * channels + src] * a + b;
    } else {
      for (let i = 0; i < hw; i++) target[offset + i * 3 + c] = pixels[i * channels + src] * a + b;
    }
  }
}

/**
 * Reusable float buffers for decoded batches, one free list per batch size, so the hot path
 * does not allocate a new 600 KB array per image (that shows up as GC pauses in p99).
 */
export class BufferPool {
  private readonly free = new Map<number, Float32Array[]>();

  constructor(
    private readonly itemSize: number,
    private readonly keepPerSize = 4,
  ) {}

  acquire(batch: number): Float32Array {
    return this.free.get(batch)?.pop() ?? new Float32Array(batch * this.itemSize);
  }

  release(buf: Float32Array): void {
    const batch = buf.length / this.itemSize;
    let list = this.free.get(batch);
    if (!list) this.free.set(batch, (list = []));
    if (list.length < this.keepPerSize) list.push(buf);
  }
}
