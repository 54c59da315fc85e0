import { HUGE_DIMS, LIMIT, PIXELS, R_BAD, R_MANGLED, R_MISSING, R_OK, SIZE, deep, nested, oversized, type Allowed, type Case, type Pool, type Rand } from './fuzz';

// REST requests for the fuzz test: TF Serving :predict and KServe /v2/.../infer, as bodies.

// ---------------------------------------------------------------------------
// TF Serving REST :predict
// ---------------------------------------------------------------------------
export function tfRestValid(r: Rand, pool: Pool): { path: string; body: Record<string, unknown> } {
  const rows = 1 + r.int(3);
  if (r.chance(0.3)) {
    const pairs = Array.from({ length: rows }, () => ({ a: r.floats(2), b: r.floats(2) }));
    return { path: '/v1/models/pair:predict', body: r.chance(0.5) ? { instances: pairs } : { inputs: { a: pairs.map((p) => p.a), b: pairs.map((p) => p.b) } } };
  }
  const path = r.chance(0.3) ? '/v1/models/tiny/versions/1:predict' : '/v1/models/tiny:predict';
  if (r.chance(0.5)) return { path, body: { instances: Array.from({ length: rows }, () => ({ b64: r.pick(pool.good).toString('base64') })) } };
  return { path, body: { [r.chance(0.5) ? 'instances' : 'inputs']: nested(r.floats(rows * PIXELS), [rows, 3, SIZE, SIZE]) } };
}

/** A REST case whose body is `body` as JSON. */
const json = (path: string, body: unknown, kind: string, allowed: Allowed = R_BAD): Case => ({ kind, allowed, rest: { path, body: JSON.stringify(body) } });

