import { GraphBuilder, f, seededRandom } from '../onnx/builder';

/** Bottleneck blocks per stage for the ResNet depths the zoo offers. */
export const RESNET_STAGES = { 50: [3, 4, 6, 3], 101: [3, 4, 23, 3], 152: [3, 8, 36, 3] } as const;
export type ResnetDepth = keyof typeof RESNET_STAGES;

export interface BuiltModel {
  bytes: Uint8Array;
  inputName: string;
  outputName: string;
  parameters: number;
}

/** He-normal weights from a seeded generator; `gain` < 1 keeps residual sums from growing. */
function heNormal(rand: () => number, count: number, fanIn: number, gain = 1): Float32Array {
  const std = gain * Math.sqrt(2 / fanIn);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - rand()));
    const t = 2 * Math.PI * rand();
    out[i] = r * Math.cos(t) * std;
    if (i + 1 < count) out[i + 1] = r * Math.sin(t) * std;
  }
  return out;
}

/**
 * ResNet v1 (bottleneck, stride on the 3x3 conv) as an inference graph with batch norm folded
 * into conv biases, NCHW 224x224 input, 1000-way softmax. Weights are seeded random: the
 * model is for speed measurements only, and its name says so.
 */
export function buildRandomResnet(depth: ResnetDepth, seed = 1): BuiltModel {
  const rand = seededRandom(seed);
  const g = new GraphBuilder(`resnet${depth}-random`);
  const inputName = g.input('input', 'float32', ['N', 3, 224, 224]);
  const conv = (x: string, cin: number, cout: number, k: number, stride: number, scope: string, relu: boolean, gain = 1) => {
    const w = g.initializer(`${scope}/weights`, [cout, cin, k, k], heNormal(rand, cout * cin * k * k, cin * k * k, gain));
    const b = g.initializer(`${scope}/biases`, [cout], new Float32Array(cout));
    const pad = Math.floor(k / 2);
    const y = g.node('Conv', [x, w, b], { name: scope, attrs: { kernel_shape: [k, k], strides: [stride, stride], pads: [pad, pad, pad, pad] } });
    return relu ? g.node('Relu', [y], { name: `${scope}/Relu` }) : y;
  };
  const prefix = `resnet_v1_${depth}`;
  let x = conv(inputName, 3, 64, 7, 2, `${prefix}/conv1`, true);
  x = g.node('MaxPool', [x], { name: `${prefix}/pool1`, attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] } });
  let cin = 64;
  RESNET_STAGES[depth].forEach((blocks, stage) => {
    const width = 64 << stage;
    for (let i = 0; i < blocks; i++) {
      const scope = `${prefix}/block${stage + 1}/unit_${i + 1}`;
      const stride = i === 0 && stage > 0 ? 2 : 1;
      const shortcut = i === 0 ? conv(x, cin, width * 4, 1, stride, `${scope}/shortcut`, false) : x;
      let y = conv(x, cin, width, 1, 1, `${scope}/conv1`, true);
      y = conv(y, width, width, 3, stride, `${scope}/conv2`, true);
      y = conv(y, width, width * 4, 1, 1, `${scope}/conv3`, false, 0.2);
      x = g.node('Relu', [g.node('Add', [shortcut, y], { name: `${scope}/add` })], { name: `${scope}/out` });
      cin = width * 4;
    }
  });
  const pooled = g.node('GlobalAveragePool', [x], { name: `${prefix}/pool5` });
  const flat = g.node('Flatten', [pooled], { name: `${prefix}/flatten`, attrs: { axis: 1 } });
  const fcW = g.initializer(`${prefix}/logits/weights`, [cin, 1000], heNormal(rand, cin * 1000, cin, 0.5));
  const fcB = g.initializer(`${prefix}/logits/biases`, [1000], new Float32Array(1000));
  const logits = g.node('Gemm', [flat, fcW, fcB], { name: `${prefix}/logits`, attrs: { alpha: f(1), beta: f(1) } });
  const outputName = `classifier/${prefix}/predictions/Softmax:0`;
  g.output(g.node('Softmax', [logits], { name: outputName, attrs: { axis: 1 } }), 'float32', ['N', 1000]);
  return { bytes: g.toBytes({ docString: `ResNet-${depth} v1, random weights (speed tests only)` }), inputName, outputName, parameters: g.parameterCount() };
}
