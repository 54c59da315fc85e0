/**
 * Transpose optimizer. Handlers wrap every NCHW-only op of an NHWC graph as
 * `Transpose(0,3,1,2) -> Conv -> Transpose(0,2,3,1)`; this pass moves and cancels those
 * Transposes so that the graph runs NCHW from its input transpose to the end.
 *
 * Notation: `y = Transpose(x, q)` means y's axis k is x's axis q[k]. "Pushing" it through a
 * node N that reads y rewrites N to read x instead (its axis attributes, pads, constant
 * operands translated by q) and puts a Transpose back on N's outputs where their layout
 * changed. Rules, applied until nothing changes:
 *
 * 1. A Transpose with identity perm is removed; a Transpose of a constant becomes the
 *    transposed constant; a Transpose of a Transpose reads the inner input with the composed
 *    perm (the inner one goes when nothing else reads it). A Transpose that only moves axes
 *    of size 1 and feeds only Reshapes (to constant shapes without 0) is dropped.
 * 2. Push down: from a Transpose, a region of consumers is grown breadth-first through the
 *    ops below (up to 64 nodes), each rewritten with the same perm; the smallest prefix of
 *    that region that lowers the number of Transposes the most is rewritten. The count takes
 *    in the Transposes that vanish (the pushed one when all its consumers are in the region,
 *    inverse Transposes met below) and those added (on region outputs read outside it, on
 *    operands that need the inverse). So Relu -> Clip -> inverse Transpose cancels, and a
 *    transposed tensor with several consumers is pushed into all of them when that pays.
 *    When no prefix lowers the count, the largest one that keeps it and needs no inverse on
 *    any operand is rewritten: the Transpose only moves down, toward a Reshape or graph
 *    output, and the ops it passes run NCHW (so a Mul/Add after a conv can be folded).
 * 3. Push up: a node whose outputs feed Transposes of one perm is rewritten to work in that
 *    layout, with Transposes moved onto its inputs, when that lowers the count (for example
 *    an input-side op feeding two convs).
 *    Every other operand of a pushed node must be transposed by the same perm already, a
 *    constant (transposed here, after left-padding its rank with 1s; copied when shared), a
 *    tensor of size 1, or it gets the inverse Transpose (counted in the cost).
 *
 * Ops taken: unary elementwise ops; broadcasting ops (Add, Mul, PRelu, comparisons, Where...);
 * Concat and Split (axis), Pad (pads), Reduce* and ArgMax/ArgMin (axes, with or without
 * keepdims), Slice (constant axes), Resize (constant roi/scales/sizes), Softmax family (axis,
 * opset 13+), Quantize/DequantizeLinear (axis), Squeeze/Unsqueeze (constant axes). Reshape,
 * Flatten, MatMul and the NCHW ops themselves stop a Transpose: for a CNN the graph keeps its
 * input Transpose and at most one before a Reshape/Flatten or graph output (none before a
 * Reshape of a [N, C, 1, 1] mean).
 */
import { size, tensor, toNumbers, type Node, type OnnxGraph, type Tensor } from '../../onnx/graph';
import type { Pass } from './pass';
import {
  bypassNode, composePerms, constantOf, consumersOf, indexGraph, invertPerm, isIdentityPerm, makeNode,
  permuteDims, removeNode, renameInputs, samePerm, setConstantInput, topoSort, transposeTensor, type GraphIndex,
} from './util';

/** How a node changes to read its layout inputs untransposed (see the header). */
interface Rewrite {
  /** Inputs that carry the layout (rank = perm length). */
  layout: number[];
  /** Outputs' perms back to their old layout (null: the layout did not change). */
  outputs: (number[] | null)[];
  /** Updates attributes and constant inputs for the new layout. */
  commit(): void;
}

interface Env {
  graph: OnnxGraph;
  ix: GraphIndex;
}

type Rule = (env: Env, node: Node, q: number[]) => Rewrite | null;

const norm = (axis: number, rank: number): number => (axis < 0 ? axis + rank : axis);

function permOf(env: Env, node: Node): number[] | null {
  const a = node.attrs.perm;
  if (a && 'ints' in a) return a.ints;
  const rank = rankOf(env, node.inputs[0]!);
  return rank === null ? null : Array.from({ length: rank }, (_, k) => rank - 1 - k);
}

