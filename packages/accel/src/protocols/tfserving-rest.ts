import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AccelError, toAccelError } from '../errors';
import type { ModelRef, Runtime } from '../runtime/runtime';
import type { ServerMetrics } from './metrics';
import { parseVersion, specFor, versionStatusObject } from './model-spec';
import { parsePredictBody, predictResponseBody } from './rest-json';
import { signatureDefObject } from './tf-tensor';

/** `/v1/models/{name}[/versions/{v}|/labels/{l}][:predict|/metadata]` */
const MODEL_PATH = /^\/v1\/models\/([^/:]+)(?:\/versions\/([^/:]+)|\/labels\/([^/:]+))?(:[a-z]+|\/metadata)?$/;

interface Route {
  ref: ModelRef;
  action: '' | ':predict' | '/metadata' | string;
}

function route(method: string, url: string): Route {
  const path = url.split('?')[0];
  const m = MODEL_PATH.exec(path);
  if (!m) throw new AccelError('ACCEL_ERR_NO_ROUTE', { method, path });
  const ref: ModelRef = { name: decodeURIComponent(m[1]) };
  if (m[2] !== undefined) ref.version = parseVersion(m[2]);
  if (m[3] !== undefined) ref.versionLabel = decodeURIComponent(m[3]);
  return { ref, action: m[4] ?? '' };
}

/** Sends an AccelError as TF Serving's REST error body `{"error": ...}` with its HTTP status. */
export function sendError(reply: FastifyReply, err: unknown): FastifyReply {
  const e = toAccelError(err);
  if (e.params.retryAfterMs !== undefined) reply.header('retry-after', String(Math.max(1, Math.ceil(Number(e.params.retryAfterMs) / 1000))));
  return reply.code(e.httpStatus).header('accel-error-code', e.code).send({ error: e.message, code: e.code });
}

/**
 * A signal aborted when the client goes away before the answer is written. It watches the
 * response: in Node the request's own `close` fires as soon as its body has been read.
 */
export function clientGone(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  return controller.signal;
}

/** TF Serving's REST API (predict, status, metadata) over the runtime core. */
export function addTfServingRest(app: FastifyInstance, runtime: Runtime, metrics: ServerMetrics): void {
  app.post('/v1/models/*', async (req: FastifyRequest, reply: FastifyReply) => {
    const started = performance.now();
    let ref: ModelRef = {};
    try {
      const r = route('POST', req.url);
      ref = r.ref;
      if (r.action !== ':predict') throw new AccelError('ACCEL_ERR_NO_ROUTE', { method: 'POST', path: req.url });
      const servable = runtime.resolve(ref);
      const parsed = parsePredictBody(req.body, servable.signature);
      // REST has no output filter: each output tensor once, under its graph name.
      const outputFilter = [...new Map(servable.signature.outputs.map((o) => [o.tensorName, o.alias])).values()];
      const result = await servable.predict(parsed.inputs, { signatureName: parsed.signatureName, outputFilter, signal: clientGone(reply) });
      metrics.observe('rest', started, { result });
      return reply.send(predictResponseBody(parsed.format, result.outputs));
    } catch (err) {
      metrics.observe('rest', started, { error: err, model: ref.name, version: ref.version });
      return sendError(reply, err);
    }
  });

  app.get('/v1/models/*', async (req: FastifyRequest, reply: FastifyReply) => {
    try {
      const { ref, action } = route('GET', req.url);
      if (action === '') return reply.send({ model_version_status: runtime.status(ref).map(versionStatusObject) });
      if (action !== '/metadata') throw new AccelError('ACCEL_ERR_NO_ROUTE', { method: 'GET', path: req.url });
      const s = runtime.resolve(ref);
      return reply.send({
        model_spec: specFor(s.name, s.version, ''),
        metadata: {
          signature_def: { signature_def: { [s.signature.name]: signatureDefObject(s.signature) } },
          preprocess: s.preprocessSpecs,
          batching: s.batching,
        },
      });
    } catch (err) {
      return sendError(reply, err);
    }
  });
}
