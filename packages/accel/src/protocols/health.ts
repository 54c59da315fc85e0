import type { FastifyInstance } from 'fastify';
import type { Runtime } from '../runtime/runtime';
import type { ServerMetrics } from './metrics';

/** Liveness (the process answers), readiness (every model loaded and warmed up), and /metrics. */
export function addHealthRoutes(app: FastifyInstance, runtime: Runtime, metrics: ServerMetrics): void {
  app.get('/healthz', async () => ({ status: 'live' }));
  app.get('/readyz', async (_req, reply) => {
    const models = runtime.servables().map((s) => ({ name: s.name, version: s.version, state: s.state }));
    return reply.code(runtime.ready ? 200 : 503).send({ ready: runtime.ready, models });
  });
  app.get('/metrics', async (_req, reply) => reply.type(metrics.contentType).send(await metrics.text()));
}
