import { activate } from './nn-util';
import type { Handler, HandlerContext, HandlerTable } from './registry';

/** An activation from the shared table (also used by fused convolutions and matmuls). */
const shared = (op: string): Handler => (ctx: HandlerContext) => ctx.output(0, activate(ctx, op, ctx.input(0), { alpha: ctx.attrs.float('alpha', 0.2) }));

/** An ONNX op with the same meaning (the softmaxes: over the last axis, as in TensorFlow). */
const same = (onnxOp: string, attrs = {}): Handler => (ctx: HandlerContext) => ctx.output(0, ctx.emit(onnxOp, [ctx.input(0)], attrs)[0]!);

/** Prelu (TF.js's op): the alpha tensor broadcasts from the last axis, as in ONNX PRelu. */
const prelu: Handler = (ctx) => ctx.output(0, activate(ctx, 'Prelu', ctx.input(0), { slope: ctx.input(1) }));

/** Activation functions. */
export const activationHandlers: HandlerTable = {
  Relu: shared('Relu'),
  Relu6: shared('Relu6'),
  Elu: shared('Elu'),
  Selu: shared('Selu'),
  LeakyRelu: shared('LeakyRelu'),
  Sigmoid: shared('Sigmoid'),
  Tanh: shared('Tanh'),
  Prelu: prelu,
  Softmax: same('Softmax', { axis: { i: -1 } }),
  LogSoftmax: same('LogSoftmax', { axis: { i: -1 } }),
  Softplus: same('Softplus'),
  Softsign: same('Softsign'),
  Erf: same('Erf'),
};
