import sharp from 'sharp';
import { SAMPLE_PHOTO } from '../assets';
import { decodeImageInto } from '../preprocess/image';
import { itemDimsOf, loadCalibrationImages } from '../quantize/images';
import { quantizeModel } from '../quantize/quantize';
import type { CalibrationMethod, QuantizeResult } from '../quantize/types';
import { INPUT_NAME, type BuiltZooModel } from './build';
import type { Architecture } from './types';

/** The seed's names for the int8 variants. */
const QUANTIZED_TITLES: Record<string, string> = {
  resnet50: 'QuantizedResnet50',
  resnet152: 'QuantizedResnet152',
  densenet121: 'QuantizedDensenet121',
  vgg16: 'QuantizedVgg16',
  ssd300_vgg16: 'QuantizedSsdVgg',
};

export function quantizedTitle(arch: Architecture): string {
  return QUANTIZED_TITLES[arch.name] ?? `Quantized ${arch.title}`;
}

/**
 * The sample photo, mirrored, cropped and recoloured: eight calibration images that need no
 * folder. Enough to set ranges for random-weight speed builds; trained weights deserve real
 * images (`--calibration DIR`).
 */
async function sampleVariants(arch: Architecture): Promise<Float32Array[]> {
  const spec = arch.preprocess;
  const base = sharp(SAMPLE_PHOTO);
  const { width = 500, height = 375 } = await base.metadata();
  const crop = (f: number, dx: number) => ({ left: Math.round((width * (1 - f)) * dx), top: Math.round((height * (1 - f)) / 2), width: Math.round(width * f), height: Math.round(height * f) });
  const variants = await Promise.all([
    sharp(SAMPLE_PHOTO).jpeg().toBuffer(),
    sharp(SAMPLE_PHOTO).flop().jpeg().toBuffer(),
    sharp(SAMPLE_PHOTO).extract(crop(0.6, 0)).jpeg().toBuffer(),
    sharp(SAMPLE_PHOTO).extract(crop(0.6, 1)).jpeg().toBuffer(),
    sharp(SAMPLE_PHOTO).modulate({ brightness: 1.3 }).jpeg().toBuffer(),
    sharp(SAMPLE_PHOTO).modulate({ brightness: 0.7, saturation: 1.5 }).jpeg().toBuffer(),
    sharp(SAMPLE_PHOTO).greyscale().jpeg().toBuffer(),
    sharp(SAMPLE_PHOTO).modulate({ hue: 90 }).jpeg().toBuffer(),
  ]);
  return Promise.all(
    variants.map(async (bytes, index) => {
      const out = new Float32Array(3 * spec.width * spec.height);
      await decodeImageInto(bytes, spec, out, 0, { input: INPUT_NAME, index });
      return out;
    }),
  );
}

/** A built zoo model quantized to int8 (QDQ), calibrated on a folder of images or the sample photo's variants. */
export async function quantizeZooModel(
  arch: Architecture,
  built: BuiltZooModel,
  opts: { calibration?: string; method?: CalibrationMethod; log?: (line: string) => void } = {},
): Promise<{ bytes: Uint8Array; name: string; title: string; result: QuantizeResult; sidecar: Record<string, unknown> }> {
  const images = opts.calibration ? (await loadCalibrationImages(opts.calibration, arch.preprocess)).images : await sampleVariants(arch);
  const result = await quantizeModel(built.bytes, { input: INPUT_NAME, itemDims: itemDimsOf(arch.preprocess), images }, { method: opts.method, log: opts.log });
  const calibration = opts.calibration ?? 'sample photo variants (8)';
  return {
    bytes: result.model,
    name: `quantized-${built.name}`,
    title: quantizedTitle(arch),
    result,
    sidecar: { ...built.sidecar, quantization: { method: result.method, perChannel: result.perChannel, calibration, calibrationImages: images.length, floatNodes: result.float } },
  };
}
