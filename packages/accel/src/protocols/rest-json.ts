import { AccelError } from '../errors';
import type { Signature, SignatureTensor } from '../runtime/signature';
import { fromNumbers, isNumericDType, type NamedTensors, type Tensor } from '../runtime/tensor';

/** A TF Serving REST predict body, parsed and turned into named tensors. */
export interface RestPredictRequest {
  signatureName?: string;
  format: 'row' | 'columnar';
  inputs: NamedTensors;
}

const B64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Deepest JSON a request may nest: tensors of up to 32 dimensions, inside the request's own objects. */
export const MAX_JSON_DEPTH = 40;

function bad(reason: string): AccelError {
  return new AccelError('ACCEL_ERR_BAD_REQUEST', { reason });
}

function isB64(v: unknown): v is { b64: string } {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 1 && 'b64' in v;
}

function isNamedObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !isB64(v);
}

/** Walks nested arrays: rectangular shape and flat leaves, or a 400 naming the input. */
function flatten(input: string, value: unknown): { shape: number[]; leaves: unknown[] } {
  const shape: number[] = [];
  let probe: unknown = value;
  while (Array.isArray(probe)) {
    shape.push(probe.length);
    probe = probe[0];
  }
  const leaves: unknown[] = [];
  const walk = (v: unknown, depth: number): void => {
    if (depth === shape.length) {
      if (Array.isArray(v)) throw bad(`input "${input}" is ragged: nesting deeper than its first element`);
      leaves.push(v);
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[depth]) {
      throw bad(`input "${input}" is ragged: every list at depth ${depth} must have ${shape[depth]} elements`);
    }
    for (const x of v) walk(x, depth + 1);
  };
  walk(value, 0);
  return { shape, leaves };
}

function decodeB64(input: string, s: string): Uint8Array {
  const clean = s.replace(/\s+/g, '');
  if (clean.length % 4 === 1 || !B64.test(clean)) throw bad(`input "${input}" has invalid base64 in {"b64": ...}`);
  return Buffer.from(clean, 'base64');
}

/** One JSON value (nested lists of numbers, or of {"b64"} / strings) as a tensor for `target`. */
export function jsonToTensor(input: string, value: unknown, target: SignatureTensor | undefined): Tensor {
  const { shape, leaves } = flatten(input, value);
  if (leaves.length > 0 && leaves.every((l) => isB64(l) || typeof l === 'string')) {
    return { dtype: 'string', shape, data: leaves.map((l) => (isB64(l) ? decodeB64(input, l.b64) : Buffer.from(l as string))) };
  }
  const dtype = target && isNumericDType(target.dtype) ? target.dtype : 'float32';
  for (const l of leaves) {
    if (typeof l !== 'number' && typeof l !== 'boolean') {
      throw bad(`input "${input}" holds ${JSON.stringify(l)?.slice(0, 40)}; expected numbers, or {"b64": ...} for bytes`);
    }
  }
  return { dtype, shape, data: fromNumbers(dtype, leaves as number[]) };
}

/**
 * Refuses JSON nested deeper than {@link MAX_JSON_DEPTH}, before anything recurses over it (a
 * 1 MB body can nest 500,000 levels: enough to overflow the stack of any recursive walk).
 */
export function checkJsonDepth(value: unknown): void {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (depth > MAX_JSON_DEPTH) throw bad(`the JSON nests deeper than ${MAX_JSON_DEPTH} levels`);
    for (const child of Array.isArray(v) ? v : Object.values(v as object)) {
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
    }
  }
}

/**
 * Parses a predict body in row (`instances`) or columnar (`inputs`) format. A bare value (not
 * an object of names) goes to the model's single input; base64 values to its `images` alias.
 */
