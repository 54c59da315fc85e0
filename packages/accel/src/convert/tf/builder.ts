import { tensor as makeTensor, type DType, type Tensor } from '../../onnx/graph';
import { tfAttr } from './attrs';
import { dtypeToTf, shapeToTf, type TfAttrValue, type TfGraph, type TfNode } from './graph';

/**
 * Writes TensorFlow graphs in code, in the same form the loaders produce: for tests of op
 * handlers and passes, and for lowering Keras layers.
 *
 * @example
 * const b = new TfGraphBuilder();
 * const x = b.placeholder('x', [-1, 8, 8, 3]);
 * const w = b.const('w', 'float32', [3, 3, 3, 4], weights);
 * const y = b.op('Conv2D', 'conv', [x, w], { strides: tfAttr.ints([1, 1, 1, 1]), padding: tfAttr.s('SAME') });
 * const graph = b.build([x], [y]);
 */
export class TfGraphBuilder {
  private readonly nodes: TfNode[] = [];
  private readonly consts = new Map<string, Tensor>();

  /** Adds a Placeholder; returns its tensor name (`name:0`). */
  placeholder(name: string, shape: number[], dtype: DType = 'float32'): string {
    this.nodes.push({ name, op: 'Placeholder', inputs: [], attr: { dtype: tfAttr.type(dtypeToTf(dtype)), shape: tfAttr.shape(shape) } });
    return `${name}:0`;
  }

  /** Adds a Const from a Tensor or from plain values. */
  const(name: string, dtype: Exclude<DType, 'string'>, dims: number[], values?: ArrayLike<number>): string;
  const(name: string, value: Tensor): string;
  const(name: string, a: Exclude<DType, 'string'> | Tensor, dims?: number[], values?: ArrayLike<number>): string {
    const value = typeof a === 'string' ? makeTensor(a, dims!, values ?? new Array(dims!.reduce((x, y) => x * y, 1)).fill(0)) : a;
    this.consts.set(name, value);
    this.nodes.push({
      name,
      op: 'Const',
      inputs: [],
      attr: { dtype: tfAttr.type(dtypeToTf(value.dtype)), value: { tensor: { dtype: dtypeToTf(value.dtype), tensorShape: shapeToTf(value.dims) } } },
    });
    return `${name}:0`;
  }

  /** Adds an op node; `T` defaults to DT_FLOAT when not given. Returns the name of output 0. */
  op(op: string, name: string, inputs: string[], attr: Record<string, TfAttrValue> = {}): string {
    this.nodes.push({ name, op, inputs: inputs.map((i) => i.replace(/:0$/, '')), attr: { T: tfAttr.type('DT_FLOAT'), ...attr } });
    return `${name}:0`;
  }

  build(inputs: string[], outputs: string[], format = 'code'): TfGraph {
    return { nodes: [...this.nodes], consts: new Map(this.consts), format, signature: { inputs, outputs } };
  }
}
