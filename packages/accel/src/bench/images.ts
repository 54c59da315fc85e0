import { existsSync } from 'node:fs';
import { readFile, readdir, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { AccelError } from '../errors';

import { SAMPLE_PHOTO } from '../assets';

export { SAMPLE_PHOTO };

const EXTENSIONS = new Set(['.jpg', '.jpeg', '.png']);
const usage = (reason: string) => new AccelError('ACCEL_ERR_USAGE', { reason });

export interface ImageSet {
  images: Buffer[];
  /** Where they came from, for the report. */
  source: string;
}

function isImage(b: Uint8Array): boolean {
  const jpeg = b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;
  const png = b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47;
  return jpeg || png;
}

async function readImage(path: string): Promise<Buffer> {
  const bytes = await readFile(path);
  if (!isImage(bytes)) throw usage(`--images: ${path} is not a JPEG or PNG file`);
  return bytes;
}

/**
 * `--images`: every .jpg/.jpeg/.png file of a folder (sorted by name), or one file. None given:
 * the sample photo, or a generated JPEG when the sample is absent.
 */
export async function loadImages(spec?: string): Promise<ImageSet> {
  if (spec === undefined) {
    if (existsSync(SAMPLE_PHOTO)) return { images: [await readImage(SAMPLE_PHOTO)], source: SAMPLE_PHOTO };
    return { images: [await generatedJpeg()], source: 'generated 640x480 JPEG' };
  }
  const info = await stat(spec).catch(() => {
    throw usage(`--images: ${spec} does not exist`);
  });
  if (!info.isDirectory()) return { images: [await readImage(spec)], source: spec };
  const names = (await readdir(spec)).filter((n) => EXTENSIONS.has(extname(n).toLowerCase())).sort();
  if (names.length === 0) throw usage(`--images: ${spec} holds no .jpg, .jpeg or .png file`);
  return { images: await Promise.all(names.map((n) => readImage(join(spec, n)))), source: `${spec} (${names.length} files)` };
}

/** A textured 640x480 JPEG, so that decoding costs about what a photo costs. */
export async function generatedJpeg(width = 640, height = 480): Promise<Buffer> {
  const { default: sharp } = await import('sharp');
  const raw = Buffer.alloc(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    raw[i * 3] = (i * 7) % 251;
    raw[i * 3 + 1] = (i * 13) % 241;
    raw[i * 3 + 2] = (i >> 5) % 239;
  }
  return sharp(raw, { raw: { width, height, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
}
