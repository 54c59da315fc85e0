import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ModelRef, Runtime } from '../runtime/runtime';
import type { NamedTensors, Tensor } from '../runtime/tensor';
import {
  SERVER_METADATA,
  badRequest,
  defaultOutputs,
  dtypeFromKServe,
  jsonData,
  kserveDatatype,
  kserveRef,
  modelMetadata,
  modelReady,
  parseShape,
  rawBytes,
  tensorFromRaw,
  tensorFromValues,
} from './kserve-tensor';
import type { ServerMetrics } from './metrics';
import { checkJsonDepth } from './rest-json';
import { clientGone, sendError } from './tfserving-rest';

/** Header of the binary tensor data extension: byte length of the JSON part at the start of the body. */
export const HEADER_LENGTH = 'inference-header-content-length';

type Params = { name: string; version?: string };
type Json = Record<string, unknown>;

interface InferRequest {
  id?: string;
  inputs: NamedTensors;
  /** Outputs asked for, in answer order; empty: every output. */
  outputs: Array<{ name: string; binary: boolean }>;
  /** `parameters.binary_data_output`: the default for outputs that do not say. */
  binaryOutput: boolean;
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Splits the body into the JSON header and the binary tensor data after it. */
function splitBody(body: unknown, header: string | string[] | undefined): { json: Json; binary: Buffer } {
  const buf = Buffer.isBuffer(body) ? body : Buffer.alloc(0);
  let jsonLength = buf.length;
  if (header !== undefined) {
    const text = Array.isArray(header) ? header.join(',') : header;
    jsonLength = /^\d+$/.test(text.trim()) ? Number(text) : NaN;
    if (!(jsonLength <= buf.length)) {
      throw badRequest(`Inference-Header-Content-Length is "${text}"; it must be the byte length of the JSON header, at most ${buf.length} (the body's length)`);
    }
  }
  if (jsonLength === 0) throw badRequest('the body is empty; send an inference request as JSON');
  let json: unknown;
  try {
    json = JSON.parse(buf.subarray(0, jsonLength).toString('utf8'));
  } catch (err) {
    throw badRequest(`the body is not valid JSON (${(err as Error).message})`);
  }
  if (!isObject(json)) throw badRequest('the inference request must be a JSON object');
  checkJsonDepth(json);
  return { json, binary: buf.subarray(jsonLength) };
}

/** `$inference_request` (with binary tensor data) -> named tensors and the outputs asked for. */
export function parseInferRequest(body: unknown, header: string | string[] | undefined): InferRequest {
  const { json, binary } = splitBody(body, header);
  if (json.id !== undefined && typeof json.id !== 'string') throw badRequest('"id" must be a string');
  if (!Array.isArray(json.inputs) || json.inputs.length === 0) throw badRequest('"inputs" must be a non-empty list of tensors');
  const inputs: NamedTensors = {};
  let offset = 0;
  for (const [i, input] of json.inputs.entries()) {
    if (!isObject(input) || typeof input.name !== 'string' || !input.name) throw badRequest(`inputs[${i}] must be an object with a "name"`);
    const name = input.name;
    if (Object.hasOwn(inputs, name)) throw badRequest(`input "${name}" is given twice`);
    const dtype = dtypeFromKServe(name, input.datatype);
    const shape = parseShape(name, input.shape);
    const size = isObject(input.parameters) ? input.parameters.binary_data_size : undefined;
    if (size === undefined) {
      if (input.data === undefined) throw badRequest(`input "${name}" has neither "data" nor parameters.binary_data_size`);
      const values = Array.isArray(input.data) ? (input.data as unknown[]).flat(Infinity) : [input.data];
      inputs[name] = tensorFromValues(name, dtype, shape, values);
      continue;
    }
    if (input.data !== undefined) throw badRequest(`input "${name}" has both "data" and parameters.binary_data_size; send one`);
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
      throw badRequest(`input "${name}" has binary_data_size ${JSON.stringify(size)}; it must be a non-negative integer`);
    }
    if (offset + size > binary.length) {
      throw badRequest(`input "${name}" needs ${size} bytes of binary data at offset ${offset}, but the binary part has ${binary.length} bytes`);
    }
    inputs[name] = tensorFromRaw(name, dtype, shape, binary.subarray(offset, offset + size));
    offset += size;
  }
  if (offset !== binary.length) {
    throw badRequest(`the binary part has ${binary.length} bytes but the inputs' binary_data_size add up to ${offset}`);
  }
  const binaryOutput = isObject(json.parameters) && json.parameters.binary_data_output === true;
  if (json.outputs !== undefined && !Array.isArray(json.outputs)) throw badRequest('"outputs" must be a list of {"name": ...}');
  const outputs: InferRequest['outputs'] = [];
  for (const [i, out] of ((json.outputs as unknown[] | undefined) ?? []).entries()) {
    if (!isObject(out) || typeof out.name !== 'string') throw badRequest(`outputs[${i}] must be an object with a "name"`);
    if (outputs.some((o) => o.name === out.name)) throw badRequest(`output "${out.name}" is asked for twice`);
    const flag = isObject(out.parameters) ? out.parameters.binary_data : undefined;
    outputs.push({ name: out.name, binary: typeof flag === 'boolean' ? flag : binaryOutput });
  }
  return { id: json.id as string | undefined, inputs, outputs, binaryOutput };
}

