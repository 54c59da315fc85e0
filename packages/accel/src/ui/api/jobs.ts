import { z } from 'zod';
import type { JobState } from '../../workspace/types';
import type { RouteModule } from '../context';
import { streamJobLog } from '../sse';
import { parse } from '../../parse';

// A mapped object rather than a list, so that the compiler asks for any state JobState gains.
const JOB_STATES: { [S in JobState]: S } = { queued: 'queued', running: 'running', succeeded: 'succeeded', failed: 'failed', cancelled: 'cancelled' };

const listQuery = z.strictObject({ kind: z.string().min(1).max(100).optional(), state: z.enum(JOB_STATES).optional() });
const jobParams = z.strictObject({ id: z.string().regex(/^[A-Za-z0-9._-]{1,200}$/, 'a job id: letters, digits, ".", "_" and "-"') });

/** Workspace jobs (convert, quantize, image build, deploy): list, show, follow the log, cancel. */
export const jobRoutes: RouteModule = (app, { ws }) => {
  app.get('/api/jobs', async (req) => {
    const q = parse(listQuery, req.query, 'query');
    return ws.store.listJobs({ kind: q.kind, states: q.state ? [q.state] : undefined });
  });

  app.get('/api/jobs/:id', async (req) => ws.getJob(parse(jobParams, req.params, 'params').id));

  app.get('/api/jobs/:id/log', async (req, reply) => {
    await streamJobLog(req, reply, ws, parse(jobParams, req.params, 'params').id);
    return reply;
  });

  app.post('/api/jobs/:id/cancel', async (req) => ws.cancelJob(parse(jobParams, req.params, 'params').id));
};
