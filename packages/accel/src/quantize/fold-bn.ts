import { tensor, type OnnxGraph } from '../onnx/graph';

/**
 * Folds each BatchNormalization that directly follows a Conv (its only reader, constant
 * parameters) into that Conv's weights and bias, so the int8 weights carry the BN scale:
 * w' = w * g / sqrt(v + eps) per output channel, b' = (b - m) * g / sqrt(v + eps) + beta.
 * Returns how many were folded; the others stay float nodes.
 */
export function foldBatchNorms(g: OnnxGraph): number {
  const { producer, consumers } = g.index();
  const outputs = new Set(g.outputs.map((o) => o.name));
  const removed = new Set<string>();
  for (const bn of g.nodes) {
    if (bn.op !== 'BatchNormalization' || bn.domain || bn.outputs.filter(Boolean).length !== 1) continue;
    const x = bn.inputs[0]!;
    const conv = producer.get(x);
    if (!conv || conv.op !== 'Conv' || conv.domain || outputs.has(x) || (consumers.get(x) ?? []).length !== 1) continue;
    const [gamma, beta, mean, variance] = bn.inputs.slice(1, 5).map((n) => g.constant(n));
    const w = g.constant(conv.inputs[1]!);
    const b = conv.inputs[2] ? g.constant(conv.inputs[2]) : undefined;
    if (!gamma || !beta || !mean || !variance || !w || w.dtype !== 'float32' || (conv.inputs[2] && !b)) continue;
    const eps = bn.attrs.epsilon && 'f' in bn.attrs.epsilon ? bn.attrs.epsilon.f : 1e-5;
    const channels = w.dims[0]!;
    const k = Float64Array.from({ length: channels }, (_, c) => (gamma.data as Float32Array)[c]! / Math.sqrt((variance.data as Float32Array)[c]! + eps));
    const inner = (w.data as Float32Array).length / channels;
    const folded = (w.data as Float32Array).map((v, i) => v * k[Math.floor(i / inner)]!);
    const bias = Float32Array.from({ length: channels }, (_, c) => ((b ? (b.data as Float32Array)[c]! : 0) - (mean.data as Float32Array)[c]!) * k[c]! + (beta.data as Float32Array)[c]!);
    conv.inputs[1] = g.addInitializer(`${conv.name}/folded_weight`, tensor('float32', [...w.dims], folded));
    conv.inputs[2] = g.addInitializer(`${conv.name}/folded_bias`, tensor('float32', [channels], bias));
    conv.outputs[0] = bn.outputs[0]!;
    removed.add(bn.name);
  }
  g.nodes = g.nodes.filter((n) => !removed.has(n.name));
  return removed.size;
}
