import { fileURLToPath } from 'node:url';
import fastifyMultipart from '@fastify/multipart';
import fastifyStatic from '@fastify/static';
import Fastify, { LogController, type FastifyError, type FastifyInstance } from 'fastify';
import { AccelError } from '../errors';
import type { Workspace } from '../workspace/workspace';
import { computeRoutes } from './api/compute';
import { imageRoutes } from './api/images';
import { jobRoutes } from './api/jobs';
import { lineageRoutes } from './api/lineage';
import { metricsRoutes } from './api/metrics';
import { modelRoutes } from './api/models';
import { scoreRoutes } from './api/score';
import { serviceRoutes } from './api/services';
import type { RouteModule, UiContext } from './context';
import { WorkspaceKeys } from './keys';
import { originProblem } from './origin';
import { errorBody } from './validate';

/** The dashboard's static files (plain ES modules and CSS: no build step). */
export const WEB_ROOT = fileURLToPath(new URL('./web/', import.meta.url));

/** Largest JSON body the API reads. Uploads and images to score have their own limits. */
export const JSON_BODY_LIMIT = 1024 * 1024;
/** Largest model upload (all files of one register call), by default. */
export const DEFAULT_MAX_UPLOAD_BYTES = 2 * 1024 ** 3;

const ROUTES: readonly RouteModule[] = [modelRoutes, jobRoutes, imageRoutes, computeRoutes, serviceRoutes, scoreRoutes, metricsRoutes, lineageRoutes];

export interface UiServerOptions {
  ws: Workspace;
  maxUploadBytes?: number;
  /** PEM certificate and key: serve over https (`accel ui --tls-cert --tls-key`). */
  https?: { cert: Buffer; key: Buffer };
  /** Answer only loopback Host names (default: true; `accel ui --host` other than loopback turns it off, and needs a key). */
  loopbackOnly?: boolean;
}

export interface UiServer {
  app: FastifyInstance;
  keys: WorkspaceKeys;
  ctx: UiContext;
}

/** The control-plane API under /api and the dashboard under /, not yet listening. */
export async function buildUiServer(opts: UiServerOptions): Promise<UiServer> {
  const ctx: UiContext = { ws: opts.ws, maxUploadBytes: opts.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES };
  const keys = new WorkspaceKeys(opts.ws.dir);
  const app = Fastify({
    ...(opts.https ? { https: opts.https } : {}),
    bodyLimit: JSON_BODY_LIMIT,
    connectionTimeout: 120_000,
    logController: new LogController({ disableRequestLogging: true }),
  }) as unknown as FastifyInstance;

  // Origin and key checks, before routing and before the body is read. Pages and assets carry no data.
  const loopbackOnly = opts.loopbackOnly ?? true;
  app.addHook('onRequest', async (req, reply) => {
    const path = req.url.split('?')[0]!;
    if (!path.startsWith('/api/')) return;
    const forbidden = originProblem(req.headers, { loopbackOnly });
    if (forbidden !== undefined) {
      const { status, body } = errorBody(new AccelError('ACCEL_ERR_FORBIDDEN_ORIGIN', { problem: forbidden }));
      return reply.code(status).send(body);
    }
    if (path === '/api/health') return;
    const problem = await keys.refusal(req.headers.authorization);
    if (problem === undefined) return;
    reply.header('www-authenticate', 'Bearer realm="accel"');
    const { status, body } = errorBody(new AccelError('ACCEL_ERR_UNAUTHENTICATED', { problem }));
    return reply.code(status).send(body);
  });
  app.addHook('onClose', async () => keys.close());

  app.setErrorHandler((err: FastifyError, req, reply) => {
    let e: unknown = err;
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || err.code === 'FST_REQ_FILE_TOO_LARGE' || err.code === 'FST_FILES_LIMIT' || err.code === 'FST_PARTS_LIMIT' || err.code === 'FST_FIELDS_LIMIT') {
      e = new AccelError('ACCEL_ERR_TOO_LARGE', { size: req.headers['content-length'] ?? 'more than', limit: req.routeOptions.bodyLimit ?? JSON_BODY_LIMIT, hint: '' });
    } else if (err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err instanceof SyntaxError) {
      e = new AccelError('ACCEL_ERR_BAD_REQUEST', { reason: `the body is not valid JSON (${err.message})` });
    } else if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      e = new AccelError('ACCEL_ERR_BAD_REQUEST', { reason: `content-type ${req.headers['content-type'] ?? '(none)'} is not accepted here` });
    } else if (!(err instanceof AccelError) && err.statusCode && err.statusCode < 500) {
      e = new AccelError('ACCEL_ERR_BAD_REQUEST', { reason: err.message });
    }
    const { status, body } = errorBody(e);
    return reply.code(status).send(body);
  });
  app.setNotFoundHandler((req, reply) => {
    const { status, body } = errorBody(new AccelError('ACCEL_ERR_NO_ROUTE', { method: req.method, path: req.url.split('?')[0] }));
    return reply.code(status).send(body);
  });

  // preservePath: a folder upload names each part by its relative path (busboy keeps only the base name otherwise).
  // `parts` counts files and fields together; the plugin would stop at 1000.
  await app.register(fastifyMultipart, { preservePath: true, limits: { fileSize: ctx.maxUploadBytes, files: 10_000, parts: 10_020, fields: 20, fieldSize: 64 * 1024 } });
  await app.register(fastifyStatic, { root: WEB_ROOT, prefix: '/', index: 'index.html', cacheControl: true, maxAge: 0 });

  app.get('/api/health', async () => ({ ok: true, workspace: opts.ws.dir, metadata: opts.ws.store.backend, auth: keys.enabled }));
  for (const routes of ROUTES) await routes(app, ctx);
  return { app, keys, ctx };
}