function rankOf(env: Env, t: string): number | null {
  const c = env.graph.initializers.get(t);
  if (c) return c.dims.length;
  const shape = env.graph.types.get(t)?.shape;
  if (shape) return shape.length;
  const p = env.ix.producer.get(t);
  return p?.op === 'Transpose' ? (permOf(env, p)?.length ?? null) : null;
}

/** A tensor known to hold one element. */
function isSingle(env: Env, t: string): boolean {
  const c = env.graph.initializers.get(t);
  if (c) return size(c.dims) === 1;
  const shape = env.graph.types.get(t)?.shape;
  return !!shape && shape.every((d) => d === 1);
}

const intAttr = (n: Node, name: string, fallback: number): number => {
  const a = n.attrs[name];
  return a && 'i' in a ? a.i : fallback;
};
const intsAttr = (n: Node, name: string): number[] | undefined => {
  const a = n.attrs[name];
  return a && 'ints' in a ? a.ints : undefined;
};
const int64s = (values: number[]): Tensor => tensor('int64', [values.length], values);

/** Constant int values of input i: [] when absent, undefined when not constant. */
function constInts(env: Env, n: Node, i: number): number[] | undefined {
  if (!n.inputs[i]) return [];
  const c = constantOf(env.graph, n.inputs[i]!);
  return c ? toNumbers(c) : undefined;
}

const same = (q: number[], outputs: number): Rewrite['outputs'] => Array.from({ length: outputs }, () => q);

/** Perm from x-space result to y-space result after removing y axes `gone` (Reduce/Squeeze). */
function dropAxes(q: number[], gone: Set<number>): number[] | null {
  const kept = q.map((_, k) => k).filter((k) => !gone.has(k));
  const xs = kept.map((k) => q[k]!).sort((a, b) => a - b);
  const out = kept.map((k) => xs.indexOf(q[k]!));
  return isIdentityPerm(out) ? null : out;
}

const unary: Rule = (_env, n, q) => ({ layout: [0], outputs: same(q, n.outputs.length), commit() {} });

/** Elementwise ops with numpy broadcasting: every input is layout, constant or size 1. */
const broadcast: Rule = (env, n, q) => {
  const r = q.length;
  const layout: number[] = [];
  const consts: [number, Tensor][] = [];
  for (let i = 0; i < n.inputs.length; i++) {
    const t = n.inputs[i]!;
    if (!t) continue;
    const c = constantOf(env.graph, t);
    if (c && c.dims.length <= r) {
      if (size(c.dims) !== 1) consts.push([i, c]);
      continue;
    }
    if (isSingle(env, t) && (rankOf(env, t) ?? r + 1) <= r) continue;
    if (rankOf(env, t) !== r) return null;
    layout.push(i);
  }
  const inv = invertPerm(q);
  return {
    layout,
    outputs: same(q, n.outputs.length),
    commit() {
      for (const [i, c] of consts) {
        const padded = { ...c, dims: [...Array(r - c.dims.length).fill(1), ...c.dims] };
        setConstantInput(env.graph, n, i, transposeTensor(padded, inv));
      }
    },
  };
};

/** Ops with one `axis` attribute that keep their input's layout. */
const axisRule = (fallback: number): Rule => (_env, n, q) => ({
  layout: [0],
  outputs: same(q, n.outputs.length),
  commit() {
    n.attrs.axis = { i: q[norm(intAttr(n, 'axis', fallback), q.length)]! };
  },
});

/** Concat: every input is layout or a constant of the same rank. */
const concat: Rule = (env, n, q) => {
  const r = q.length;
  const consts: [number, Tensor][] = [];
  const layout: number[] = [];
  for (let i = 0; i < n.inputs.length; i++) {
    const c = constantOf(env.graph, n.inputs[i]!);
    if (c && c.dims.length === r) consts.push([i, c]);
    else if (!c && rankOf(env, n.inputs[i]!) === r) layout.push(i);
    else return null;
  }
  const inv = invertPerm(q);
  return {
    layout,
    outputs: [q],
    commit() {
      for (const [i, c] of consts) setConstantInput(env.graph, n, i, transposeTensor(c, inv));
      n.attrs.axis = { i: q[norm(intAttr(n, 'axis', 0), r)]! };
    },
  };
};

