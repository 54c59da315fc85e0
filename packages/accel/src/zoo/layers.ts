import { f } from '../onnx/builder';
import type { Init, Params } from './params';

/** Small layer helpers over a Params; parameter names follow torchvision's state_dict names. */

export interface ConvOptions {
  cin: number;
  cout: number;
  k: number;
  stride?: number;
  pad?: number;
  dilation?: number;
  bias?: boolean;
  init?: Init;
}

export function conv2d(p: Params, x: string, name: string, o: ConvOptions): string {
  const w = p.param(`${name}.weight`, [o.cout, o.cin, o.k, o.k], o.init ?? 'he');
  const inputs = [x, w];
  if (o.bias) inputs.push(p.param(`${name}.bias`, [o.cout], 'zeros'));
  const pad = o.pad ?? Math.floor(((o.dilation ?? 1) * (o.k - 1)) / 2);
  const stride = o.stride ?? 1;
  const dilation = o.dilation ?? 1;
  return p.g.node('Conv', inputs, {
    name,
    attrs: { kernel_shape: [o.k, o.k], strides: [stride, stride], pads: [pad, pad, pad, pad], dilations: [dilation, dilation] },
  });
}

/** BatchNorm in inference form (ONNX Runtime folds it into the preceding conv at load). */
export function batchNorm(p: Params, x: string, name: string, channels: number, gamma: Init = 'ones'): string {
  const scale = p.param(`${name}.weight`, [channels], gamma);
  const bias = p.param(`${name}.bias`, [channels], 'zeros');
  const mean = p.buffer(`${name}.running_mean`, [channels], 'zeros');
  const variance = p.buffer(`${name}.running_var`, [channels], 'ones');
  return p.g.node('BatchNormalization', [x, scale, bias, mean, variance], { name, attrs: { epsilon: f(1e-5) } });
}

export const relu = (p: Params, x: string, name: string): string => p.g.node('Relu', [x], { name });

export function maxPool(p: Params, x: string, name: string, k: number, stride: number, pad = 0, ceil = false): string {
  return p.g.node('MaxPool', [x], { name, attrs: { kernel_shape: [k, k], strides: [stride, stride], pads: [pad, pad, pad, pad], ceil_mode: ceil ? 1 : 0 } });
}

export function avgPool(p: Params, x: string, name: string, k: number, stride: number): string {
  return p.g.node('AveragePool', [x], { name, attrs: { kernel_shape: [k, k], strides: [stride, stride] } });
}

/** Global average pool to [N, C]. */
export function globalPool(p: Params, x: string, name: string): string {
  const pooled = p.g.node('GlobalAveragePool', [x], { name: `${name}/pool` });
  return p.g.node('Flatten', [pooled], { name, attrs: { axis: 1 } });
}

export function flatten(p: Params, x: string, name: string): string {
  return p.g.node('Flatten', [x], { name, attrs: { axis: 1 } });
}

/** Fully connected layer, torchvision layout: weight [out, in]. */
export function linear(p: Params, x: string, name: string, cin: number, cout: number, init: Init = 'small'): string {
  const w = p.param(`${name}.weight`, [cout, cin], init);
  const b = p.param(`${name}.bias`, [cout], 'zeros');
  return p.g.node('Gemm', [x, w, b], { name, attrs: { alpha: f(1), beta: f(1), transB: 1 } });
}

/** Concatenation of feature maps along `axis` (channels by default). */
export function concat(p: Params, xs: readonly string[], name: string, axis = 1): string {
  // A copy: the graph keeps the input list by reference, and callers often grow theirs afterwards.
  return p.g.node('Concat', [...xs], { name, attrs: { axis } });
}
