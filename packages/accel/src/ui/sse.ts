import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { isFinal } from '../workspace/jobs';
import type { JobRecord } from '../workspace/types';
import type { Workspace } from '../workspace/workspace';
import { parse } from '../parse';
import { errorBody } from './validate';

/** How often the store is read for new chunks and state while a client follows a job. */
const POLL_MS = 200;
/** A comment line this often keeps proxies and load balancers from closing a quiet stream. */
const HEARTBEAT_MS = 15_000;

const seq = z.coerce.number().int().min(0);
const resumeQuery = z.strictObject({ after: seq.optional() });

/**
 * Where to resume: the browser's EventSource sends `Last-Event-ID` when it reconnects to the
 * same URL, so the header wins over the `?after` the URL started with.
 */
function resumeAfter(req: FastifyRequest): number {
  const header = req.headers['last-event-id'];
  if (header !== undefined) return parse(seq, header, 'header.last-event-id');
  return parse(resumeQuery, req.query, 'query').after ?? 0;
}

function event(name: string, data: unknown, id?: number): string {
  return `${id === undefined ? '' : `id: ${id}\n`}event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}

/**
 * Streams a job's log as server-sent events (docs/ui-api.md): `log` for each chunk after the
 * resume point (`id` = its seq), `state` (the JobRecord) whenever the state changes, and `end`
 * (the JobRecord) once the job is final and every chunk was sent; then closes. An unknown job
 * or a bad resume point answers a JSON error instead. Resolves once the stream has ended: the
 * job ended, or the client went away (then the store is not read any more).
 */
export async function streamJobLog(req: FastifyRequest, reply: FastifyReply, ws: Workspace, jobId: string): Promise<void> {
  let after: number;
  let job: JobRecord;
  try {
    after = resumeAfter(req);
    job = await ws.getJob(jobId);
  } catch (err) {
    const { status, body } = errorBody(err);
    reply.code(status).send(body);
    return;
  }

  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    // nginx buffers responses unless told otherwise, which would hold the events back.
    'x-accel-buffering': 'no',
  });
  let open = true;
  let wake: (() => void) | undefined;
  req.raw.once('close', () => {
    open = false;
    wake?.();
  });
  const write = (text: string) => {
    if (open && !res.destroyed) res.write(text);
  };
  const heartbeat = setInterval(() => write(': keep-alive\n\n'), HEARTBEAT_MS);
  let shownState: string | undefined;
  try {
    // A server shutting down stops listening at once but waits for open connections: leave.
    while (open && req.server.server.listening) {
      // The record first, then the log: a job is marked final only after its last chunk is
      // stored, so a final record read here means the chunks read next are all there are.
      job = await ws.getJob(jobId);
      for (const chunk of await ws.store.jobLog(jobId, after)) {
        write(event('log', chunk, chunk.seq));
        after = chunk.seq;
      }
      if (job.state !== shownState) {
        write(event('state', job));
        shownState = job.state;
      }
      if (isFinal(job)) {
        write(event('end', job));
        break;
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, POLL_MS);
      });
    }
  } catch (err) {
    // Headers are sent, so the stream just closes without `end`: the client reconnects
    // with Last-Event-ID and gets the JSON error, if there still is one.
    req.log.warn({ err, job: jobId }, 'job log stream closed early');
  } finally {
    clearInterval(heartbeat);
    // Only a stream that reached its end is ended cleanly (the connection may serve again);
    // a shut-down server or a gone client must not keep the socket open.
    if (isFinal(job)) res.end();
    else res.destroy();
  }
}