export function parsePredictBody(body: unknown, sig: Signature): RestPredictRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw bad('the body must be a JSON object');
  checkJsonDepth(body);
  const b = body as Record<string, unknown>;
  if (b.signature_name !== undefined && typeof b.signature_name !== 'string') throw bad('"signature_name" must be a string');
  const hasInstances = b.instances !== undefined;
  const hasInputs = b.inputs !== undefined;
  if (hasInstances === hasInputs) throw bad('the body must hold exactly one of "instances" (row format) or "inputs" (columnar format)');
  const byAlias = new Map(sig.inputs.map((s) => [s.alias, s]));
  const single = (isBytes: boolean): string => {
    const graphInputs = new Set(sig.inputs.map((s) => s.tensorName));
    if (graphInputs.size !== 1) {
      throw bad(`the model has ${graphInputs.size} inputs (${[...byAlias.keys()].join(', ')}); name them in each value`);
    }
    const image = sig.inputs.find((s) => s.encodedImage);
    return isBytes && image ? image.alias : sig.inputs.find((s) => !s.encodedImage)!.alias;
  };
  const tensor = (name: string, value: unknown) => jsonToTensor(name, value, byAlias.get(name));
  const looksLikeBytes = (v: unknown): boolean => isB64(v) || typeof v === 'string' || (Array.isArray(v) && v.length > 0 && looksLikeBytes(v[0]));

  if (hasInputs) {
    const inputs: NamedTensors = {};
    if (isNamedObject(b.inputs)) {
      for (const [name, value] of Object.entries(b.inputs)) inputs[name] = tensor(name, value);
    } else {
      const name = single(looksLikeBytes(b.inputs));
      inputs[name] = tensor(name, b.inputs);
    }
    return { signatureName: b.signature_name as string | undefined, format: 'columnar', inputs };
  }
  if (!Array.isArray(b.instances)) throw bad('"instances" must be a list with one element per instance');
  if (b.instances.length === 0) throw new AccelError('ACCEL_ERR_EMPTY_BATCH', { input: 'instances' });
  const rows = b.instances as unknown[];
  const inputs: NamedTensors = {};
  if (isNamedObject(rows[0])) {
    const names = Object.keys(rows[0]);
    for (const [i, row] of rows.entries()) {
      if (!isNamedObject(row) || Object.keys(row).length !== names.length || !names.every((n) => n in row)) {
        throw bad(`instance ${i} must name the same inputs as instance 0 (${names.join(', ')})`);
      }
    }
    for (const name of names) inputs[name] = tensor(name, rows.map((r) => (r as Record<string, unknown>)[name]));
  } else {
    const name = single(looksLikeBytes(rows[0]));
    inputs[name] = tensor(name, rows);
  }
  return { signatureName: b.signature_name as string | undefined, format: 'row', inputs };
}

/** A tensor as nested JSON lists (bytes as {"b64"}), split along the batch axis when `rows`. */
export function tensorToJson(t: Tensor): unknown {
  const leaves: unknown[] =
    t.dtype === 'string'
      ? t.data.map((b) => ({ b64: Buffer.from(b).toString('base64') }))
      : typeof t.data[0] === 'bigint'
        ? Array.from(t.data as BigInt64Array, Number)
        : Array.from(t.data as Float32Array);
  if (t.shape.length === 0) return leaves[0];
  let pos = 0;
  const build = (depth: number): unknown[] => {
    const n = t.shape[depth];
    const out = new Array<unknown>(n);
    for (let i = 0; i < n; i++) out[i] = depth === t.shape.length - 1 ? leaves[pos++] : build(depth + 1);
    return out;
  };
  return build(0);
}

/** The predict response body: `predictions` (row) or `outputs` (columnar), as TF Serving shapes them. */
export function predictResponseBody(format: 'row' | 'columnar', outputs: NamedTensors): unknown {
  const names = Object.keys(outputs);
  const json = Object.fromEntries(names.map((n) => [n, tensorToJson(outputs[n])]));
  if (format === 'columnar') return { outputs: names.length === 1 ? json[names[0]] : json };
  if (names.length === 1) return { predictions: json[names[0]] };
  const batch = Math.min(...names.map((n) => (outputs[n].shape.length ? outputs[n].shape[0] : 0)));
  return {
    predictions: Array.from({ length: batch }, (_, i) => Object.fromEntries(names.map((n) => [n, (json[n] as unknown[])[i]]))),
  };
}
