import type { Node, OnnxGraph } from '../onnx/graph';
import type { FloatNode, NodeOutcome } from './types';

/**
 * How an op takes part in QDQ quantization, per op type (the table below):
 * - `weighted`: integer GEMM/conv kernels. Activation input quantized uint8, constant weight
 *   int8 (symmetric, per output channel along `weightAxis`), bias int32; output quantized.
 * - `calibrated`: integer kernels with their own output range (QLinearAdd, QLinearConcat,
 *   QLinearAveragePool, ...). Every float input quantized, constants included.
 * - `passthrough`: data movement that ONNX Runtime runs on uint8 as is (MaxPool, Reshape, ...):
 *   the output shares the input's scale and zero point, so the Q/DQ pair around it drops.
 */
export interface OpRule {
  kind: 'weighted' | 'calibrated' | 'passthrough';
  /** Inputs that carry data (others, such as Reshape's shape, are left alone). Default: all. */
  data?: number[];
  /** For `weighted`: the input index of the weight and its output-channel axis (-1: none). */
  weight?: (n: Node) => { index: number; axis: number } | undefined;
  /** For `weighted`: the bias input, quantized int32 at input scale x weight scale. */
  bias?: number;
}

const attrInt = (n: Node, key: string, dflt: number) => {
  const a = n.attrs[key];
  return a && 'i' in a ? a.i : dflt;
};
const attrFloat = (n: Node, key: string, dflt: number) => {
  const a = n.attrs[key];
  return a && 'f' in a ? a.f : dflt;
};

export const OP_RULES: Record<string, OpRule> = {
  Conv: { kind: 'weighted', data: [0], weight: () => ({ index: 1, axis: 0 }), bias: 2 },
  Gemm: {
    kind: 'weighted',
    data: [0],
    // QGemm takes no transposed A, and a bias only at beta 1.
    weight: (n) => (attrInt(n, 'transA', 0) === 0 && (n.inputs.length < 3 || attrFloat(n, 'beta', 1) === 1) ? { index: 1, axis: attrInt(n, 'transB', 0) ? 0 : 1 } : undefined),
    bias: 2,
  },
  MatMul: { kind: 'weighted', data: [0], weight: () => ({ index: 1, axis: 1 }) },
  Add: { kind: 'calibrated' },
  Mul: { kind: 'calibrated' },
  Concat: { kind: 'calibrated' },
  GlobalAveragePool: { kind: 'calibrated', data: [0] },
  Sigmoid: { kind: 'calibrated', data: [0] },
  LeakyRelu: { kind: 'calibrated', data: [0] },
  MaxPool: { kind: 'passthrough', data: [0] },
  Reshape: { kind: 'passthrough', data: [0] },
  Transpose: { kind: 'passthrough', data: [0] },
  Flatten: { kind: 'passthrough', data: [0] },
  Squeeze: { kind: 'passthrough', data: [0] },
  Unsqueeze: { kind: 'passthrough', data: [0] },
  Identity: { kind: 'passthrough', data: [0] },
  Resize: { kind: 'passthrough', data: [0] },
};

/** Why ops the quantizer knows are kept in float on purpose. */
const KEPT_FLOAT: Record<string, string> = {
  Softmax: 'Softmax stays float: probabilities need more than 256 levels near 0 and 1',
  // Those with a static input shape became depthwise convolutions (avgpool-as-conv.ts) before planning.
  AveragePool: 'AveragePool with an unknown input shape stays float: ONNX Runtime\'s QLinearAveragePool is several times slower than the float kernel',
};

/** Activations ONNX Runtime drops when the following QuantizeLinear clamps to the same range. */
const FOLDED_ACTIVATIONS = new Set(['Relu', 'Clip']);

export interface QuantPlan {
  /** Quantized nodes by name, with their rule. */
  nodes: Map<string, { node: Node; rule: OpRule; weight?: { index: number; axis: number } }>;
  /** Activation tensors that get a QuantizeLinear/DequantizeLinear pair, with the tensor whose range they use. */
  tensors: Map<string, string>;
  /** Constant float inputs of `calibrated` nodes, quantized to uint8 with their own range. */
  constants: Set<string>;
  /** Relu/Clip nodes whose output is quantized in place of their quantized producer's. */
  folded: Set<string>;
  float: FloatNode[];
}

/**
 * Decides what gets quantized: every node whose op has a rule and is not excluded, with the
 * tensors around it. Graph outputs stay float (a node producing one is not fused but stays
 * correct). The plan leaves the range of each tensor to calibration.
 */