/** `$inference_response`: JSON alone, or JSON then binary outputs with the header length to split them. */
function inferResponse(reply: FastifyReply, head: Json, asked: InferRequest['outputs'], outputs: NamedTensors): FastifyReply {
  const chunks: Buffer[] = [];
  head.outputs = asked.map(({ name, binary }) => {
    const t: Tensor = outputs[name];
    const entry: Json = { name, datatype: kserveDatatype(t.dtype), shape: t.shape };
    if (binary) {
      const bytes = rawBytes(t);
      chunks.push(bytes);
      entry.parameters = { binary_data_size: bytes.length };
    } else {
      entry.data = jsonData(t);
    }
    return entry;
  });
  if (chunks.length === 0) return reply.send(head);
  const text = Buffer.from(JSON.stringify(head));
  return reply
    .header(HEADER_LENGTH, String(text.length))
    .type('application/octet-stream')
    .send(Buffer.concat([text, ...chunks]));
}

/** KServe v2 / Open Inference Protocol REST API (health, metadata, infer with binary tensor data) over the runtime core. */
export function addKServeRest(app: FastifyInstance, runtime: Runtime, metrics: ServerMetrics): void {
  void app.register(async (scope) => {
    // Binary tensor data needs the raw body whatever the content type; the routes parse the JSON part.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

    scope.get('/v2', async () => SERVER_METADATA);
    scope.get('/v2/health/live', async () => ({ live: true }));
    scope.get('/v2/health/ready', async (_req, reply) => reply.code(runtime.ready ? 200 : 503).send({ ready: runtime.ready }));

    for (const prefix of ['/v2/models/:name', '/v2/models/:name/versions/:version']) {
      scope.get(prefix, async (req: FastifyRequest<{ Params: Params }>, reply) => {
        try {
          return reply.send(modelMetadata(runtime, runtime.resolve(kserveRef(req.params.name, req.params.version))));
        } catch (err) {
          return sendError(reply, err);
        }
      });

      scope.get(`${prefix}/ready`, async (req: FastifyRequest<{ Params: Params }>, reply) => {
        try {
          const ready = modelReady(runtime, kserveRef(req.params.name, req.params.version));
          return reply.code(ready ? 200 : 503).send({ name: req.params.name, ready });
        } catch (err) {
          return sendError(reply, err);
        }
      });

      scope.post(`${prefix}/infer`, async (req: FastifyRequest<{ Params: Params }>, reply) => {
        const started = performance.now();
        let ref: ModelRef = {};
        try {
          ref = kserveRef(req.params.name, req.params.version);
          const request = parseInferRequest(req.body, req.headers[HEADER_LENGTH]);
          const servable = runtime.resolve(ref);
          const asked = request.outputs.length
            ? request.outputs
            : defaultOutputs(servable).map((name) => ({ name, binary: request.binaryOutput }));
          const result = await runtime.predict({ name: servable.name, version: servable.version }, request.inputs, {
            outputFilter: asked.map((o) => o.name),
            signal: clientGone(reply),
          });
          metrics.observe('kserve-rest', started, { result });
          const head: Json = { model_name: result.model, model_version: String(result.version) };
          if (request.id !== undefined) head.id = request.id;
          return inferResponse(reply, head, asked, result.outputs);
        } catch (err) {
          metrics.observe('kserve-rest', started, { error: err, model: ref.name, version: ref.version });
          return sendError(reply, err);
        }
      });
    }
  });
}
