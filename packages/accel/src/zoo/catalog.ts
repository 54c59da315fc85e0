import { AccelError } from '../errors';
import { densenet121 } from './densenet';
import { resnet } from './resnet';
import { ssdVgg } from './ssd';
import type { Architecture } from './types';
import { vgg16 } from './vgg';

/** The zoo: every architecture by catalogue name. One list; `zoo list`, builds and docs read it. */
export const ARCHITECTURES: readonly Architecture[] = [resnet(50), resnet(152), densenet121(), vgg16(), ssdVgg()];

export function architecture(name: string): Architecture {
  const a = ARCHITECTURES.find((x) => x.name === name);
  if (!a) throw new AccelError('ACCEL_ERR_USAGE', { reason: `no model "${name}" in the zoo (models: ${ARCHITECTURES.map((x) => x.name).join(', ')})` });
  return a;
}
