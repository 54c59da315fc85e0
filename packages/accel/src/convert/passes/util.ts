import { size, type Attr, type Dim, type Node, type OnnxGraph, type Tensor, type TensorData } from '../../onnx/graph';

/** Producer and consumers of every tensor, and which tensors are graph outputs. */
export interface GraphIndex {
  producer: Map<string, Node>;
  consumers: Map<string, Node[]>;
  outputs: Set<string>;
}

export function indexGraph(graph: OnnxGraph): GraphIndex {
  return { ...graph.index(), outputs: new Set(graph.outputs.map((o) => o.name)) };
}

/** Distinct nodes reading `tensor`. */
export function consumersOf(ix: GraphIndex, tensor: string): Node[] {
  return [...new Set(ix.consumers.get(tensor) ?? [])];
}

/** A constant value the graph cannot override (an initializer that is not also a graph input). */
export function constantOf(graph: OnnxGraph, name: string): Tensor | undefined {
  if (!name || graph.inputs.some((i) => i.name === name)) return undefined;
  return graph.initializers.get(name);
}

/** Adds a node under a fresh name without running the graph's hooks (the caller sets types). */
export function makeNode(graph: OnnxGraph, op: string, inputs: string[], outputs: string[], attrs: Record<string, Attr> = {}): Node {
  for (const o of outputs) graph.reserve(o);
  const node: Node = { name: graph.fresh(`${op}#node`), op, inputs, outputs, attrs };
  graph.nodes.push(node);
  return node;
}

export function removeNode(graph: OnnxGraph, node: Node): void {
  const at = graph.nodes.indexOf(node);
  if (at >= 0) graph.nodes.splice(at, 1);
}

/** Renames a tensor where nodes read it (graph outputs keep their names). */
export function renameInputs(graph: OnnxGraph, from: string, to: string): void {
  for (const n of graph.nodes) if (n.inputs.includes(from)) n.inputs = n.inputs.map((i) => (i === from ? to : i));
}

/**
 * Removes `node`, whose output 0 equals its input 0, by renaming. When that output is a graph
 * output, the producer of the input is renamed to produce it instead; that needs the input to
 * have no other use. Returns false (node kept) when it cannot be removed.
 */
export function bypassNode(graph: OnnxGraph, node: Node, ix: GraphIndex): boolean {
  const x = node.inputs[0]!;
  const y = node.outputs[0]!;
  if (!ix.outputs.has(y)) {
    removeNode(graph, node);
    renameInputs(graph, y, x);
    return true;
  }
  const producer = ix.producer.get(x);
  if (!producer || ix.outputs.has(x) || consumersOf(ix, x).length !== 1 || producer.outputs.filter((o) => o === x).length !== 1) return false;
  removeNode(graph, node);
  producer.outputs = producer.outputs.map((o) => (o === x ? y : o));
  renameInputs(graph, x, y);
  return true;
}

/**
 * Sets input `i` of `node` to the constant `value`: in place when nothing else reads the old
 * initializer, else under a new name (the old one stays for its other users).
 */
export function setConstantInput(graph: OnnxGraph, node: Node, i: number, value: Tensor, prefix?: string): void {
  const old = node.inputs[i];
  const shared = !old
    || !graph.initializers.has(old)
    || graph.outputs.some((o) => o.name === old)
    || graph.nodes.some((n) => n.inputs.some((t, k) => t === old && (n !== node || k !== i)));
  if (!shared) {
    graph.setInitializer(old, value);
    return;
  }
  while (node.inputs.length < i) node.inputs.push('');
  node.inputs[i] = graph.addInitializer(prefix ?? (old || `${node.name}/in${i}`), value);
}

export const isIdentityPerm = (p: readonly number[]): boolean => p.every((v, k) => v === k);

export function invertPerm(p: readonly number[]): number[] {
  const inv = new Array<number>(p.length);
  p.forEach((v, k) => (inv[v] = k));
  return inv;
}

/** The perm of transpose(transpose(x, first), second). */
export const composePerms = (first: readonly number[], second: readonly number[]): number[] => second.map((k) => first[k]!);

export const samePerm = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((v, k) => v === b[k]);

/** Shape of transpose(x, perm) given x's shape. */
export const permuteDims = <T extends Dim>(dims: readonly T[], perm: readonly number[]): T[] => perm.map((k) => dims[k]!);

/** The constant `t` transposed by `perm` (output axis k is input axis perm[k]). */
export function transposeTensor(t: Tensor, perm: readonly number[]): Tensor {
  const rank = t.dims.length;
  const outDims = permuteDims(t.dims, perm);
  const n = size(t.dims);
  const src = t.data as unknown as ArrayLike<unknown>;
  const out = (Array.isArray(t.data) ? new Array(n) : new (t.data.constructor as new (k: number) => TensorData)(n)) as unknown as unknown[];
  const strides = new Array<number>(rank).fill(1);
  for (let k = rank - 2; k >= 0; k--) strides[k] = strides[k + 1]! * t.dims[k + 1]!;
  const step = perm.map((p) => strides[p]!);
  const at = new Array<number>(rank).fill(0);
  let offset = 0;
  for (let k = 0; k < n; k++) {
    out[k] = src[offset];
    for (let d = rank - 1; d >= 0; d--) {
      if (++at[d]! < outDims[d]!) {
        offset += step[d]!;
        break;
      }
      offset -= step[d]! * (outDims[d]! - 1);
      at[d] = 0;
    }
  }
  return { dtype: t.dtype, dims: outDims, data: out as unknown as TensorData };
}

/** Orders nodes so that every node comes after the producers of its inputs (stable otherwise). */
export function topoSort(graph: OnnxGraph): void {
  const { producer } = graph.index();
  const done = new Set<Node>();
  const open = new Set<Node>();
  const order: Node[] = [];
  const visit = (start: Node) => {
    const stack: [Node, boolean][] = [[start, false]];
    while (stack.length) {
      const [node, expanded] = stack.pop()!;
      if (done.has(node)) continue;
      if (expanded) {
        done.add(node);
        order.push(node);
        continue;
      }
      if (open.has(node)) continue; // a cycle: leave it to the checker
      open.add(node);
      stack.push([node, true]);
      for (const i of [...node.inputs].reverse()) {
        const p = producer.get(i);
        if (p && !done.has(p) && p !== node) stack.push([p, false]);
      }
    }
  };
  for (const n of graph.nodes) visit(n);
  graph.nodes = order;
}
