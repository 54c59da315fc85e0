import { hostname } from 'node:os';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelDir, tinyClassifier } from '../test-util/models';
import { allEvents, sseEvents, type SseEvent } from '../test-util/sse';
import type { JobRunner } from '../workspace/jobs';
import type { JobRecord } from '../workspace/types';
import type { Workspace } from '../workspace/workspace';
import { streamJobLog } from './sse';
import { startTestUi, type TestUi } from './test-server';

let ui: TestUi;

/** Logs a line every 20 ms until cancelled: a job that is surely running while we watch. */
const ticker: JobRunner<Workspace> = async (ctx) => {
  for (let i = 1; !ctx.signal.aborted; i++) {
    await ctx.log(`tick ${i}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  throw ctx.signal.reason;
};
const files = modelDir();

beforeAll(async () => {
  ui = await startTestUi();
  await ui.ws.registerModel(files.write('tiny.onnx', tinyClassifier()), { name: 'tiny' });
  ui.ws.jobKinds.register('ticker', ticker);
});
afterAll(async () => {
  await ui.close();
  files.cleanup();
});

const logs = (events: SseEvent[]) => events.filter((e) => e.event === 'log');

async function finishedVerifyJob(): Promise<JobRecord> {
  const handle = await ui.ws.startJob('verify', {});
  return handle.waitForCompletion();
}

describe('GET /api/jobs/:id/log', () => {
  it('streams a real job: chunks in order with their seq as id, state changes, then end with the final record', async () => {
    const { id } = await ui.ws.startJob('verify', {});
    const res = await ui.call(`/api/jobs/${id}/log`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(res.headers.get('cache-control')).toBe('no-cache');
    const events = await allEvents(res);

    const stored = await ui.ws.store.jobLog(id);
    expect(logs(events).map((e) => e.data)).toEqual(stored);
    expect(logs(events).map((e) => e.id)).toEqual(stored.map((c) => String(c.seq)));
    expect(stored.map((c) => c.seq)).toEqual(stored.map((_, i) => i + 1));
    expect(stored.map((c) => c.text).join('')).toMatch(/verifying every blob[\s\S]*1 blobs[\s\S]*succeeded\n$/);

    const last = events.at(-1)!;
    expect(last.event).toBe('end');
    expect(last.data).toMatchObject({ id, kind: 'verify', state: 'succeeded', outputs: { blobs: 1 } });
    const states = events.filter((e) => e.event === 'state').map((e) => (e.data as JobRecord).state);
    expect(states.at(-1)).toBe('succeeded');
    expect(new Set(states).size).toBe(states.length);
    // Nothing after the end, and every chunk before it.
    expect(events.findIndex((e) => e.event === 'end')).toBe(events.length - 1);
  });

  it('resumes after Last-Event-ID (which wins over ?after) or ?after, sending only later chunks', async () => {
    const job = await finishedVerifyJob();
    const all = await ui.ws.store.jobLog(job.id);
    expect(all.length).toBeGreaterThan(2);

    const byHeader = await allEvents(await ui.call(`/api/jobs/${job.id}/log?after=0`, { headers: { 'last-event-id': '2' } }));
    expect(logs(byHeader).map((e) => e.data.seq)).toEqual(all.slice(2).map((c) => c.seq));
    expect(byHeader.at(-1)).toMatchObject({ event: 'end', data: { state: 'succeeded' } });

    const byQuery = await allEvents(await ui.call(`/api/jobs/${job.id}/log?after=1`));
    expect(logs(byQuery).map((e) => e.data.seq)).toEqual(all.slice(1).map((c) => c.seq));

    const caughtUp = await allEvents(await ui.call(`/api/jobs/${job.id}/log?after=${all.at(-1)!.seq}`));
    expect(caughtUp.map((e) => e.event)).toEqual(['state', 'end']);
  });

  it('follows a running job live and ends with cancelled when it is cancelled over the API', async () => {
    const { id } = await ui.ws.startJob('ticker', {});
    const res = await ui.call(`/api/jobs/${id}/log`);
    const events: SseEvent[] = [];
    for await (const e of sseEvents(res)) {
      events.push(e);
      if (e.event === 'log' && e.data.text === 'tick 3\n') {
        const cancel = await ui.json(`/api/jobs/${id}/cancel`, { method: 'POST' });
        expect(cancel.status).toBe(200);
        expect(cancel.body).toMatchObject({ id, cancelRequested: true });
      }
    }
    expect(events.at(-1)).toMatchObject({ event: 'end', data: { id, state: 'cancelled', error: 'cancelled by request' } });
    expect(events.filter((e) => e.event === 'state').map((e) => e.data.state).slice(-2)).toEqual(['running', 'cancelled']);
    const texts = logs(events).map((e) => e.data.text);
    expect(texts.slice(0, 3)).toEqual(['tick 1\n', 'tick 2\n', 'tick 3\n']);
    expect(texts.at(-1)).toBe('cancelled\n');
    expect(logs(events).map((e) => e.data.seq)).toEqual(texts.map((_, i) => i + 1));
  });

  it('answers a JSON error, not a stream, for an unknown job or a bad resume point', async () => {
    const missing = await ui.call('/api/jobs/verify-nope-000000/log');
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toMatch(/^application\/json/);
    expect((await missing.json()).error).toMatchObject({ code: 'ACCEL_ERR_ARTIFACT_NOT_FOUND', message: expect.stringMatching(/Job "verify-nope-000000"/) });

    const job = await finishedVerifyJob();
    const bad = await ui.json(`/api/jobs/${job.id}/log?after=-1`);
    expect(bad).toMatchObject({ status: 400, body: { error: { code: 'ACCEL_ERR_BAD_REQUEST', message: expect.stringMatching(/query\.after/) } } });
    const badHeader = await ui.json(`/api/jobs/${job.id}/log`, { headers: { 'last-event-id': 'abc' } });
    expect(badHeader).toMatchObject({ status: 400, body: { error: { message: expect.stringMatching(/header\.last-event-id/) } } });
  });
});

describe('streamJobLog', () => {
  it('stops reading the store once the client goes away', async () => {
    // fetch opens a spare connection when a body is cancelled; do not wait for it to time out.
    const app = Fastify({ forceCloseConnections: true });
    let streaming: Promise<void> | undefined;
    app.get<{ Params: { id: string } }>('/log/:id', async (req, reply) => {
      streaming = streamJobLog(req, reply, ui.ws, req.params.id);
      await streaming;
      return reply;
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { id } = await ui.ws.startJob('ticker', {});
    try {
      const address = app.server.address() as { port: number };
      for await (const e of sseEvents(await fetch(`http://127.0.0.1:${address.port}/log/${id}`))) {
        if (e.event === 'log') break; // leaving the loop closes the connection
      }
      // Resolves only when the polling loop has ended; the job itself runs on.
      await streaming;
      expect((await ui.ws.getJob(id)).state).toBe('running');
    } finally {
      await ui.ws.cancelJob(id);

      await ui.ws.jobHandle(id).waitForCompletion();
      await app.close();
    }
  });

  it('ends open streams when the server shuts down, so that it can', async () => {
    const other = await startTestUi();
    // Queued and never picked up: its stream would otherwise stay open.
    const job = await other.ws.store.createJob({ id: 'verify-waiting', kind: 'verify', inputs: {}, host: hostname() });
    const events = sseEvents(await other.call(`/api/jobs/${job.id}/log`));
    expect((await events.next()).value).toMatchObject({ event: 'state', data: { state: 'queued' } });
    const closing = other.close();
    const rest: SseEvent[] = [];
    const drain = async () => {
      for await (const e of events) rest.push(e);
    };
    // The stream is cut, not ended: no `end` event, and the client sees the connection drop.
    await expect(drain()).rejects.toThrow(/terminated/);
    expect(rest.map((e) => e.event)).not.toContain('end');
    await closing;
  });
});
