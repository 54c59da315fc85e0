import { z } from 'zod';
import { AccelError } from '../../errors';
import { ACCELERATOR_TYPES } from '../../workspace/compute';
import type { ComputeRecord } from '../../workspace/types';
import type { Workspace } from '../../workspace/workspace';
import type { RouteModule } from '../context';
import { parse } from '../../parse';
import { artifactName, deleteAnswer, deleteQuery } from './params';

const nameParams = z.strictObject({ name: artifactName('Compute target') });
const createBody = z.strictObject({
  name: artifactName('Compute target'),
  type: z.enum(['local', 'container', 'kubernetes']),
  accelerators: z.number().int().positive(),
  acceleratorType: z.enum(ACCELERATOR_TYPES).default('cpu'),
  properties: z.record(z.string(), z.string()).default({}),
});

/** Compute records with what `accel usage` says of them: accelerators in use, free, and by whom. */
async function withUsage(ws: Workspace, computes: readonly ComputeRecord[]) {
  const usage = new Map((await ws.usage()).map((u) => [u.compute, u]));
  return computes.map((c) => {
    const u = usage.get(c.name);
    return { ...c, inUse: u?.inUse ?? 0, free: u?.free ?? c.accelerators, users: u?.users ?? [] };
  });
}

/** Compute targets: list with usage, create (provision), delete. */
export const computeRoutes: RouteModule = (app, { ws }) => {
  app.get('/api/compute', async () => withUsage(ws, await ws.listComputes()));

  app.post('/api/compute', async (req, reply) => {
    const body = parse(createBody, req.body, 'body');
    const c = await ws.createCompute(body);
    // As `accel compute create`: the record stays (Failed, with its errors) for the caller to inspect or delete.
    if (c.state === 'Failed') throw new AccelError('ACCEL_ERR_COMPUTE_UNAVAILABLE', { compute: c.name, state: c.state, reason: c.errors.join('; ') });
    return reply.code(201).send((await withUsage(ws, [c]))[0]);
  });

  app.delete('/api/compute/:name', async (req) => {
    const { name } = parse(nameParams, req.params, 'params');
    const { cascade, dryRun } = parse(deleteQuery, req.query, 'query');
    return deleteAnswer(await ws.delete([{ kind: 'compute', id: name }], { cascade, dryRun }), dryRun);
  });
};