export function tfRestCase(r: Rand, pool: Pool): Case {
  const tiny = '/v1/models/tiny:predict';
  switch (r.int(15)) {
    case 0: {
      const v = tfRestValid(r, pool);
      return json(v.path, v.body, 'valid', R_OK);
    }
    case 1: {
      const text = JSON.stringify(tfRestValid(r, pool).body);
      const variant = r.int(4);
      const body = variant === 0 ? text.slice(0, r.int(text.length)) : variant === 1 ? text.replace(/\d/, 'NaN') : variant === 2 ? r.bytes(r.int(200)).toString('latin1') : `${text}}`;
      return { kind: 'invalid JSON', allowed: R_BAD, rest: { path: tiny, body } };
    }
    case 2: {
      const bad = r.pick(['!!!!', 'a', 'abcde', '====', 'ab=c', '\u00e9\u00e9\u00e9\u00e9', '-_-_']);
      return json(tiny, { instances: [{ b64: bad }] }, 'invalid base64');
    }
    case 3: {
      const v = tfRestValid(r, pool);
      return json(v.path, { ...v.body, [`x_${r.int(100)}`]: r.pick([1, 'two', null, { deep: [1] }]) }, 'unknown fields', R_OK);
    }
    case 4: {
      const body = r.pick<unknown>([
        { instances: 'abc' },
        { instances: [] },
        { instances: [[1, 2], [3]] },
        { instances: [1], inputs: [1] },
        {},
        [1, 2, 3],
        'text',
        null,
        { signature_name: 5, instances: [1] },
        { instances: [{ a: [1, 2] }, { b: [1, 2] }] },
        { inputs: { input: [[['x']]] } },
        { instances: [true, false] },
      ]);
      return json(r.chance(0.5) ? tiny : '/v1/models/pair:predict', body, 'wrong JSON types');
    }
    case 5: {
      const rank = 1 + r.int(5);
      const dims = Array.from({ length: rank }, () => 1 + r.int(4));
      const n = dims.reduce((a, b) => a * b, 1);
      const fits = rank === 4 && dims[1] === 3 && dims[2] === SIZE && dims[3] === SIZE;
      return json(tiny, { instances: nested(r.floats(n), dims) }, 'wrong shape', fits ? R_OK : R_BAD);
    }
    case 6: {
      const depth = r.pick([64, 1000, 10_000, 100_000, 400_000]);
      const body = r.chance(0.5) ? `{"instances": ${deep(depth, '1')}}` : `{"instances": [{"x": ${deep(depth, '1', true)}}]}`;
      return { kind: 'deep nesting', allowed: R_BAD, rest: { path: tiny, body } };
    }
    case 7:
      return json(tiny, { instances: Array.from({ length: 1 + r.int(3) }, () => ({ b64: pool.garbage(r).toString('base64') })) }, 'garbage images');
    case 8: {
      const kind = r.pick(['unknown model', 'unknown version', 'version label']);
      const path = kind === 'unknown model' ? `/v1/models/no-such-${r.int(1000)}:predict` : kind === 'unknown version' ? `/v1/models/tiny/versions/${3 + r.int(90)}:predict` : '/v1/models/tiny/labels/stable:predict';
      return json(path, { instances: [{ b64: pool.good[0].toString('base64') }] }, kind, R_MISSING);
    }
    case 9: {
      const path = r.pick(['/v1/models/tiny:classify', '/v1/models/tiny/versions/x:predict', '/v1/models/tiny/versions/-1:predict', '/v1/models/:predict', '/v1/models/tiny/metadata']);
      return json(path, { instances: [1] }, 'bad path', path.includes('versions/') ? R_BAD : R_MISSING);
    }
    case 10: {
      const rows = 65 + r.int(60);
      return json(tiny, { instances: new Array(rows).fill({ b64: pool.good[0].toString('base64') }) }, 'batch over --max-request-batch');
    }
    case 11:
      return { kind: 'over the body limit', allowed: ['413'], rest: { path: tiny, body: JSON.stringify({ instances: [{ b64: oversized(r).toString('base64') }] }) } };
    case 12: {
      const v = tfRestValid(r, pool);
      const type = r.pick(['text/plain', 'application/octet-stream', 'application/xml', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded', 'image/jpeg', 'application/json; charset=utf-16', '']);
      return { kind: 'wrong content type', allowed: ['200', '400'], rest: { path: v.path, body: JSON.stringify(v.body), type } };
    }
    case 13: {
      // JSON has no NaN or Infinity; 1e309 parses as Infinity.
      const text = JSON.stringify({ instances: [nested(r.floats(PIXELS).map((x) => (r.chance(0.1) ? 7777 * Math.sign(x) : x)), [3, SIZE, SIZE])] });
      return { kind: 'Inf floats (1e309)', allowed: R_OK, rest: { path: tiny, body: text.replaceAll('7777', '1e309') } };
    }
    default: {
      const text = JSON.stringify(tfRestValid(r, pool).body);
      const buf = Buffer.from(text);
      for (let i = 0, n = 1 + r.int(3); i < n; i++) buf[r.int(buf.length)] = r.int(256);
      return { kind: 'mangled JSON', allowed: R_MANGLED, rest: { path: tiny, body: buf } };
    }
  }
}

// ---------------------------------------------------------------------------
// KServe REST /v2/models/{name}/infer
// ---------------------------------------------------------------------------
export function kRestValid(r: Rand, pool: Pool): { path: string; body: Record<string, unknown> } {
  const rows = 1 + r.int(3);
  if (r.chance(0.3)) {
    const t = (name: string) => ({ name, datatype: 'FP32', shape: [rows, 2], data: r.chance(0.5) ? r.floats(rows * 2) : nested(r.floats(rows * 2), [rows, 2]) });
    return { path: '/v2/models/pair/infer', body: { inputs: [t('a'), t('b')] } };
  }
  const path = r.chance(0.3) ? '/v2/models/tiny/versions/1/infer' : '/v2/models/tiny/infer';
  if (r.chance(0.5)) {
    return { path, body: { inputs: [{ name: 'images', datatype: 'BYTES', shape: [rows], data: Array.from({ length: rows }, () => ({ b64: r.pick(pool.good).toString('base64') })) }] } };
  }
  return { path, body: { id: 'x', inputs: [{ name: 'input', datatype: 'FP32', shape: [rows, 3, SIZE, SIZE], data: r.floats(rows * PIXELS) }], ...(r.chance(0.3) ? { outputs: [{ name: 'probs' }] } : {}) } };
}

export function kserveRestCase(r: Rand, pool: Pool): Case {
  const tiny = '/v2/models/tiny/infer';
  const input = (extra: object) => ({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, SIZE, SIZE], ...extra }] });
  switch (r.int(15)) {
    case 0: {
      const v = kRestValid(r, pool);
      return json(v.path, v.body, 'valid', R_OK);
    }
    case 1: {
      const text = JSON.stringify(kRestValid(r, pool).body);
      const variant = r.int(3);
      const body = variant === 0 ? text.slice(0, r.int(text.length)) : variant === 1 ? text.replace(/\d/, 'Infinity') : r.bytes(1 + r.int(200)).toString('latin1');
      return { kind: 'invalid JSON', allowed: R_BAD, rest: { path: tiny, body } };
    }
    case 2:
      return json(tiny, { inputs: [{ name: 'images', datatype: 'BYTES', shape: [1], data: [{ b64: r.pick(['!!!!', 'a', 'abcde', '==', '\u00e9']) }] }] }, 'invalid base64');
    case 3: {
      const v = kRestValid(r, pool);
      return json(v.path, { ...v.body, [`x_${r.int(100)}`]: r.pick([1, 'two', null, [1]]), parameters: { whatever: true } }, 'unknown fields', R_OK);
    }
    case 4: {
      const body = r.pick<unknown>([
        { inputs: 'abc' },
        { inputs: [] },
        { inputs: [{ datatype: 'FP32', shape: [1], data: [1] }] },
        input({ datatype: 'FP32', data: 'x' }),
        input({ data: ['x'] }),
        input({ data: [true] }),
        input({ data: [1], parameters: { binary_data_size: 4 } }),
        input({ parameters: { binary_data_size: -1 } }),
        { inputs: [{ name: 'input', datatype: 'FP32', shape: 'x', data: [1] }] },
        { inputs: [{ name: 'input', datatype: 7, shape: [1], data: [1] }] },
        { id: 5, ...input({ data: r.floats(PIXELS) }) },
        { ...input({ data: r.floats(PIXELS) }), outputs: 'probs' },
        { ...input({ data: r.floats(PIXELS) }), outputs: [{ name: 'probs' }, { name: 'probs' }] },
        { inputs: [{ name: 'images', datatype: 'BYTES', shape: [1], data: [5] }] },
        [1],
        null,
      ]);
      return json(tiny, body, 'wrong JSON types');
    }
    case 5: {
      const rank = r.int(6);
      const dims = Array.from({ length: rank }, () => r.int(5));
      const n = dims.reduce((a, b) => a * b, 1);
      const fits = rank === 4 && dims[0] > 0 && dims[1] === 3 && dims[2] === SIZE && dims[3] === SIZE;
      return json(tiny, { inputs: [{ name: 'input', datatype: 'FP32', shape: dims, data: r.floats(r.chance(0.8) ? n : n + 1) }] }, 'wrong shape', fits ? ['200', '400'] : R_BAD);
    }
    case 6: {
      const depth = r.pick([64, 1000, 10_000, 100_000, 400_000]);
      const data = r.chance(0.5) ? deep(depth, '1') : `[${deep(depth, '1', true)}]`;
      return { kind: 'deep nesting', allowed: R_BAD, rest: { path: tiny, body: `{"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 3, ${SIZE}, ${SIZE}], "data": ${data}}]}` } };
    }
    case 7: {
      const items = Array.from({ length: 1 + r.int(3) }, () => pool.garbage(r));
      return json(tiny, { inputs: [{ name: 'images', datatype: 'BYTES', shape: [items.length], data: items.map((b) => ({ b64: b.toString('base64') })) }] }, 'garbage images');
    }
    case 8: {
      const kind = r.pick(['unknown model', 'unknown version']);
      const path = kind === 'unknown model' ? `/v2/models/no-such-${r.int(1000)}/infer` : `/v2/models/tiny/versions/${3 + r.int(90)}/infer`;
      return json(path, input({ data: r.floats(PIXELS) }), kind, R_MISSING);
    }
    case 9: {
      // The binary tensor data extension with lengths that do not add up.
      const head = Buffer.from(JSON.stringify(input({ parameters: { binary_data_size: PIXELS * 4 } })));
      const binary = r.bytes(PIXELS * 4 + r.pick([-8, -1, 1, 4]));
      const header = r.pick([String(head.length), String(head.length + 10_000), 'abc', '-1', String(head.length)]);
      return { kind: 'bad binary extension', allowed: R_BAD, rest: { path: tiny, body: Buffer.concat([head, binary]), type: 'application/octet-stream', headers: { 'inference-header-content-length': header } } };
    }
    case 10: {
      const rows = 65 + r.int(60);
      return json(tiny, { inputs: [{ name: 'input', datatype: 'FP32', shape: [rows, 3, SIZE, SIZE], data: new Array(rows * PIXELS).fill(0.5) }] }, 'batch over --max-request-batch');
    }
    case 11:
      return { kind: 'over the body limit', allowed: ['413'], rest: { path: tiny, body: JSON.stringify(input({ data: new Array(LIMIT / 2).fill(0) })) } };
    case 12: {
      const v = kRestValid(r, pool);
      const type = r.pick(['text/plain', 'application/octet-stream', 'application/xml', 'multipart/form-data; boundary=x', 'image/png', '']);
      return { kind: 'wrong content type', allowed: ['200', '400'], rest: { path: v.path, body: JSON.stringify(v.body), type } };
    }
    case 13:
      return json(tiny, { inputs: [{ name: 'input', datatype: 'FP32', shape: r.pick(HUGE_DIMS), data: [1] }] }, 'huge declared shape');
    default: {
      const buf = Buffer.from(JSON.stringify(kRestValid(r, pool).body));
      for (let i = 0, n = 1 + r.int(3); i < n; i++) buf[r.int(buf.length)] = r.int(256);
      return { kind: 'mangled JSON', allowed: R_MANGLED, rest: { path: tiny, body: buf } };
    }
  }
}
