import { z } from 'zod';
import { scrape } from '../../bench/server-metrics';
import { AccelError } from '../../errors';
import type { RouteModule } from '../context';
import { MetricsSeries } from '../metrics-series';
import { parse } from '../../parse';
import { artifactName } from './params';

const params = z.strictObject({ name: artifactName('Service') });

/**
 * `GET /api/services/:name/metrics`: the service's request rate, error rate and latency
 * quantiles over the last samples (MetricsView), scraped from its REST /metrics while someone asks.
 */
export const metricsRoutes: RouteModule = (app, { ws }) => {
  const series = new MetricsSeries();

  app.get('/api/services/:name/metrics', async (req) => {
    const { name } = parse(params, req.params, 'params');
    const service = await ws.getService(name).catch((err: unknown) => {
      series.drop(name);
      throw err;
    });
    if (service.state === 'Stopped' || !service.scoringUri) {
      const reason = service.state === 'Stopped' ? 'it is stopped; deploy it again to see its metrics' : 'it has no address yet';
      throw new AccelError('ACCEL_ERR_SERVICE_UNAVAILABLE', { service: name, state: service.state, reason });
    }
    const url = `${new URL(service.scoringUri).origin}/metrics`;
    // /metrics is open unless the service runs with --metrics-auth; the key opens it either way.
    const headers: Record<string, string> = service.keys.primary ? { authorization: `Bearer ${service.keys.primary}` } : {};
    const samples = await series.samples(name, url, () =>
      scrape(url, 5_000, headers).catch((err: Error) => {
        throw new AccelError('ACCEL_ERR_SERVICE_UNAVAILABLE', { service: name, state: service.state, reason: err.message }, { cause: err });
      }),
    );
    return { service: name, samples };
  });
};
