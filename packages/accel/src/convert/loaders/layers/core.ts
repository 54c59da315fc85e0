import { tfAttr } from '../../tf/attrs';
import { applyActivation } from './activations';
import { attrs, type KTensor, type LayerCall, type LoweringTable } from './lowering';

const identity = (call: LayerCall): KTensor => {
  const x = call.input();
  return { name: call.op('Identity', [x.name]), shape: x.shape };
};

/** Reshape to `dims` (batch first, -1 allowed once). */
export function reshape(call: LayerCall, x: KTensor, dims: number[]): KTensor {
  if (dims.filter((d) => d < 0).length > 1) call.fail(`cannot reshape [${x.shape}] to [${dims}]: more than one unknown dim`);
  const y = call.op('Reshape', [x.name, call.ints(dims, 'shape')], { Tshape: attrs.int32 });
  return { name: y, shape: dims };
}

/** Non-batch dims product, or -1 when one of them is unknown. */
function volume(dims: number[]): number {
  return dims.some((d) => d < 0) ? -1 : dims.reduce((a, b) => a * b, 1);
}

/** Dense: MatMul on rank 2; on higher rank, MatMul over the last axis between two Reshapes. */
function dense(call: LayerCall): KTensor {
  const x = call.input();
  const kernel = call.weightValue('kernel');
  const [inDim, units] = kernel.dims as [number, number];
  const flat = x.shape.length === 2 ? x : reshape(call, x, [-1, inDim]);
  let y: KTensor = { name: call.op('MatMul', [flat.name, call.weight('kernel')], { transpose_a: tfAttr.b(false), transpose_b: tfAttr.b(false) }), shape: [flat.shape[0]!, units] };
  if (call.cfg.bool('use_bias', true)) y = { name: call.op('BiasAdd', [y.name, call.weight('bias')], attrs.nhwc), shape: y.shape };
  if (x.shape.length !== 2) y = reshape(call, y, [-1, ...x.shape.slice(1, -1), units]);
  return applyActivation(call, y, call.cfg.get('activation'));
}

/** Flatten (channels_first data is moved to channels_last first, as Keras does). */
function flatten(call: LayerCall): KTensor {
  let x = call.input();
  const rank = x.shape.length;
  if (call.cfg.str('data_format', 'channels_last') === 'channels_first' && rank > 2) {
    const perm = [0, ...[...Array(rank).keys()].slice(2), 1];
    x = { name: call.op('Transpose', [x.name, call.ints(perm, 'perm')], { Tperm: attrs.int32 }), shape: perm.map((p) => x.shape[p]!) };
  }
  const inner = volume(x.shape.slice(1));
  return reshape(call, x, inner < 0 && x.shape[0]! >= 0 ? [x.shape[0]!, -1] : [-1, inner]);
}

/** Reshape to target_shape; a -1 in it is resolved from the input's static shape when possible. */
function reshapeLayer(call: LayerCall): KTensor {
  const x = call.input();
  const target = (call.cfg.get('target_shape') as number[] | undefined)?.map((d) => (d === null ? -1 : Number(d)));
  if (!target) call.fail('target_shape is missing');
  const known = volume(x.shape.slice(1));
  const fixed = volume(target.filter((d) => d >= 0));
  const resolved = target.includes(-1) && known >= 0 ? target.map((d) => (d < 0 ? known / fixed : d)) : target;
  return reshape(call, x, [-1, ...resolved]);
}

function permute(call: LayerCall): KTensor {
  const x = call.input();
  const dims = (call.cfg.get('dims') as number[] | undefined) ?? call.fail('dims is missing');
  const perm = [0, ...dims.map(Number)];
  const y = call.op('Transpose', [x.name, call.ints(perm, 'perm')], { Tperm: attrs.int32 });
  return { name: y, shape: perm.map((p) => x.shape[p]!) };
}

/** x * scale + offset (scale and offset may be per-channel lists). */
function rescaling(call: LayerCall): KTensor {
  const x = call.input();
  const list = (key: string, dflt: number): number[] => {
    const v = call.cfg.get(key);
    return Array.isArray(v) ? v.map(Number) : [typeof v === 'number' ? v : dflt];
  };
  const scale = list('scale', 1);
  const offset = list('offset', 0);
  const y = call.op('Mul', [x.name, call.floats(scale, 'scale', scale.length > 1 ? [scale.length] : [])]);
  return { name: call.op('AddV2', [y, call.floats(offset, 'offset', offset.length > 1 ? [offset.length] : [])]), shape: x.shape };
}

/** Core layers: Dense, shape changes, and layers that do nothing at inference. */
export const coreLayers: LoweringTable = {
  Dense: dense,
  Flatten: flatten,
  Reshape: reshapeLayer,
  Permute: permute,
  Rescaling: rescaling,
  Dropout: identity,
  SpatialDropout1D: identity,
  SpatialDropout2D: identity,
  SpatialDropout3D: identity,
  GaussianNoise: identity,
  GaussianDropout: identity,
  AlphaDropout: identity,
  ActivityRegularization: identity,
};