export function planQuantization(g: OnnxGraph, exclude: ReadonlySet<string>): QuantPlan {
  const { producer, consumers } = g.index();
  const outputs = new Set(g.outputs.map((o) => o.name));
  const isFloat = (t: string) => (g.types.get(t)?.dtype ?? 'float32') === 'float32';
  const plan: QuantPlan = { nodes: new Map(), tensors: new Map(), constants: new Set(), folded: new Set(), float: [] };

  for (const n of g.nodes) {
    const rule = n.domain ? undefined : OP_RULES[n.op];
    if (exclude.has(n.name)) {
      plan.float.push({ name: n.name, op: n.op, reason: 'excluded (--exclude)' });
      continue;
    }
    if (!rule) {
      if (!FOLDED_ACTIVATIONS.has(n.op) && !PLUMBING.has(n.op)) plan.float.push({ name: n.name, op: n.op, reason: KEPT_FLOAT[n.op] ?? `no integer kernel for ${n.domain ? `${n.domain}.` : ''}${n.op} in the quantizer` });
      continue;
    }
    const data = (rule.data ?? n.inputs.map((_, i) => i)).filter((i) => n.inputs[i] && isFloat(n.inputs[i]!));
    if (data.length === 0) continue; // shape arithmetic on integers
    let weight: { index: number; axis: number } | undefined;
    if (rule.kind === 'weighted') {
      weight = rule.weight?.(n);
      const w = weight && g.constant(n.inputs[weight.index]!);
      if (!weight || !w || w.dtype !== 'float32') {
        plan.float.push({ name: n.name, op: n.op, reason: weight ? 'weights are not constant' : 'attributes the integer kernel does not take' });
        continue;
      }
    }
    if (data.some((i) => g.constant(n.inputs[i]!)) && rule.kind !== 'calibrated') continue; // folded by ORT anyway
    plan.nodes.set(n.name, { node: n, rule, ...(weight ? { weight } : {}) });
  }

  // Inputs of quantized nodes: activations get Q/DQ, constants (Add's bias...) are stored quantized.
  for (const { node: n, rule } of plan.nodes.values()) {
    for (const i of rule.data ?? n.inputs.map((_, k) => k)) {
      const t = n.inputs[i];
      if (!t || !isFloat(t)) continue;
      if (g.constant(t)) plan.constants.add(t);
      else plan.tensors.set(t, t);
    }
  }
  // Outputs: a lone Relu/Clip consumer takes the quantization point (ORT folds it away). A Gemm or
  // MatMul that only float nodes read (the logits before a Softmax) keeps a float output: QGemm and
  // MatMulIntegerToFloat write float, and 256 levels of logits would move the probabilities.
  for (const { node: n, rule } of plan.nodes.values()) {
    const y = n.outputs[0]!;
    if (outputs.has(y)) continue;
    const users = consumers.get(y) ?? [];
    const act = users.length === 1 && FOLDED_ACTIVATIONS.has(users[0]!.op) && !exclude.has(users[0]!.name) ? users[0]! : undefined;
    const readers = act ? consumers.get(act.outputs[0]!) ?? [] : users;
    if ((n.op === 'Gemm' || n.op === 'MatMul') && !readers.some((r) => plan.nodes.has(r.name))) continue;
    if (act && !outputs.has(act.outputs[0]!) && !plan.nodes.has(act.name)) {
      plan.tensors.delete(y);
      plan.folded.add(act.name);
      plan.tensors.set(act.outputs[0]!, act.outputs[0]!);
      continue;
    }
    plan.tensors.set(y, y);
  }
  // A Concat of ReLU branches: the inputs read only by it take the Concat's range (zero point 0
  // still, so ORT still drops the ReLUs), and the concatenation is lossless instead of
  // requantizing each branch once more.
  const nonNegative = (t: string): boolean => {
    const p = producer.get(t);
    return !!p && (plan.folded.has(p.name) || (plan.nodes.get(p.name)?.rule.kind === 'passthrough' && nonNegative(p.inputs[0]!)));
  };
  for (const { node: n } of plan.nodes.values()) {
    if (n.op !== 'Concat' || !plan.tensors.has(n.outputs[0]!) || !n.inputs.every(nonNegative)) continue;
    for (const t of n.inputs) if (plan.folded.has(producer.get(t)!.name) && (consumers.get(t) ?? []).length === 1 && !outputs.has(t)) plan.tensors.set(t, n.outputs[0]!);
  }
  // Passthrough outputs reuse their input's range (resolved along chains of them).
  for (const { node: n, rule } of plan.nodes.values()) {
    if (rule.kind !== 'passthrough') continue;
    const y = n.outputs[0]!;
    if (!plan.tensors.has(y)) continue;
    let source = n.inputs[0]!;
    for (let p = producer.get(source); p && plan.nodes.get(p.name)?.rule.kind === 'passthrough'; p = producer.get(source)) source = p.inputs[0]!;
    plan.tensors.set(y, source);
  }
  return plan;
}

/** Ops that only move or relabel data and cost nothing worth reporting when left in float. */
const PLUMBING = new Set(['Shape', 'Gather', 'Cast', 'Constant', 'Slice', 'Split', 'Pad', 'Expand', 'Tile']);

/** The compute nodes (with a rule) that the plan quantizes, for the report. */
export function quantizedNodes(plan: QuantPlan): NodeOutcome[] {
  return [...plan.nodes.values()].filter((p) => p.rule.kind !== 'passthrough').map(({ node }) => ({ name: node.name, op: node.op }));
}
