import { toNumbers, type Attr, type Node, type OnnxGraph, type TypeInfo } from './graph';
import type { RuleCtx, ShapeRule } from './shape-dims';
import { NN_RULES } from './shape-rules-nn';
import { TENSOR_RULES } from './shape-rules-tensor';

/** Shape rules by ONNX op type (opset 17 semantics). */
export const SHAPE_RULES: ReadonlyMap<string, ShapeRule> = new Map(Object.entries({ ...TENSOR_RULES, ...NN_RULES }));

function context(graph: OnnxGraph, node: Node): RuleCtx {
  const name = (i: number) => node.inputs[i] ?? '';
  const attr = (n: string): Attr | undefined => node.attrs[n];
  const ctx: RuleCtx = {
    node,
    type: (i) => (name(i) ? graph.types.get(name(i)) : undefined),
    dtype: (i) => ctx.type(i)?.dtype ?? 'float32',
    shape: (i) => ctx.type(i)?.shape ?? null,
    has: (i) => name(i) !== '',
    constant: (i) => (name(i) ? graph.initializers.get(name(i)) : undefined),
    values(i) {
      const t = ctx.constant(i);
      return t && t.dtype !== 'string' && t.dtype !== 'float16' ? toNumbers(t) : undefined;
    },
    attr,
    int(n, fallback) {
      const a = attr(n);
      return a && 'i' in a ? a.i : fallback;
    },
    ints(n) {
      const a = attr(n);
      return a && 'ints' in a ? a.ints : undefined;
    },
    float(n, fallback) {
      const a = attr(n);
      return a && 'f' in a ? a.f : fallback;
    },
    floats(n) {
      const a = attr(n);
      return a && 'floats' in a ? a.floats : undefined;
    },
    str(n, fallback) {
      const a = attr(n);
      return a && 's' in a ? a.s : fallback;
    },
  };
  return ctx;
}

/**
 * Sets `graph.types` for each output of `node` from its inputs' types, reading constant inputs
 * (initializers) where the output shape depends on their values. Ops without a rule, and
 * outputs a rule leaves out, get the dtype of input 0 and an unknown shape.
 */
export function inferNodeTypes(graph: OnnxGraph, node: Node): void {
  const ctx = context(graph, node);
  const rule = SHAPE_RULES.get(node.op);
  const types: (TypeInfo | undefined)[] = rule ? rule(ctx) : [];
  node.outputs.forEach((o, k) => {
    if (!o) return;
    graph.types.set(o, types[k] ?? { dtype: ctx.type(0)?.dtype ?? 'float32', shape: null });
  });
}
