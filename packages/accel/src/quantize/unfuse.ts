import { float, tensor, type Attr, type Node, type OnnxGraph } from '../onnx/graph';

/**
 * Splits ONNX Runtime's fused float ops (what offline optimization at `extended` leaves in a
 * converted model) back into standard ops, so the quantizer sees Conv/Gemm followed by their
 * activation: FusedConv -> Conv [+ Add Z] [+ act], FusedGemm -> Gemm [+ act]. The compute node
 * keeps the fused node's name (what `--exclude` names), the activation gets `<name>/act`.
 */
export function unfuse(g: OnnxGraph): number {
  const out: Node[] = [];
  let count = 0;
  for (const n of g.nodes) {
    const split = n.domain === 'com.microsoft' ? SPLITTERS[n.op] : undefined;
    if (!split) {
      out.push(n);
      continue;
    }
    out.push(...split(g, n));
    count++;
  }
  g.nodes = out;
  return count;
}

type Splitter = (g: OnnxGraph, n: Node) => Node[];

const SPLITTERS: Record<string, Splitter> = {
  FusedConv: (g, n) => {
    const { activation, activation_params: _params, ...attrs } = n.attrs;
    const [x, w, b, z] = n.inputs;
    const nodes: Node[] = [];
    let y = fresh(g, n, 'conv');
    nodes.push({ name: n.name, op: 'Conv', inputs: b ? [x!, w!, b] : [x!, w!], outputs: [y], attrs });
    if (z) {
      const sum = fresh(g, n, 'sum');
      nodes.push({ name: `${n.name}/add`, op: 'Add', inputs: [y, z], outputs: [sum], attrs: {} });
      y = sum;
    }
    return [...nodes, ...activationNodes(g, n, y)];
  },
  FusedGemm: (g, n) => {
    const { activation, activation_alpha: _a, activation_beta: _b, activation_gamma: _c, ...attrs } = n.attrs;
    const y = fresh(g, n, 'gemm');
    return [{ name: n.name, op: 'Gemm', inputs: [...n.inputs], outputs: [y], attrs }, ...activationNodes(g, n, y)];
  },
};

function fresh(g: OnnxGraph, n: Node, what: string): string {
  return g.fresh(`${n.outputs[0]}/${what}`);
}

/** The activation a fused node applied, as a standard node writing the fused node's output. */
function activationNodes(g: OnnxGraph, n: Node, x: string): Node[] {
  const kind = 's' in (n.attrs.activation ?? {}) ? (n.attrs.activation as { s: string }).s : '';
  const y = n.outputs[0]!;
  if (!kind) return [{ name: `${n.name}/act`, op: 'Identity', inputs: [x], outputs: [y], attrs: {} }];
  const params = 'floats' in (n.attrs.activation_params ?? {}) ? (n.attrs.activation_params as { floats: number[] }).floats : [];
  const alpha = n.attrs.activation_alpha && 'f' in n.attrs.activation_alpha ? n.attrs.activation_alpha.f : params[0];
  const beta = n.attrs.activation_beta && 'f' in n.attrs.activation_beta ? n.attrs.activation_beta.f : params[1];
  const attrs: Record<string, Attr> = {};
  const inputs = [x];
  if (kind === 'LeakyRelu' && alpha !== undefined) attrs.alpha = float(alpha);
  if (kind === 'HardSigmoid') {
    if (alpha !== undefined) attrs.alpha = float(alpha);
    if (beta !== undefined) attrs.beta = float(beta);
  }
  if (kind === 'Clip') {
    // Clip's bounds are inputs since opset 11: min and max come from the fused node's params.
    const min = g.addInitializer(`${n.name}/act/min`, tensor('float32', [], [alpha ?? -3.4e38]));
    const max = g.addInitializer(`${n.name}/act/max`, tensor('float32', [], [beta ?? 3.4e38]));
    return [{ name: `${n.name}/act`, op: 'Clip', inputs: [x, min, max], outputs: [y], attrs }];
  }
  return [{ name: `${n.name}/act`, op: kind, inputs, outputs: [y], attrs }];
}