const quantize: Rule = (env, n, q) => {
  if (n.inputs.slice(1).some((t) => t && !isSingle(env, t))) return axisRule(1)(env, n, q);
  return unary(env, n, q);
};

const pad: Rule = (env, n, q) => {
  const pads = constInts(env, n, 1);
  if (!pads || pads.length !== 2 * q.length || n.inputs[3]) return null;
  const r = q.length;
  return {
    layout: [0],
    outputs: [q],
    commit() {
      const out = new Array<number>(2 * r);
      q.forEach((x, k) => { out[x] = pads[k]!; out[r + x] = pads[r + k]!; });
      setConstantInput(env.graph, n, 1, int64s(out));
    },
  };
};

/** Reduce*, ArgMax/ArgMin: axes as attribute or input 1. */
const reduce = (single: boolean): Rule => (env, n, q) => {
  const r = q.length;
  const fromInput = !single && n.inputs.length > 1 && !!n.inputs[1];
  const axes = single ? [intAttr(n, 'axis', 0)] : fromInput ? constInts(env, n, 1) : (intsAttr(n, 'axes') ?? []);
  if (!axes) return null;
  if (axes.length === 0 && intAttr(n, 'noop_with_empty_axes', 0) === 1) return unary(env, n, q);
  const all = axes.length === 0;
  const gone = new Set(all ? q.map((_, k) => k) : axes.map((a) => norm(a, r)));
  const keep = intAttr(n, 'keepdims', 1) === 1;
  return {
    layout: [0],
    outputs: [keep ? q : dropAxes(q, gone)],
    commit() {
      if (all) return;
      const mapped = [...gone].map((a) => q[a]!).sort((a, b) => a - b);
      if (single) n.attrs.axis = { i: mapped[0]! };
      else if (fromInput) setConstantInput(env.graph, n, 1, int64s(mapped));
      else n.attrs.axes = { ints: mapped };
    },
  };
};

const slice: Rule = (env, n, q) => {
  const starts = constInts(env, n, 1);
  const axes = constInts(env, n, 3);
  if (!axes || (axes.length === 0 && !starts)) return null;
  const r = q.length;
  const given = axes.length ? axes : starts!.map((_, k) => k);
  return {
    layout: [0],
    outputs: [q],
    commit() {
      setConstantInput(env.graph, n, 3, int64s(given.map((a) => q[norm(a, r)]!)), `${n.name}/axes`);
    },
  };
};

const resize: Rule = (env, n, q) => {
  const r = q.length;
  const inv = invertPerm(q);
  const updates: [number, Tensor][] = [];
  for (const i of [1, 2, 3]) {
    const t = n.inputs[i];
    if (!t) continue;
    const c = constantOf(env.graph, t);
    if (!c) return null;
    const len = size(c.dims);
    if (len === 0) continue;
    if (len !== (i === 1 ? 2 * r : r) || c.dtype === 'float16' || c.dtype === 'string') return null;
    const v = toNumbers(c);
    const out = i === 1 ? [...inv.map((k) => v[k]!), ...inv.map((k) => v[r + k]!)] : inv.map((k) => v[k]!);
    updates.push([i, tensor(c.dtype, [out.length], out)]);
  }
  return { layout: [0], outputs: [q], commit() { for (const [i, t] of updates) setConstantInput(env.graph, n, i, t); } };
};

const softmax: Rule = (env, n, q) => (env.graph.opset >= 13 ? axisRule(-1)(env, n, q) : null);

const squeeze: Rule = (env, n, q) => {
  const axes = constInts(env, n, 1);
  if (!axes || axes.length === 0) return null;
  const gone = new Set(axes.map((a) => norm(a, q.length)));
  return {
    layout: [0],
    outputs: [dropAxes(q, gone)],
    commit() { setConstantInput(env.graph, n, 1, int64s([...gone].map((a) => q[a]!).sort((a, b) => a - b))); },
  };
};

