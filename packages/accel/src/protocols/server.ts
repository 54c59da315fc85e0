import { X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { Counter } from 'prom-client';
import { DEFAULT_MAX_CONCURRENT_STREAMS, DEFAULT_MAX_MESSAGE_BYTES } from '../defaults';
import { AccelError } from '../errors';
import type { Runtime } from '../runtime/runtime';
import { HEALTH_REST_ROUTES, OPEN_REST_ROUTES, addRestAuth, grpcAuthInterceptor, type ApiKeys } from './auth';
import { addHealthRoutes } from './health';
import { addKServeServices } from './kserve-grpc';
import { addKServeRest } from './kserve-rest';
import { ServerMetrics } from './metrics';
import { addTfServingServices } from './tfserving-grpc';
import { addTfServingRest, sendError } from './tfserving-rest';

export { DEFAULT_MAX_MESSAGE_BYTES };

export interface ServerOptions {
  host?: string;
  /** 0 picks a free port. */
  grpcPort?: number;
  restPort?: number;
  maxMessageBytes?: number;
  /** Most gRPC calls in flight on one connection (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS; default 100): more wait in the client. */
  maxConcurrentStreams?: number;
  /** A REST connection silent this long is closed (stalled or slowloris clients); default 120 s, above the 72 s keep-alive. */
  socketIdleTimeoutMs?: number;
  logger?: Logger;
  /** When set, every call but health and /metrics needs one of these keys (see auth.ts). The caller closes it. */
  apiKeys?: ApiKeys;
  /** /metrics needs a key too (with `apiKeys`); health routes stay open. */
  metricsAuth?: boolean;
  /** PEM certificate (chain) and private key: both front ends speak TLS only. */
  tls?: TlsFiles;
}

export interface TlsFiles {
  cert: Buffer | string;
  key: Buffer | string;
  /** PEM CA bundle: when set, clients must present a certificate it signed (mutual TLS), on both front ends. */
  ca?: Buffer | string;
  /** Where they came from, for error messages. */
  certFile?: string;
  keyFile?: string;
  caFile?: string;
}

export interface RunningServer {
  grpcPort: number;
  restPort: number;
  /** Both front ends speak TLS. */
  tls: boolean;
  /** Both front ends require a client certificate (`tls.ca`). */
  mutualTls: boolean;
  metrics: ServerMetrics;
  /** Refuses new requests, lets in-flight ones finish (up to `graceMs`; those left then get UNAVAILABLE / 503), frees the models. */
  shutdown(graceMs?: number): Promise<void>;
}

/** Starts the gRPC and REST front ends over one runtime. */
export async function startServer(runtime: Runtime, opts: ServerOptions = {}): Promise<RunningServer> {
  const host = opts.host ?? '0.0.0.0';
  const limit = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const metrics = new ServerMetrics(opts.logger);
  const tls = opts.tls;
  if (tls) checkTls(tls);
  if (opts.metricsAuth && !opts.apiKeys) throw new AccelError('ACCEL_ERR_USAGE', { reason: '--metrics-auth needs API keys (--api-key or --api-keys-file)' });
  const refusals = new Counter({
    name: 'accel_unauthenticated_requests_total',
    help: 'Requests refused for a missing or invalid API key, by protocol (grpc covers TF Serving and KServe).',
    labelNames: ['protocol'],
    registers: [metrics.registry],
  });
  const onRefused = (protocol: 'grpc' | 'rest') => (problem: string) => {
    refusals.inc({ protocol });
    opts.logger?.debug({ protocol, code: 'ACCEL_ERR_UNAUTHENTICATED' }, `refused a request: ${problem}`);
  };

  const grpcServer = new grpc.Server({
    'grpc.max_receive_message_length': limit,
    'grpc.max_send_message_length': limit,
    'grpc.max_concurrent_streams': opts.maxConcurrentStreams ?? DEFAULT_MAX_CONCURRENT_STREAMS,
    ...(opts.apiKeys ? { interceptors: [grpcAuthInterceptor(opts.apiKeys, onRefused('grpc'))] } : {}),
  });
  addTfServingServices(grpcServer, runtime, metrics);
  addKServeServices(grpcServer, runtime, metrics);
  const credentials = tls
    ? grpc.ServerCredentials.createSsl(tls.ca ? Buffer.from(tls.ca) : null, [{ cert_chain: Buffer.from(tls.cert), private_key: Buffer.from(tls.key) }], Boolean(tls.ca))
    : grpc.ServerCredentials.createInsecure();
  const grpcPort = await new Promise<number>((resolve, reject) =>
    grpcServer.bindAsync(`${host}:${opts.grpcPort ?? 8500}`, credentials, (err, port) => (err ? reject(err) : resolve(port))),
  );

  const app = Fastify({
    bodyLimit: limit,
    // Slow clients: a silent socket is closed; a whole request must arrive within 5 min (Node's default, which Fastify turns off).
    connectionTimeout: opts.socketIdleTimeoutMs ?? 120_000,
    requestTimeout: 300_000,
    logController: new LogController({ disableRequestLogging: true }),
    ...(opts.logger ? { loggerInstance: opts.logger as FastifyBaseLogger } : {}),
    // With a CA, a client without a certificate it signed fails the handshake (before any route, health included).
    ...(tls ? { https: { cert: tls.cert, key: tls.key, ...(tls.ca ? { ca: tls.ca, requestCert: true, rejectUnauthorized: true } : {}) } } : {}),
  }) as unknown as FastifyInstance;
  // Before routing to any handler and before the body is read.
  if (opts.apiKeys) addRestAuth(app, opts.apiKeys, onRefused('rest'), opts.metricsAuth ? HEALTH_REST_ROUTES : OPEN_REST_ROUTES);
  // TF Serving's own examples post JSON with curl -d (form content type): parse any body as JSON,
  // text/plain included (fetch's default for a string body).
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, body.length ? JSON.parse(body as string) : undefined);
    } catch (err) {
      done(new AccelError('ACCEL_ERR_BAD_REQUEST', { reason: `the body is not valid JSON (${(err as Error).message})` }));
    }
  });
  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err instanceof AccelError) return sendError(reply, err);
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return sendError(reply, new AccelError('ACCEL_ERR_TOO_LARGE', { size: req.headers['content-length'] ?? 'more than', limit, hint: ' (raise it with --max-message-bytes)' }));
    }
    if (err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err instanceof SyntaxError) {
      return sendError(reply, new AccelError('ACCEL_ERR_BAD_REQUEST', { reason: `the body is not valid JSON (${err.message})` }));
    }
    if (err.statusCode && err.statusCode < 500) return sendError(reply, new AccelError('ACCEL_ERR_BAD_REQUEST', { reason: err.message }));
    return sendError(reply, err);
  });
  app.setNotFoundHandler((req, reply) => sendError(reply, new AccelError('ACCEL_ERR_NO_ROUTE', { method: req.method, path: req.url })));
  addHealthRoutes(app, runtime, metrics);
  addTfServingRest(app, runtime, metrics);
  addKServeRest(app, runtime, metrics);
  await app.listen({ host, port: opts.restPort ?? 8501 });
  const address = app.server.address();
  const restPort = typeof address === 'object' && address ? address.port : 0;

  let stopping: Promise<void> | undefined;
  const shutdown = (graceMs = 10_000) =>
    (stopping ??= (async () => {
      runtime.beginShutdown();
      const graceful = Promise.all([
        new Promise<void>((resolve) => grpcServer.tryShutdown(() => resolve())),
        app.close(),
      ]);
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), graceMs)));
      if ((await Promise.race([graceful, timedOut])) === 'timeout') {
        // Grace is over: what is still queued or running gets UNAVAILABLE / 503 (retryable
        // elsewhere) rather than a cut stream; then the connections left are closed.
        await runtime.close({ force: true });
        await Promise.race([graceful, new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
        grpcServer.forceShutdown();
        app.server.closeAllConnections();
      }
      clearTimeout(timer);
      await runtime.close();
    })());

  return { grpcPort, restPort, tls: Boolean(tls), mutualTls: Boolean(tls?.ca), metrics, shutdown };
}

/** A certificate and key that do not load or do not match, or a CA bundle without a certificate, fail here, naming the files. */
export function checkTls(tls: TlsFiles): void {
  const bad = (reason: string) => new AccelError('ACCEL_ERR_BAD_TLS', { cert: tls.certFile ?? 'given', key: tls.keyFile ?? 'given', reason });
  try {
    createSecureContext({ cert: tls.cert, key: tls.key });
  } catch (err) {
    throw bad((err as Error).message);
  }
  if (tls.ca === undefined) return;
  // createSecureContext skips what is not a certificate in `ca`: check each PEM block here.
  const blocks = String(tls.ca).match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
  const caFile = tls.caFile ?? 'given';
  if (blocks.length === 0) throw bad(`the client CA bundle ${caFile} (--tls-ca) holds no PEM certificate`);
  for (const [i, pem] of blocks.entries()) {
    try {
      new X509Certificate(pem);
    } catch (err) {
      throw bad(`certificate #${i + 1} of the client CA bundle ${caFile} (--tls-ca) does not parse (${(err as Error).message})`);
    }
  }
}
