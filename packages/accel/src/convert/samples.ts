import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { seededRandom } from '../onnx/builder';
import { tensor, type Dim, type Tensor, type TypeInfo } from '../onnx/graph';

const DEFAULT_SPATIAL = 224;

function concreteShape(shape: Dim[] | null): number[] {
  if (!shape) return [1, DEFAULT_SPATIAL, DEFAULT_SPATIAL, 3];
  return shape.map((d, k) => (typeof d === 'number' && d > 0 ? d : k === 0 ? 1 : DEFAULT_SPATIAL));
}

/** Where channels sit in a rank-4 image input, if it looks like one (1 or 3 channels). */
function imageLayout(dims: number[]): { h: number; w: number; c: number; channelsFirst: boolean } | undefined {
  if (dims.length !== 4) return undefined;
  if (dims[3] === 3 || dims[3] === 1) return { h: dims[1]!, w: dims[2]!, c: dims[3]!, channelsFirst: false };
  if (dims[1] === 3 || dims[1] === 1) return { h: dims[2]!, w: dims[3]!, c: dims[1]!, channelsFirst: true };
  return undefined;
}

async function photoPixels(file: string, h: number, w: number, c: number, flip: boolean): Promise<Uint8Array> {
  let img = sharp(readFileSync(file)).resize(w, h, { fit: 'cover' });
  if (flip) img = img.flop();
  if (c === 1) img = img.greyscale();
  const { data, info } = await img.removeAlpha().raw().toBuffer({ resolveWithObject: true });
  if (info.channels === c) return new Uint8Array(data);
  const out = new Uint8Array(h * w * c);
  for (let p = 0; p < h * w; p++) for (let k = 0; k < c; k++) out[p * c + k] = data[p * info.channels + Math.min(k, info.channels - 1)]!;
  return out;
}

/**
 * Test inputs for checking a conversion: for image-like inputs, real photos (and their mirror
 * images) scaled to 0..1 floats or 0..255 integers; otherwise seeded noise. Dynamic
 * dimensions become 1 (batch) and 224 (others).
 */
export async function sampleFeeds(inputs: { name: string; type: TypeInfo }[], count: number, photos: string[]): Promise<Record<string, Tensor>[]> {
  const feeds: Record<string, Tensor>[] = [];
  const next = seededRandom(7);
  for (let s = 0; s < count; s++) {
    const feed: Record<string, Tensor> = {};
    for (const input of inputs) {
      const dims = concreteShape(input.type.shape);
      const n = dims.reduce((a, b) => a * b, 1);
      const integer = input.type.dtype.startsWith('int') || input.type.dtype.startsWith('uint');
      const layout = imageLayout(dims);
      const photo = photos.length ? photos[Math.floor(s / 2) % photos.length] : undefined;
      let values: ArrayLike<number>;
      if (layout && photo && s < photos.length * 2) {
        const px = await photoPixels(photo, layout.h, layout.w, layout.c, s % 2 === 1);
        const batch = dims[0]!;
        const out = new Float32Array(n);
        const per = layout.h * layout.w * layout.c;
        for (let b = 0; b < batch; b++) {
          for (let p = 0; p < layout.h * layout.w; p++) {
            for (let k = 0; k < layout.c; k++) {
              const v = px[p * layout.c + k]!;
              const at = layout.channelsFirst ? k * layout.h * layout.w + p : p * layout.c + k;
              out[b * per + at] = integer ? v : v / 255;
            }
          }
        }
        values = out;
      } else {
        values = Float32Array.from({ length: n }, () => (integer ? Math.floor(next() * 256) : next()));
      }
      if (input.type.dtype === 'bool') values = Float32Array.from(values, (v) => (v > 0.5 ? 1 : 0));
      feed[input.name] = tensor(input.type.dtype === 'string' ? 'float32' : input.type.dtype, dims, values);
    }
    feeds.push(feed);
  }
  return feeds;
}
