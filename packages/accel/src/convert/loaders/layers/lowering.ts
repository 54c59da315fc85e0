import { AccelError } from '../../../errors';
import { tensor, type Tensor } from '../../../onnx/graph';
import { tfAttr } from '../../tf/attrs';
import { TfGraphBuilder } from '../../tf/builder';
import type { TfAttrValue } from '../../tf/graph';
import type { KerasLayer } from './topology';

/** A tensor of the lowered graph: its TF name (`node:0`) and static shape (-1 where unknown). */
export interface KTensor {
  name: string;
  shape: number[];
}

/** Typed reads of a Keras layer config (snake_case keys, as every saver writes them). */
export class LayerConfig {
  constructor(private readonly raw: Record<string, unknown>) {}

  has(key: string): boolean {
    return this.raw[key] !== undefined && this.raw[key] !== null;
  }

  get(key: string): unknown {
    return this.raw[key];
  }

  num(key: string, dflt: number): number {
    const v = this.raw[key];
    return typeof v === 'number' ? v : Array.isArray(v) && typeof v[0] === 'number' ? v[0] : dflt;
  }

  bool(key: string, dflt: boolean): boolean {
    const v = this.raw[key];
    return typeof v === 'boolean' ? v : dflt;
  }

  str(key: string, dflt: string): string {
    const v = this.raw[key];
    return typeof v === 'string' ? v : dflt;
  }

  /** An int or a list of `n` ints (kernel_size, strides, pool_size...): always `n` numbers. */
  tuple(key: string, dflt: number[], n = dflt.length): number[] {
    const v = this.raw[key];
    if (typeof v === 'number') return new Array<number>(n).fill(v);
    if (Array.isArray(v) && v.length === n) return v.map(Number);
    return dflt;
  }
}

/**
 * Writes the lowered graph: unique node names, weights as Const nodes (each once, named
 * `<layer>/<weight>`), ops named `<layer>/<Op>`.
 */
export class LayersEmitter {
  readonly builder = new TfGraphBuilder();
  private readonly names = new Set<string>();
  private readonly weightConsts = new Map<string, string>();

  constructor(
    private readonly weights: Map<string, Tensor>,
    /** `keras_version` of the file: a few activations changed meaning in Keras 3. */
    readonly kerasVersion: string,
  ) {}

  unique(base: string): string {
    let name = base;
    for (let k = 1; this.names.has(name); k++) name = `${base}_${k}`;
    this.names.add(name);
    return name;
  }

  /** The manifest name of weight `weight` of layer `layer`: `layer/weight`, possibly under a scope. */
  findWeight(layer: string, weight: string): string | undefined {
    const exact = `${layer}/${weight}`;
    if (this.weights.has(exact)) return exact;
    const scoped = [...this.weights.keys()].filter((n) => n.endsWith(`/${exact}`));
    return scoped.length === 1 ? scoped[0] : undefined;
  }

  weightValue(name: string): Tensor {
    return this.weights.get(name)!;
  }

  /** A Const node for a manifest weight, shared by every call of the layer. */
  weightConst(name: string): string {
    let out = this.weightConsts.get(name);
    if (!out) {
      out = this.builder.const(this.unique(name), this.weights.get(name)!);
      this.weightConsts.set(name, out);
    }
    return out;
  }
}

/** What a layer lowering sees: the layer, its input tensors for this call, ways to emit ops. */
export class LayerCall {
  readonly cfg: LayerConfig;

  constructor(
    readonly layer: KerasLayer,
    readonly inputs: KTensor[],
    readonly emitter: LayersEmitter,
  ) {
    this.cfg = new LayerConfig(layer.config);
  }

  get name(): string {
    return this.layer.name;
  }

  input(i = 0): KTensor {
    const t = this.inputs[i];
    if (!t) this.fail(`expects input ${i}, got ${this.inputs.length} input(s)`);
    return t;
  }

  /** Emits a TF op named `<layer>/<op>` (or `<layer>/<suffix>`); returns output 0's name. */
  op(op: string, inputs: string[], attr: Record<string, TfAttrValue> = {}, suffix = op): string {
    return this.emitter.builder.op(op, this.emitter.unique(`${this.name}/${suffix}`), inputs, attr);
  }

  /** A 1-D (or scalar, with `dims` []) int32 Const: shapes, axes, paddings. */
  ints(values: number[], suffix: string, dims = [values.length]): string {
    return this.emitter.builder.const(this.emitter.unique(`${this.name}/${suffix}`), tensor('int32', dims, values));
  }

  /** A float32 Const (scalar by default). */
  floats(values: ArrayLike<number>, suffix: string, dims: number[] = []): string {
    return this.emitter.builder.const(this.emitter.unique(`${this.name}/${suffix}`), tensor('float32', dims, values));
  }

  hasWeight(weight: string): boolean {
    return this.emitter.findWeight(this.name, weight) !== undefined;
  }

  private weightName(weight: string): string {
    const name = this.emitter.findWeight(this.name, weight);
    if (!name) this.fail(`weight "${this.name}/${weight}" is not in the weights manifest`);
    return name;
  }

  /** The Const tensor name of one of this layer's weights. */
  weight(weight: string): string {
    return this.emitter.weightConst(this.weightName(weight));
  }

  weightValue(weight: string): Tensor {
    return this.emitter.weightValue(this.weightName(weight));
  }

  fail(reason: string): never {
    throw new AccelError('ACCEL_ERR_CONVERT_NODE', { node: this.name, op: this.layer.className, reason });
  }

  /** Fails unless the layer works on channels-last data. */
  requireChannelsLast(): void {
    const format = this.cfg.str('data_format', 'channels_last');
    if (format !== 'channels_last') this.fail(`data_format ${format} is not supported; re-export the model with channels_last`);
  }
}

/** Lowers one call of a layer to TF ops; returns its output tensor(s). */
export type Lowering = (call: LayerCall) => KTensor | KTensor[];

/** One layer family's lowerings, by Keras class name. */
export type LoweringTable = Record<string, Lowering>;

/** Shared TF attribute sets. */
export const attrs = {
  nhwc: { data_format: tfAttr.s('NHWC') },
  int32: tfAttr.type('DT_INT32'),
};

/** Resolves a possibly negative axis against a rank. */
export function normAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}
