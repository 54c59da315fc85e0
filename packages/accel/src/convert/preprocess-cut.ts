import { toNumbers } from '../onnx/graph';
import type { PreprocessSpec } from '../preprocess/spec';
import { TfAttrs } from './tf/attrs';
import { parseTensorName, type TfGraph, type TfNode } from './tf/graph';

const DECODERS = new Set(['DecodeJpeg', 'DecodePng', 'DecodeImage', 'DecodeAndCropJpeg', 'DecodeBmp']);
const PASS_THROUGH = new Set(['Identity', 'Cast', 'ExpandDims', 'Squeeze', 'Reshape']);
const RESIZERS = new Set(['ResizeBilinear', 'ResizeBicubic', 'ResizeNearestNeighbor', 'ResizeArea']);

export interface CutPreprocessing {
  /** The spec the server applies instead of the removed subgraph. */
  spec: PreprocessSpec;
  /** Shape of the new float input, NHWC with a dynamic batch. */
  shape: (number | string)[];
  /** The ops cut off, from the decoder to the input, for the job log. */
  ops: string[];
}

/**
 * Looks at what feeds a named float input: when it is a JPEG/PNG decoding chain (decode, cast,
 * resize, scale and shift by constants), the chain is cut off and recorded as a preprocessing
 * spec that the server performs natively. Returns undefined when the input is not fed by one.
 */
export function cutPreprocessing(graph: TfGraph, input: string): CutPreprocessing | undefined {
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const chain: TfNode[] = [];
  let node = byName.get(parseTensorName(input).node);
  while (node && !DECODERS.has(node.op)) {
    chain.unshift(node);
    const dataInputs = node.inputs.filter((i) => !graph.consts.has(parseTensorName(i).node));
    if (dataInputs.length !== 1) return undefined;
    node = byName.get(parseTensorName(dataInputs[0]!).node);
  }
  if (!node) return undefined;
  const channels = new TfAttrs(node).int('channels', 3) || 3;
  let width = 0;
  let height = 0;
  // value = pixel * m + a, per channel
  let m = [1, 1, 1];
  let a = [0, 0, 0];
  const constOf = (n: TfNode): number[] | undefined => {
    const c = n.inputs.map((i) => graph.consts.get(parseTensorName(i).node)).find((t) => t !== undefined);
    if (!c) return undefined;
    const v = toNumbers(c);
    return v.length === 1 ? [v[0]!, v[0]!, v[0]!] : v.length === 3 ? v : undefined;
  };
  for (const n of chain) {
    if (PASS_THROUGH.has(n.op)) continue;
    if (RESIZERS.has(n.op)) {
      const size = graph.consts.get(parseTensorName(n.inputs[1] ?? '').node);
      if (!size) return undefined;
      [height, width] = toNumbers(size) as [number, number];
      continue;
    }
    const c = constOf(n);
    if (!c) return undefined;
    const constFirst = graph.consts.has(parseTensorName(n.inputs[0]!).node);
    switch (n.op) {
      case 'Sub':
        if (constFirst) return undefined;
        a = a.map((x, k) => x - c[k]!);
        break;
      case 'Add':
      case 'AddV2':
      case 'BiasAdd':
        a = a.map((x, k) => x + c[k]!);
        break;
      case 'Mul':
        m = m.map((x, k) => x * c[k]!);
        a = a.map((x, k) => x * c[k]!);
        break;
      case 'RealDiv':
      case 'Div':
        if (constFirst) return undefined;
        m = m.map((x, k) => x / c[k]!);
        a = a.map((x, k) => x / c[k]!);
        break;
      default:
        return undefined;
    }
  }
  if (!width || !height) return undefined;
  const triple = (v: number[]) => v.map((x) => Number(x.toPrecision(7))) as [number, number, number];
  return {
    spec: {
      width,
      height,
      layout: 'NHWC',
      channelOrder: 'RGB',
      resize: 'stretch',
      cropFraction: 1,
      scale: 1,
      mean: triple(a.map((x, k) => -x / m[k]!)),
      std: triple(m.map((x) => 1 / x)),
    },
    shape: ['N', height, width, channels],
    ops: [node.op, ...chain.map((n) => n.op)],
  };
}