const unsqueeze: Rule = (env, n, q) => {
  const axes = constInts(env, n, 1);
  if (!axes || axes.length === 0) return null;
  const rank = q.length + axes.length;
  const added = new Set(axes.map((a) => norm(a, rank)));
  const kept = Array.from({ length: rank }, (_, k) => k).filter((k) => !added.has(k));
  const out = Array.from({ length: rank }, (_, k) => k);
  kept.forEach((pos, k) => (out[pos] = kept[q[k]!]!));
  return { layout: [0], outputs: [isIdentityPerm(out) ? null : out], commit() {} };
};

const UNARY = [
  'Relu', 'Clip', 'Sigmoid', 'Tanh', 'LeakyRelu', 'Elu', 'Selu', 'Celu', 'Abs', 'Neg', 'Exp', 'Log', 'Sqrt',
  'Reciprocal', 'Cast', 'Identity', 'Floor', 'Ceil', 'Round', 'Erf', 'Softplus', 'Softsign', 'HardSigmoid',
  'HardSwish', 'Sign', 'Not', 'Sin', 'Cos', 'Tan', 'Asin', 'Acos', 'Atan', 'Sinh', 'Cosh', 'Asinh', 'Acosh',
  'Atanh', 'IsNaN', 'IsInf', 'Mish', 'ThresholdedRelu', 'Dropout',
];
const BROADCAST = [
  'Add', 'Sub', 'Mul', 'Div', 'Max', 'Min', 'Pow', 'PRelu', 'Mod', 'Sum', 'Mean', 'Equal', 'Less', 'Greater',
  'LessOrEqual', 'GreaterOrEqual', 'And', 'Or', 'Xor', 'Where', 'BitShift',
];
const REDUCE = ['ReduceMean', 'ReduceSum', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceSumSquare'];

/** Ops a Transpose can be pushed through, by ONNX op type. */
const RULES: ReadonlyMap<string, Rule> = new Map<string, Rule>([
  ...UNARY.map((op) => [op, unary] as const),
  ...BROADCAST.map((op) => [op, broadcast] as const),
  ...REDUCE.map((op) => [op, reduce(false)] as const),
  ['ArgMax', reduce(true)],
  ['ArgMin', reduce(true)],
  ['Concat', concat],
  ['Split', axisRule(0)],
  ['Pad', pad],
  ['Slice', slice],
  ['Resize', resize],
  ['Softmax', softmax],
  ['LogSoftmax', softmax],
  ['Hardmax', softmax],
  ['QuantizeLinear', quantize],
  ['DequantizeLinear', quantize],
  ['Squeeze', squeeze],
  ['Unsqueeze', unsqueeze],
]);

function ruleFor(env: Env, n: Node, q: number[]): Rewrite | null {
  if (n.domain) return null;
  const rw = RULES.get(n.op)?.(env, n, q) ?? null;
  if (!rw || rw.layout.length === 0) return null;
  return rw.layout.every((i) => rankOf(env, n.inputs[i]!) === q.length) ? rw : null;
}

const isTransposeBy = (env: Env, n: Node | undefined, p: number[]): boolean => {
  if (n?.op !== 'Transpose') return false;
  const perm = permOf(env, n);
  return !!perm && samePerm(perm, p);
};

/** Nodes rewritten together with one perm, each with its rewrite. */
type Region = Map<Node, Rewrite>;

/** Change in the number of Transposes if every node of `region` is rewritten with q; `inserts`: some operand needs the inverse. */
function cost(env: Env, region: Region, q: number[]): { delta: number; inserts: boolean } {
  let delta = 0;
  let inserts = false;
  const seen = new Set<string>();
  const inv = invertPerm(q);
  const inside = (c: Node) => region.has(c);
  for (const [n, rw] of region) {
    for (const t of rw.layout.map((i) => n.inputs[i]!)) {
      if (seen.has(t)) continue;
      seen.add(t);
      const p = env.ix.producer.get(t);
      if (p && region.has(p)) continue;
      if (isTransposeBy(env, p, q)) {
        if (!env.ix.outputs.has(t) && consumersOf(env.ix, t).every(inside)) delta--;
      } else {
        inserts = true;
        if (!consumersOf(env.ix, t).some((c) => isTransposeBy(env, c, inv))) delta++;
      }
    }
    rw.outputs.forEach((r, k) => {
      const o = n.outputs[k];
      if (!r || !o) return;
      const outside = consumersOf(env.ix, o).filter((c) => !inside(c));
      if (env.ix.outputs.has(o) || outside.some((c) => c.op !== 'Transpose')) delta++;
      delta -= outside.filter((c) => isTransposeBy(env, c, invertPerm(r))).length;
    });
  }
  return { delta, inserts };
}

function transposeOf(env: Env, t: string, perm: number[]): string {
  const existing = consumersOf(env.ix, t).find((c) => isTransposeBy(env, c, perm));
  if (existing) return existing.outputs[0]!;
  const out = env.graph.fresh(`${t}/T`);
  makeNode(env.graph, 'Transpose', [t], [out], { perm: { ints: perm } });
  const type = env.graph.types.get(t);
  if (type) env.graph.types.set(out, { dtype: type.dtype, shape: type.shape && permuteDims(type.shape, perm) });
  return out;
}

function apply(env: Env, n: Node, q: number[], rw: Rewrite): void {
  const inv = invertPerm(q);
  for (const i of rw.layout) {
    const t = n.inputs[i]!;
    const p = env.ix.producer.get(t);
    n.inputs[i] = isTransposeBy(env, p, q) ? p!.inputs[0]! : transposeOf(env, t, inv);
  }
  rw.commit();
  rw.outputs.forEach((r, k) => {
    const o = n.outputs[k];
    if (!r || !o) return;
    const inner = env.graph.fresh(`${o}/T`);
    n.outputs[k] = inner;
    makeNode(env.graph, 'Transpose', [inner], [o], { perm: { ints: r } });
    const type = env.graph.types.get(o);
    if (type) env.graph.types.set(inner, { dtype: type.dtype, shape: type.shape && permuteDims(type.shape, invertPerm(r)) });
  });
}

/** Whether transposing `x` by perm keeps the order of its axes that may differ from 1 (a mere reshape). */
function onlyMovesUnitAxes(env: Env, x: string, perm: number[]): boolean {
  const shape = env.graph.types.get(x)?.shape;
  if (!shape || shape.length !== perm.length) return false;
  const moved = perm.filter((k) => shape[k] !== 1);
  return moved.every((k, i) => i === 0 || k > moved[i - 1]!);
}

/** Whether `y` is read only as the data of Reshapes to a constant shape without 0s (which would copy input dims). */
function feedsReshapesOnly(env: Env, y: string): boolean {
  const users = consumersOf(env.ix, y);
  return !env.ix.outputs.has(y) && users.length > 0 && users.every((n) => {
    const shape = n.op === 'Reshape' && n.inputs[1] !== y ? constantOf(env.graph, n.inputs[1]!) : undefined;
    return !!shape && toNumbers(shape).every((d) => d !== 0);
  });
}

/** Rule 1 on one Transpose; true when it changed the graph. */
function simplify(env: Env, t: Node): boolean {
  const { graph, ix } = env;
  const perm = permOf(env, t);
  if (!perm) return false;
  const x = t.inputs[0]!;
  const y = t.outputs[0]!;
  if (!ix.outputs.has(y) && consumersOf(ix, y).length === 0) {
    removeNode(graph, t);
    return true;
  }
  if (isIdentityPerm(perm)) {
    if (!bypassNode(graph, t, ix)) Object.assign(t, { op: 'Identity', attrs: {} });
    return true;
  }
  const c = constantOf(graph, x);
  if (c && !ix.outputs.has(y)) {
    removeNode(graph, t);
    graph.setInitializer(y, transposeTensor(c, perm));
    return true;
  }
  if (onlyMovesUnitAxes(env, x, perm) && feedsReshapesOnly(env, y)) {
    removeNode(graph, t);
    renameInputs(graph, y, x);
    return true;
  }
  const inner = ix.producer.get(x);
  if (inner?.op !== 'Transpose') return false;
  const innerPerm = permOf(env, inner);
  if (!innerPerm) return false;
  t.inputs = [inner.inputs[0]!];
  t.attrs = { ...t.attrs, perm: { ints: composePerms(innerPerm, perm) } };
  if (!ix.outputs.has(x) && consumersOf(ix, x).length === 1) removeNode(graph, inner);
  return true;
}

const MAX_REGION = 64;

/**
 * The rewrite of `n` with q when it can join `region`: every input produced by the region (or
 * equal to `seed`) is a layout input, and region outputs it reads keep perm q.
 */
function joinable(env: Env, region: Region, n: Node, q: number[], seed: string): Rewrite | null {
  if (n.op === 'Transpose' || region.has(n)) return null;
  const rw = ruleFor(env, n, q);
  if (!rw) return null;
  const ok = n.inputs.every((t, i) => {
    const p = env.ix.producer.get(t);
    const from = p && region.get(p);
    if (t !== seed && !from) return true;
    if (!rw.layout.includes(i)) return false;
    return t === seed || samePerm(from!.outputs[p!.outputs.indexOf(t)] ?? [], q);
  });
  return ok ? rw : null;
}

/** Rule 2 on one Transpose: grows a region below it and rewrites the best prefix; true when it changed the graph. */
function pushDown(env: Env, t: Node, order: Map<Node, number>): boolean {
  const q = permOf(env, t);
  if (!q) return false;
  const y = t.outputs[0]!;
  const region: Region = new Map();
  const queue = [...consumersOf(env.ix, y)];
  let best = { delta: 0, size: 0 };
  let move = 0;
  while (queue.length && region.size < MAX_REGION) {
    const n = queue.shift()!;
    const rw = joinable(env, region, n, q, y);
    if (!rw) continue;
    region.set(n, rw);
    const { delta, inserts } = cost(env, region, q);
    if (delta < best.delta) best = { delta, size: region.size };
    if (delta === 0 && !inserts) move = region.size;
    n.outputs.forEach((o, k) => {
      if (o && rw.outputs[k] && samePerm(rw.outputs[k]!, q)) queue.push(...consumersOf(env.ix, o));
    });
  }
  const size = best.size || move;
  if (size === 0) return false;
  const chosen = [...region].slice(0, size).sort(([a], [b]) => order.get(a)! - order.get(b)!);
  for (const [n, rw] of chosen) {
    apply(env, n, q, rw);
    env.ix = indexGraph(env.graph);
  }
  return true;
}

/** Rule 3 on one node; true when it changed the graph. */
function pushUp(env: Env, n: Node): boolean {
  const tried: number[][] = [];
  for (const o of n.outputs) {
    for (const c of consumersOf(env.ix, o)) {
      const p = c.op === 'Transpose' ? permOf(env, c) : null;
      if (!p || tried.some((x) => samePerm(x, p))) continue;
      tried.push(p);
      const q = invertPerm(p);
      const rw = ruleFor(env, n, q);
      if (rw && cost(env, new Map([[n, rw]]), q).delta < 0) {
        apply(env, n, q, rw);
        return true;
      }
    }
  }
  return false;
}

/** One sweep of each rule over the graph; returns how many rewrites it made. */
function sweep(graph: OnnxGraph): number {
  topoSort(graph);
  const env: Env = { graph, ix: indexGraph(graph) };
  const order = new Map(graph.nodes.map((n, k) => [n, k]));
  const live = (n: Node) => env.ix.producer.get(n.outputs[0]!) === n;
  const transposes = graph.nodes.filter((n) => n.op === 'Transpose' && !n.domain);
  let changes = 0;
  const run = (nodes: Node[], rule: (n: Node) => boolean) => {
    for (const n of nodes) {
      if (!live(n) || !rule(n)) continue;
      changes++;
      env.ix = indexGraph(graph);
    }
    return changes;
  };
  if (run(transposes, (t) => t.op === 'Transpose' && simplify(env, t))) return changes;
  if (run(transposes, (t) => pushDown(env, t, order))) return changes;
  return run([...graph.nodes], (n) => n.op !== 'Transpose' && pushUp(env, n));
}

/** Cancels and moves Transposes (rules in the header). */
export const transposePass: Pass = {
  name: 'transpose',
  run(graph) {
    let changes = 0;
    const limit = 20 * graph.nodes.length + 100;
    for (let n = sweep(graph); n > 0 && changes < limit; n = sweep(graph)) changes += n;
    return changes;
  },
};
