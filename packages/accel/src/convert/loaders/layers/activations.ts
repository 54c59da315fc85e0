import { tfAttr } from '../../tf/attrs';
import { normAxis, type KTensor, type LayerCall, type LoweringTable } from './lowering';

/** An activation function: input tensor name -> output tensor name. */
type ActivationFn = (call: LayerCall, x: string) => string;

const unary =
  (op: string): ActivationFn =>
  (call, x) =>
    call.op(op, [x]);

/** clip(a*x + 0.5, 0, 1): Keras 2 and TF.js use a = 0.2, Keras 3 uses a = 1/6. */
const hardSigmoid: ActivationFn = (call, x) => {
  const a = call.emitter.kerasVersion.startsWith('3') ? 1 / 6 : 0.2;
  const y = call.op('AddV2', [call.op('Mul', [x, call.floats([a], 'slope')]), call.floats([0.5], 'shift')]);
  return call.op('Minimum', [call.op('Maximum', [y, call.floats([0], 'zero')]), call.floats([1], 'one')]);
};

const swish: ActivationFn = (call, x) => call.op('Mul', [x, call.op('Sigmoid', [x])]);

const ACTIVATIONS: Record<string, ActivationFn> = {
  linear: (_call, x) => x,
  relu: unary('Relu'),
  relu6: unary('Relu6'),
  sigmoid: unary('Sigmoid'),
  tanh: unary('Tanh'),
  elu: unary('Elu'),
  selu: unary('Selu'),
  softplus: unary('Softplus'),
  exponential: unary('Exp'),
  softmax: unary('Softmax'),
  log_softmax: unary('LogSoftmax'),
  softsign: (call, x) => call.op('RealDiv', [x, call.op('AddV2', [call.op('Abs', [x]), call.floats([1], 'one')])]),
  swish,
  silu: swish,
  hard_sigmoid: hardSigmoid,
  mish: (call, x) => call.op('Mul', [x, call.op('Tanh', [call.op('Softplus', [x])])]),
  gelu: (call, x) => {
    const erf = call.op('Erf', [call.op('Mul', [x, call.floats([Math.SQRT1_2], 'inv_sqrt2')])]);
    return call.op('Mul', [x, call.op('Mul', [call.op('AddV2', [erf, call.floats([1], 'one')]), call.floats([0.5], 'half')])]);
  },
  gelu_new: (call, x) => {
    const cube = call.op('Mul', [call.op('Mul', [x, x]), x]);
    const inner = call.op('AddV2', [x, call.op('Mul', [cube, call.floats([0.044715], 'c')])]);
    const t = call.op('Tanh', [call.op('Mul', [inner, call.floats([Math.sqrt(2 / Math.PI)], 'k')])]);
    return call.op('Mul', [call.op('Mul', [x, call.floats([0.5], 'half')]), call.op('AddV2', [t, call.floats([1], 'one')])]);
  },
};

/** The activation name in a config: a string, or a Keras 3 / TF.js serialized function object. */
function activationName(v: unknown): string {
  if (v === undefined || v === null) return 'linear';
  if (typeof v === 'string') return v;
  const o = v as { config?: unknown; class_name?: unknown; registered_name?: unknown };
  const name = typeof o.config === 'string' ? o.config : typeof o.class_name === 'string' ? o.class_name : o.registered_name;
  return typeof name === 'string' ? name : JSON.stringify(v);
}

/** camelCase (TF.js class names such as hardSigmoid) -> snake_case. */
function snake(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
}

/** Applies the activation named in a config value (the `activation` field of most layers). */
export function applyActivation(call: LayerCall, x: KTensor, activation: unknown): KTensor {
  const name = snake(activationName(activation));
  const fn = ACTIVATIONS[name];
  if (!fn) call.fail(`activation "${name}" is not supported (supported: ${Object.keys(ACTIVATIONS).join(', ')})`);
  return { name: fn(call, x.name), shape: x.shape };
}

