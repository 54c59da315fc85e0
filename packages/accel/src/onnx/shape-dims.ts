import type { Attr, Dim, DType, Node, Tensor, TypeInfo } from './graph';

/** What a shape rule reads of one node: its inputs' types and constant values, its attributes. */
export interface RuleCtx {
  readonly node: Node;
  /** Type of input `i`; undefined when the input is absent or its type unknown. */
  type(i: number): TypeInfo | undefined;
  /** Element type of input `i` ('float32' when unknown). */
  dtype(i: number): DType;
  /** Shape of input `i` (null: rank unknown or input absent). */
  shape(i: number): Dim[] | null;
  /** Whether input `i` is given (present and not the empty name). */
  has(i: number): boolean;
  /** Constant value of input `i` (an initializer). */
  constant(i: number): Tensor | undefined;
  /** Constant value of input `i` as plain numbers. */
  values(i: number): number[] | undefined;
  int(name: string, fallback: number): number;
  ints(name: string): number[] | undefined;
  float(name: string, fallback: number): number;
  floats(name: string): number[] | undefined;
  str(name: string, fallback: string): string;
  attr(name: string): Attr | undefined;
}

/** Types of a node's outputs, in order; a missing entry falls back to "dtype of input 0, shape unknown". */
export type ShapeRule = (c: RuleCtx) => (TypeInfo | undefined)[];
export type ShapeRuleTable = Record<string, ShapeRule>;

/** A known, concrete dimension. */
export const known = (d: Dim | undefined): d is number => typeof d === 'number' && d >= 0;

/** Applies `f` to a known dimension; unknown otherwise. */
export const mapDim = (d: Dim, f: (n: number) => number): Dim => (known(d) ? f(d) : null);

/** The two dims of one axis under multidirectional broadcasting. */
export function broadcastDim(a: Dim, b: Dim): Dim {
  if (a === 1) return b;
  if (b === 1) return a;
  if (a === b) return a;
  if (known(a) && !known(b)) return a;
  if (known(b) && !known(a)) return b;
  return null;
}

/** Numpy-style broadcast of several shapes (null when any rank is unknown). */
export function broadcastShapes(shapes: (Dim[] | null)[]): Dim[] | null {
  if (shapes.some((s) => s === null)) return null;
  const rank = Math.max(0, ...shapes.map((s) => s!.length));
  const out: Dim[] = Array(rank).fill(1);
  for (const s of shapes as Dim[][]) {
    s.forEach((d, k) => {
      const at = rank - s.length + k;
      out[at] = broadcastDim(out[at], d);
    });
  }
  return out;
}

/** The better known of two dims that must be equal. */
export function unifyDim(a: Dim, b: Dim): Dim {
  if (known(a)) return a;
  if (known(b)) return b;
  return a ?? b;
}

/** An axis in [0, rank). */
export const normAxis = (axis: number, rank: number): number => (axis < 0 ? axis + rank : axis);

/** Product of dims: a number, the one symbol (times 1), or null. */
export function productDim(dims: Dim[]): Dim {
  let n = 1;
  const syms: Dim[] = [];
  for (const d of dims) {
    if (known(d)) n *= d;
    else syms.push(d);
  }
  if (n === 0) return 0;
  if (syms.length === 0) return n;
  return syms.length === 1 && n === 1 ? syms[0] : null;
}

/**
 * `total / part` for shapes: cancels equal symbols, so [N, 49, 64] / [3136] gives N.
 * Unknown when the quotient is not a whole number or not a single symbol.
 */
export function quotientDim(total: Dim[], part: Dim[]): Dim {
  const syms = total.filter((d) => !known(d));
  let n = total.filter(known).reduce((a, b) => a * b, 1);
  let m = 1;
  for (const d of part) {
    if (known(d)) m *= d;
    else {
      const at = d === null ? -1 : syms.indexOf(d);
      if (at < 0) return null;
      syms.splice(at, 1);
    }
  }
  if (m === 0) return null;
  if (syms.length === 0) return n % m === 0 ? n / m : null;
  n /= m;
  return syms.length === 1 && n === 1 ? syms[0] : null;
}

/** Type with the given dtype and shape. */
export const ti = (dtype: DType, shape: Dim[] | null): TypeInfo => ({ dtype, shape });

/** A shape of `rank` unknown dims (or unknown rank). */
export const unknownDims = (rank: number | null): Dim[] | null => (rank === null ? null : Array(rank).fill(null));
