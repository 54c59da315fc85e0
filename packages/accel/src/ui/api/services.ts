import { z } from 'zod';
import { refreshService, regenerateKey, targetFor } from '../../deploy/deploy';
import { deployJobInputs, serviceName, type DeployJobInputs } from '../../deploy/job';
import { AccelError } from '../../errors';
import type { ServiceRecord } from '../../workspace/types';
import type { Workspace } from '../../workspace/workspace';
import type { RouteModule } from '../context';
import { parse } from '../../parse';
import { deleteAnswer } from './params';

const nameParams = z.strictObject({ name: serviceName });
const logsQuery = z.strictObject({ tail: z.coerce.number().int().min(1).max(10_000).default(100) });
const regenBody = z.object({ key: z.enum(['primary', 'secondary']) }).strict();
// Strict: a misspelt `?dryrun=true` must be refused, not ignored into a real delete.
const deleteQuery = z.strictObject({ dryRun: z.enum(['true', 'false']).default('false').transform((v) => v === 'true') });

/** A service as the API shows it: whether it wants a key, never the keys nor the runtime handles. */
function view(s: ServiceRecord) {
  return { name: s.name, state: s.state, image: s.image, compute: s.compute, target: s.target, scoringUri: s.scoringUri, grpcUri: s.grpcUri, auth: Boolean(s.keys.primary), config: s.config, errors: s.errors, createdAt: s.createdAt, updatedAt: s.updatedAt };
}

function keysOf(s: ServiceRecord): Record<string, string> {
  return s.keys.primary ? { primary: s.keys.primary, secondary: s.keys.secondary ?? '' } : {};
}

/**
 * What `accel deploy` refuses before it starts anything, checked here too so that the answer
 * comes at once (404, 409) instead of as a failed job a moment later. The job checks again
 * when it runs: this is for the user, not a lock.
 */
async function refuseEarly(ws: Workspace, d: DeployJobInputs): Promise<void> {
  const [imageName, version] = d.image.split(':');
  const image = await ws.getImage(imageName!, version === undefined ? undefined : Number(version));
  if (image.state !== 'Succeeded') throw new AccelError('ACCEL_ERR_USAGE', { reason: `image ${image.id} is ${image.state}, not built: see its build log` });
  const compute = await ws.getCompute(d.compute);
  if (compute.state !== 'Succeeded') throw new AccelError('ACCEL_ERR_COMPUTE_UNAVAILABLE', { compute: compute.name, state: compute.state, reason: compute.errors.join('; ') || 'not provisioned' });
  const replaced = d.replace ? await ws.getService(d.replace) : undefined;
  if (replaced && replaced.compute !== compute.name) throw new AccelError('ACCEL_ERR_USAGE', { reason: `replace ${replaced.name}: it runs on ${replaced.compute}, not on ${compute.name}` });
  const deploying = await ws.store.listJobs({ kind: 'deploy', states: ['queued', 'running'] });
  if ((d.replace !== d.name && (await ws.store.getService(d.name))) || deploying.some((j) => j.inputs.name === d.name)) {
    throw new AccelError('ACCEL_ERR_ALREADY_EXISTS', { what: 'Service', name: d.name });
  }
  // A replacement takes over the accelerator of the service it stops.
  if (replaced) return;
  const usage = (await ws.usage()).find((u) => u.compute === compute.name)!;
  if (usage.free < 1) throw new AccelError('ACCEL_ERR_QUOTA_EXCEEDED', { compute: compute.name, free: usage.free, total: usage.total, inUse: usage.inUse, requested: 1, type: usage.acceleratorType });
}

/** Deployed services: list, show, keys, logs, deploy (a `deploy` job), delete. Scoring and metrics live in score.ts and metrics.ts. */
export const serviceRoutes: RouteModule = (app, { ws }) => {
  app.get('/api/services', async () => {
    const list = await Promise.all((await ws.listServices()).map((s) => refreshService(ws, s.name).catch(() => s)));
    return list.map(view);
  });

  app.get('/api/services/:name', async (req) => view(await refreshService(ws, parse(nameParams, req.params, 'params').name)));

  app.get('/api/services/:name/keys', async (req) => keysOf(await ws.getService(parse(nameParams, req.params, 'params').name)));

  app.post('/api/services/:name/regen-key', async (req) => {
    const { name } = parse(nameParams, req.params, 'params');
    const { key } = parse(regenBody, req.body, 'body');
    return keysOf(await regenerateKey(ws, name, key));
  });

  app.get('/api/services/:name/logs', async (req) => {
    const { name } = parse(nameParams, req.params, 'params');
    const { tail } = parse(logsQuery, req.query, 'query');
    const s = await ws.getService(name);
    return { log: await (await targetFor(s.target)).logs(s.runtime, tail) };
  });

  app.post('/api/services', async (req, reply) => {
    const inputs = parse(deployJobInputs, req.body, 'body');
    await refuseEarly(ws, inputs);
    // Detached: the deploy outlives this server, like `accel deploy` in another terminal.
    const job = await ws.startJob('deploy', inputs, { detached: true });
    return reply.code(202).send({ service: inputs.name, job: job.id });
  });

  app.delete('/api/services/:name', async (req) => {
    const { name } = parse(nameParams, req.params, 'params');
    const { dryRun } = parse(deleteQuery, req.query, 'query');
    await ws.getService(name);
    const plan = await ws.delete([{ kind: 'service', id: name }], { dryRun });
    return deleteAnswer(plan, dryRun);
  });
};