/** Keras ReLU layer: relu with optional max_value, negative_slope, threshold. */
function reluLayer(call: LayerCall): KTensor {
  const x = call.input();
  const max = call.cfg.has('max_value') ? call.cfg.num('max_value', 0) : undefined;
  const slope = call.cfg.num('negative_slope', 0);
  const threshold = call.cfg.num('threshold', 0);
  if (slope === 0 && threshold === 0) {
    if (max === 6) return { name: call.op('Relu6', [x.name]), shape: x.shape };
    const r = call.op('Relu', [x.name]);
    return { name: max === undefined ? r : call.op('Minimum', [r, call.floats([max], 'max_value')]), shape: x.shape };
  }
  // y = x where x >= threshold, else slope * (x - threshold); then capped at max_value.
  const below = call.op('Mul', [call.op('Sub', [x.name, call.floats([threshold], 'threshold')]), call.floats([slope], 'slope')]);
  const keep = call.op('GreaterEqual', [x.name, call.floats([threshold], 'threshold')]);
  let y = call.op('Select', [keep, x.name, below]);
  if (max !== undefined) y = call.op('Minimum', [y, call.floats([max], 'max_value')]);
  return { name: y, shape: x.shape };
}

/** ELU with any alpha: relu(x) + alpha * elu(min(x, 0)). */
function eluLayer(call: LayerCall): KTensor {
  const x = call.input();
  const alpha = call.cfg.num('alpha', 1);
  if (alpha === 1) return { name: call.op('Elu', [x.name]), shape: x.shape };
  const neg = call.op('Elu', [call.op('Minimum', [x.name, call.floats([0], 'zero')])]);
  return { name: call.op('AddV2', [call.op('Relu', [x.name]), call.op('Mul', [neg, call.floats([alpha], 'alpha')])]), shape: x.shape };
}

/** Softmax over any axis: the TF op works on the last one, so other axes swap through it. */
function softmaxLayer(call: LayerCall): KTensor {
  const x = call.input();
  const rank = x.shape.length;
  const axis = normAxis(call.cfg.num('axis', -1), rank);
  if (axis === rank - 1) return { name: call.op('Softmax', [x.name]), shape: x.shape };
  const perm = [...Array(rank).keys()];
  [perm[axis], perm[rank - 1]] = [rank - 1, axis];
  const t = call.op('Transpose', [x.name, call.ints(perm, 'perm')], { Tperm: tfAttr.type('DT_INT32') });
  return { name: call.op('Transpose', [call.op('Softmax', [t]), call.ints(perm, 'perm')], { Tperm: tfAttr.type('DT_INT32') }), shape: x.shape };
}

/** Activation layers, and the Activation layer itself. */
export const activationLayers: LoweringTable = {
  Activation: (call) => {
    const x = call.input();
    const y = applyActivation(call, x, call.cfg.get('activation'));
    return y.name === x.name ? { name: call.op('Identity', [x.name]), shape: x.shape } : y;
  },
  ReLU: reluLayer,
  ELU: eluLayer,
  LeakyReLU: (call) => {
    const x = call.input();
    // Keras 3 calls it negative_slope; Keras 2 and TF.js alpha (default 0.3).
    const alpha = call.cfg.num('negative_slope', call.cfg.num('alpha', 0.3));
    return { name: call.op('LeakyRelu', [x.name], { alpha: tfAttr.f(alpha) }), shape: x.shape };
  },
  PReLU: (call) => {
    const x = call.input();
    return { name: call.op('Prelu', [x.name, call.weight('alpha')]), shape: x.shape };
  },
  ThresholdedReLU: (call) => {
    const x = call.input();
    const over = call.op('Greater', [x.name, call.floats([call.cfg.num('theta', 1)], 'theta')]);
    return { name: call.op('Mul', [x.name, call.op('Cast', [over], { SrcT: tfAttr.type('DT_BOOL'), DstT: tfAttr.type('DT_FLOAT') })]), shape: x.shape };
  },
  Softmax: softmaxLayer,
};
