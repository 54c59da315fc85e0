import { AccelError } from '../errors';
import { OnnxGraph, tensor, type Attr, type Dim, type Node, type Tensor, type TypeInfo } from '../onnx/graph';
import { inferNodeTypes } from '../onnx/shapes';
import { HANDLERS, isSupported } from './handlers/index';
import type { HandlerContext } from './handlers/registry';
import { evaluateNode } from './passes/evaluate';
import { TfAttrs } from './tf/attrs';
import { parseTensorName, tensorName, type TfGraph, type TfNode } from './tf/graph';

export interface MapOptions {
  /** Graph inputs as TensorFlow tensor names (`input_1:0`); the graph is cut there. */
  inputs: string[];
  /** Graph outputs as TensorFlow tensor names. */
  outputs: string[];
  /** Shapes to use instead of the placeholders' own (-1 or a string: symbolic). */
  inputShapes?: Record<string, Dim[]>;
  /** Called as nodes are mapped. */
  onProgress?: (done: number, total: number) => void;
}

const FOLD_LIMIT = 1 << 22; // elements: larger results stay nodes

/** Names a tensor the graph lacks, suggesting the closest ones. */
function unknownTensor(name: string, tf: TfGraph): AccelError {
  const wanted = parseTensorName(name).node.toLowerCase();
  const close = tf.nodes
    .map((n) => n.name)
    .filter((n) => n.toLowerCase().includes(wanted.split('/').pop() ?? wanted))
    .slice(0, 5);
  const declared = tf.signature ? ` The file declares inputs ${tf.signature.inputs.join(', ') || 'none'} and outputs ${tf.signature.outputs.join(', ') || 'none'}.` : '';
  return new AccelError('ACCEL_ERR_CONVERT_UNKNOWN_TENSOR', {
    tensor: name,
    hint: `${close.length ? ` Similar node names: ${close.join(', ')}.` : ''}${declared}`,
  });
}

/** The nodes needed to compute `outputs` from `inputs`, in topological order. */
export function subgraph(tf: TfGraph, inputs: string[], outputs: string[]): TfNode[] {
  const byName = new Map(tf.nodes.map((n) => [n.name, n]));
  const cut = new Set(inputs.map((i) => parseTensorName(i).node));
  for (const t of [...inputs, ...outputs]) {
    const { node, index } = parseTensorName(t);
    if (!byName.has(node)) throw unknownTensor(t, tf);
    if (index < 0) throw unknownTensor(t, tf);
  }
  const order: TfNode[] = [];
  const state = new Map<string, 1 | 2>();
  const visit = (start: string) => {
    const stack: { name: string; expanded: boolean }[] = [{ name: start, expanded: false }];
    while (stack.length) {
      const top = stack.pop()!;
      const node = byName.get(top.name);
      if (!node) throw unknownTensor(top.name, tf);
      if (top.expanded) {
        if (state.get(top.name) !== 2) {
          state.set(top.name, 2);
          order.push(node);
        }
        continue;
      }
      if (state.has(top.name)) continue;
      state.set(top.name, 1);
      stack.push({ name: top.name, expanded: true });
      if (cut.has(top.name)) continue;
      for (const input of node.inputs) {
        const src = parseTensorName(input).node;
        // A back edge (state 1) only occurs through loop ops (NextIteration), which no handler
        // maps: the unsupported-op listing reports them.
        if (!state.has(src)) stack.push({ name: src, expanded: false });
      }
    }
  };
  for (const o of outputs) visit(parseTensorName(o).node);
  return order;
}

/** Every op type in `nodes` no handler covers, with how often it occurs. */
export function unsupportedOps(nodes: TfNode[], cutInputs: Set<string>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const n of nodes) {
    if (cutInputs.has(n.name) || isSupported(n.op)) continue;
    counts.set(n.op, (counts.get(n.op) ?? 0) + 1);
  }
  return counts;
}

function inputType(node: TfNode, override: Dim[] | undefined): TypeInfo {
  const attrs = new TfAttrs(node);
  const dtype = attrs.has('dtype') ? attrs.type('dtype') : attrs.has('T') ? attrs.type('T') : 'float32';
  const declared = attrs.has('shape') ? attrs.shape('shape') : null;
  const shape = override ?? declared;
  return { dtype, shape: shape === null ? null : shape.map((d, k) => (typeof d === 'number' && d >= 0 ? d : typeof d === 'string' ? d : k === 0 ? 'N' : `d${k}`)) };
}

/** Folds a node at once when all its inputs are constant and it evaluates in JS. */
function foldIfConstant(graph: OnnxGraph, node: Node): void {
  if (node.inputs.length === 0 || !node.inputs.every((i) => i === '' || graph.initializers.has(i))) return;
  const values = node.inputs.map((i) => graph.initializers.get(i)!);
  if (values.some((v) => v && v.data.length > FOLD_LIMIT)) return;
  let results: Tensor[] | undefined;
  try {
    results = evaluateNode(node, values);
  } catch {
    results = undefined;
  }
  if (!results || results.some((r) => r.data.length > FOLD_LIMIT)) return;
  graph.nodes.splice(graph.nodes.lastIndexOf(node), 1);
  node.outputs.forEach((o, k) => graph.setInitializer(o, results![k]!));
}

/**
 * Maps the part of a TensorFlow graph between `inputs` and `outputs` to ONNX, one handler per
 * node. Fails listing every unsupported op type before mapping anything; a handler's failure
 * names the node and op. Inputs and outputs keep their TensorFlow tensor names.
 */
