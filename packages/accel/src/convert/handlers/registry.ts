import type { Attr, OnnxGraph, Tensor, TypeInfo } from '../../onnx/graph';
import type { TfAttrs } from '../tf/attrs';
import type { TfNode } from '../tf/graph';

/**
 * What an op handler sees while it maps one TensorFlow node: its inputs as ONNX tensor names,
 * their constant values and types when known, its attributes, and ways to emit ONNX nodes.
 *
 * Handlers keep TensorFlow's layout: a tensor that is NHWC in TensorFlow is NHWC in the ONNX
 * graph they write. An NCHW-only ONNX op is wrapped in Transposes (`ctx.toNchw`/`ctx.toNhwc`);
 * the transpose pass later pushes those through layout-agnostic ops and cancels the pairs.
 */
export interface HandlerContext {
  readonly node: TfNode;
  readonly attrs: TfAttrs;
  readonly graph: OnnxGraph;
  /** Number of data inputs. */
  readonly inputCount: number;
  /** ONNX tensor name of data input `i`. */
  input(i: number): string;
  /** Constant value of input `i` when it is known at conversion time. */
  constant(i: number): Tensor | undefined;
  /** Like `constant`, but fails the node with a clear reason when the value is not constant. */
  requireConstant(i: number, what: string): Tensor;
  /** Element type and shape of input `i` (shape null when the rank is unknown). */
  type(i: number): TypeInfo;
  /** Type of any ONNX tensor emitted so far. */
  typeOf(tensor: string): TypeInfo;
  /**
   * Adds an ONNX node; returns its output names (`outputs`: how many, default 1). Nodes whose
   * inputs are all constant are folded at once, so their outputs read back through `constant`.
   */
  emit(op: string, inputs: string[], attrs?: Record<string, Attr>, outputs?: number): string[];
  /** Adds a constant; returns its tensor name. */
  constTensor(value: Tensor, suffix?: string): string;
  /** A 1-D int64 constant (axes, shapes, pads, slice bounds). */
  int64s(values: number[], suffix?: string): string;
  /** A scalar or 1-D float32 constant. */
  float32s(values: number[], dims?: number[], suffix?: string): string;
  /** Transpose NHWC -> NCHW (rank 4; rank 5 NDHWC -> NCDHW; rank 3 NWC -> NCW). */
  toNchw(tensor: string, rank?: number): string;
  /** Transpose NCHW -> NHWC (inverse of toNchw). */
  toNhwc(tensor: string, rank?: number): string;
  /** Binds TensorFlow output `index` of this node to an ONNX tensor. */
  output(index: number, tensor: string): void;
  /** Fails the conversion of this node with a reason naming what is unsupported. */
  fail(reason: string): never;
}

export type Handler = (ctx: HandlerContext) => void;

/** One op family's handlers, by TensorFlow op type. */
export type HandlerTable = Record<string, Handler>;