export function mapGraph(tf: TfGraph, options: MapOptions): OnnxGraph {
  const inputs = options.inputs.map(tensorName);
  const outputs = options.outputs.map(tensorName);
  const nodes = subgraph(tf, inputs, outputs);
  const cut = new Set(inputs.map((i) => parseTensorName(i).node));
  const missing = unsupportedOps(nodes, cut);
  if (missing.size) {
    const list = [...missing].sort((a, b) => b[1] - a[1]).map(([op, n]) => `${op} (${n})`);
    throw new AccelError('ACCEL_ERR_CONVERT_UNSUPPORTED_OPS', { count: missing.size, ops: list.join(', ') });
  }
  const graph = new OnnxGraph('converted', (g, node) => {
    inferNodeTypes(g, node);
    foldIfConstant(g, node);
  });
  /** TensorFlow tensor (`node:k`) -> ONNX tensor name. */
  const bound = new Map<string, string>();
  for (const input of inputs) {
    const node = nodes.find((n) => n.name === parseTensorName(input).node)!;
    const type = inputType(node, options.inputShapes?.[input] ?? options.inputShapes?.[parseTensorName(input).node]);
    graph.addInput(input, type);
    bound.set(input, input);
  }
  let done = 0;
  for (const node of nodes) {
    done++;
    if (cut.has(node.name)) continue;
    if (node.op === 'NoOp') continue;
    if (node.op === 'Const') {
      const value = tf.consts.get(node.name);
      if (!value) throw new AccelError('ACCEL_ERR_CONVERT_NODE', { node: node.name, op: node.op, reason: 'constant has no value in the weights' });
      const name = graph.addInitializer(node.name, value);
      bound.set(`${node.name}:0`, name);
      continue;
    }
    if (node.op === 'Placeholder') {
      throw new AccelError('ACCEL_ERR_CONVERT_NODE', {
        node: node.name,
        op: node.op,
        reason: `this graph input feeds the outputs but is not among --input-tensors (${inputs.join(', ')}); add "${node.name}:0"`,
      });
    }
    mapNode(graph, node, bound);
    options.onProgress?.(done, nodes.length);
  }
  for (const output of outputs) {
    const src = bound.get(output);
    if (!src) throw unknownTensor(output, tf);
    if (graph.initializers.has(src) || inputs.includes(src) || src !== output) {
      graph.addNode('Identity', [src], { outputs: [output] });
      if (graph.initializers.has(output)) {
        // A constant output: keep it as a node so that the graph has it as an output.
        const value = graph.initializers.get(output)!;
        graph.initializers.delete(output);
        graph.addNode('Constant', [], { outputs: [output], attrs: { value: { t: value } } as Record<string, Attr> });
        graph.types.set(output, { dtype: value.dtype, shape: [...value.dims] });
      }
    }
    graph.addOutput(output);
  }
  return graph;
}

function mapNode(graph: OnnxGraph, node: TfNode, bound: Map<string, string>): void {
  const handler = HANDLERS.get(node.op)!;
  const fail = (reason: string): never => {
    throw new AccelError('ACCEL_ERR_CONVERT_NODE', { node: node.name, op: node.op, reason });
  };
  const inputName = (i: number): string => {
    const tfName = node.inputs[i];
    if (tfName === undefined) return fail(`input ${i} missing (the node has ${node.inputs.length})`);
    const name = bound.get(tensorName(tfName));
    if (name === undefined) return fail(`input "${tfName}" was not produced by any mapped node`);
    return name;
  };
  const typeOf = (t: string): TypeInfo => graph.types.get(t) ?? { dtype: 'float32', shape: null };
  const perm = (rank: number, toNchw: boolean): number[] => {
    const spatial = Array.from({ length: rank - 2 }, (_, k) => k + 1);
    return toNchw ? [0, rank - 1, ...spatial] : [0, ...spatial.map((s) => s + 1), 1];
  };
  const outputsSet: string[] = [];
  const ctx: HandlerContext = {
    node,
    attrs: new TfAttrs(node),
    graph,
    inputCount: node.inputs.length,
    input: inputName,
    constant: (i) => graph.constant(inputName(i)),
    requireConstant(i, what) {
      return graph.constant(inputName(i)) ?? fail(`${what} (input ${i}) must be a constant known at conversion time`);
    },
    type: (i) => typeOf(inputName(i)),
    typeOf,
    emit(op, inputs, attrs = {}, outputs = 1) {
      return graph.addNode(op, inputs, { attrs, outputs, name: `${node.name}/${op}` }).outputs;
    },
    constTensor: (value, suffix = 'const') => graph.addInitializer(`${node.name}/${suffix}`, value),
    int64s: (values, suffix = 'i64') => graph.addInitializer(`${node.name}/${suffix}`, tensor('int64', [values.length], values)),
    float32s: (values, dims, suffix = 'f32') => graph.addInitializer(`${node.name}/${suffix}`, tensor('float32', dims ?? [values.length], values)),
    toNchw(t, rank = 4) {
      return graph.addNode('Transpose', [t], { attrs: { perm: { ints: perm(rank, true) } }, name: `${node.name}/to_nchw` }).outputs[0]!;
    },
    toNhwc(t, rank = 4) {
      return graph.addNode('Transpose', [t], { attrs: { perm: { ints: perm(rank, false) } }, name: `${node.name}/to_nhwc` }).outputs[0]!;
    },
    output(index, t) {
      bound.set(`${node.name}:${index}`, t);
      outputsSet[index] = t;
    },
    fail,
  };
  try {
    handler(ctx);
  } catch (err) {
    if (err instanceof AccelError) throw err;
    fail(err instanceof Error ? err.message : String(err));
  }
  if (outputsSet.length === 0) fail('the handler bound no output');
}
