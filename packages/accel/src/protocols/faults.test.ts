/**
 * Server faults, each under client load: a SIGKILL of the server under its supervisor (local
 * deploy target), a hot swap of a model version (runtime API, and `--model-config-file` +
 * SIGHUP), and a SIGTERM with requests in flight. Calls are raw gRPC (no client retries), so
 * every failure is counted; `[faults]` lines print the figures the README quotes.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadServingProtos } from '@accel/client/proto';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalTarget } from '../deploy/local';
import { probeReady } from '../deploy/probe';
import { readSupervisorState } from '../deploy/supervisor';
import type { DeploySpec } from '../deploy/target';
import { modelDir, slowModel, tinyClassifier } from '../test-util/models';
import { exited, spawnServe, waitFor } from '../test-util/processes';
import { f32Bytes, startTestServer } from '../test-util/server';

const files = modelDir();
afterAll(() => files.cleanup());

const UNAVAILABLE = grpc.status.UNAVAILABLE;
const ROWS = 64;

/** A TF Serving Predict request for slowModel (`x` [ROWS, 512]), no version pinned. */
function slowRequest(model: string) {
  const x = { dtype: 'DT_FLOAT', tensor_shape: { dim: [{ size: ROWS }, { size: 512 }] }, tensor_content: f32Bytes(new Float32Array(ROWS * 512).fill(0.5)) };
  return { model_spec: { name: model }, inputs: { x } };
}

/** A Predict request for tinyClassifier (`input` [1, 3, 8, 8]). */
const TINY_REQUEST = {
  model_spec: { name: 'tiny' },
  inputs: { input: { dtype: 'DT_FLOAT', tensor_shape: { dim: [1, 3, 8, 8].map((size) => ({ size })) }, tensor_content: f32Bytes(new Float32Array(192).fill(0.25)) } },
};

interface Outcome {
  ok: boolean;
  /** Epoch ms when the call was made and when its answer (or error) came. */
  sent: number;
  ended: number;
  /** model_spec.version of the answer. */
  version?: number;
  /** gRPC status and Accel error code of a failure. */
  code?: number;
  accelCode?: string;
  details?: string;
}

type Unary = (req: unknown, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: any) => void) => void;

/**
 * Raw TF Serving calls. `waitForReady` makes a call made while the server is down wait for it
 * to come back instead of failing at once, as a production client does; the channel retries
 * the connection every 100-500 ms.
 */
function servingClient(address: string) {
  const protos = loadServingProtos();
  const options = { 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 500 };
  const prediction = new protos.PredictionService(address, grpc.credentials.createInsecure(), options) as unknown as grpc.Client & Record<string, Unary>;
  const model = new protos.ModelService(address, grpc.credentials.createInsecure(), options) as unknown as grpc.Client & Record<string, Unary>;
  const predict = (request: unknown, opts: { waitForReady?: boolean } = {}): Promise<Outcome> => {
    const md = new grpc.Metadata();
    if (opts.waitForReady) md.setOptions({ waitForReady: true });
    const sent = Date.now();
    return new Promise((resolve) =>
      prediction.Predict(request, md, { deadline: Date.now() + 120_000 }, (err, res) =>
        resolve(
          err
            ? { ok: false, sent, ended: Date.now(), code: err.code, accelCode: String(err.metadata?.get('accel-error-code')[0] ?? ''), details: err.details }
            : { ok: true, sent, ended: Date.now(), version: Number(res.model_spec.version.value) },
        ),
      ),
    );
  };
  /** GetModelStatus: `version state` of each version, e.g. ['2 AVAILABLE', '1 AVAILABLE']. */
  const status = (name: string): Promise<string[]> =>
    new Promise((resolve, reject) =>
      model.GetModelStatus({ model_spec: { name } }, new grpc.Metadata(), { deadline: Date.now() + 30_000 }, (err, res) =>
        err ? reject(err) : resolve(res.model_version_status.map((s: { version: string; state: string }) => `${s.version} ${s.state}`)),
      ),
    );
  return { predict, status, close: () => (prediction.close(), model.close()) };
}

/** Keeps `concurrency` calls going back to back (full rate) until stopped; keeps every outcome. */
function scoringLoop(call: () => Promise<Outcome>, concurrency = 4) {
  const outcomes: Outcome[] = [];
  let running = true;
  let inFlight = 0;
  const workers = Array.from({ length: concurrency }, async () => {
    while (running) {
      inFlight++;
      outcomes.push(await call());
      inFlight--;
    }
  });
  return {
    outcomes,
    concurrency,
    get inFlight() {
      return inFlight;
    },
    /** Waits until `n` more calls succeeded (that match `which`) than now. */
    async more(n: number, what: string, which: (o: Outcome) => boolean = () => true) {
      const from = outcomes.length;
      await waitFor(() => outcomes.slice(from).filter((o) => o.ok && which(o)).length, (k) => k >= n, `${n} successful calls (${what})`);
    },
    async stop(): Promise<Outcome[]> {
      running = false;
      await Promise.all(workers);
      return outcomes;
    },
  };
}

const failuresOf = (outcomes: Outcome[]) => outcomes.filter((o) => !o.ok);

describe('SIGKILL of the server under load (local deploy target)', () => {
  it('is restarted by its supervisor; only the calls in flight at the kill fail, then scoring goes on', async () => {
    const workDir = join(files.dir, 'svc');
    mkdirSync(workDir);
    const spec: DeploySpec = {
      service: 'svc',
      image: 'tiny-image:1',
      layoutDir: '',
      layoutRef: '1',
      models: [{ name: 'tiny', version: 1, dir: files.write('tiny.onnx', tinyClassifier()) }],
      replicas: 1,
      accelerators: 1,
      workDir,
      properties: {},
    };
    const target = new LocalTarget();
    const deployed = await target.start(spec, () => undefined);
    const client = servingClient(deployed.grpcUri);
    try {
      await waitFor(() => probeReady(deployed.scoringUri), Boolean, 'the server to be ready');
      const first = readSupervisorState(workDir)!;
      const loop = scoringLoop(() => client.predict(TINY_REQUEST, { waitForReady: true }));
      await loop.more(200, 'before the kill');

      const killedAt = Date.now();
      const inFlightAtKill = loop.inFlight;
      process.kill(first.childPid!, 'SIGKILL');
      const restarted = await waitFor(() => readSupervisorState(workDir)!, (s) => s.childPid !== null && s.childPid !== first.childPid, 'a new server process');
      await waitFor(() => probeReady(deployed.scoringUri), Boolean, 'readiness after the restart');
      await loop.more(200, 'after the restart');
      const outcomes = await loop.stop();

      expect(restarted).toMatchObject({ restarts: 1, lastExit: { signal: 'SIGKILL' } });
      const failed = failuresOf(outcomes);
      const recoveredAt = Math.min(...outcomes.filter((o) => o.ok && o.sent > killedAt).map((o) => o.ended));
      // Only calls caught by the kill fail (at most one per caller), with UNAVAILABLE, inside the outage.
      expect(failed.length).toBeLessThanOrEqual(loop.concurrency);
      for (const f of failed) {
        expect(f.code, f.details).toBe(UNAVAILABLE);
        expect(f.ended).toBeGreaterThanOrEqual(killedAt);
        expect(f.ended).toBeLessThanOrEqual(recoveredAt);
      }
      // Calls made during the outage waited for the new process and succeeded.
      const waited = outcomes.filter((o) => o.ok && o.sent > killedAt && o.sent < recoveredAt);
      expect(outcomes.slice(-loop.concurrency * 10).every((o) => o.ok)).toBe(true);
      console.log(
        `[faults] SIGKILL under load: ${outcomes.length} calls, ${failed.length} failed (${inFlightAtKill} in flight at the kill), ` +
          `${waited.length} made during the ${recoveredAt - killedAt} ms outage waited and succeeded; restart ${restarted.restarts}, pid ${first.childPid} -> ${restarted.childPid}`,
      );
    } finally {
      client.close();
      await target.stop(deployed.runtime);
    }
  }, 300_000);
});

describe('hot swap of a model version under load', () => {
  const v1 = files.write('m1.onnx', slowModel(150));
  const v2 = files.write('m2.onnx', slowModel(150));

  it('runtime.load + runtime.unload: no failed call, answers switch from version 1 to 2', async () => {
    const server = await startTestServer([{ name: 'm', path: v1, version: 1 }]);
    const client = servingClient(server.grpcAddress);
    try {
      const loop = scoringLoop(() => client.predict(slowRequest('m')));
      await loop.more(30, 'on version 1');
      expect(await client.status('m')).toEqual(['1 AVAILABLE']);

      const loading = server.runtime.load([{ name: 'm', path: v2, version: 2 }]);
      expect(server.runtime.ready).toBe(true); // version 1 still serves while 2 loads
      await loading;
      const loadedAt = Date.now();
      expect(await client.status('m')).toEqual(['2 AVAILABLE', '1 AVAILABLE']);
      await server.runtime.unload('m', 1);
      const unloadedAt = Date.now();
      expect(await client.status('m')).toEqual(['2 AVAILABLE']);
      await loop.more(30, 'on version 2', (o) => o.sent > unloadedAt);
      const outcomes = await loop.stop();

      expect(failuresOf(outcomes)).toEqual([]);
      expect(outcomes.filter((o) => o.sent < loadedAt && o.version === 1).length).toBeGreaterThan(0);
      expect(outcomes.filter((o) => o.sent > loadedAt).every((o) => o.version === 2)).toBe(true);
      const v1Late = outcomes.filter((o) => o.version === 1 && o.ended > loadedAt).length;
      console.log(`[faults] hot swap (runtime API): ${outcomes.length} calls, 0 failed; ${v1Late} answered by version 1 after version 2 was ready (in flight on it)`);
    } finally {
      client.close();
      await server.shutdown();
    }
  }, 180_000);

  it('--model-config-file + SIGHUP: loads version 2, unloads version 1, no failed call; a bad file changes nothing', async () => {
    const config = join(files.dir, 'models.json');
    writeFileSync(config, JSON.stringify({ models: [{ name: 'm', path: 'm1.onnx', version: 1 }] }));
    const server = await spawnServe(['--model-config-file', config, '--threads', '1']);
    const client = servingClient(server.summary.grpc);
    try {
      const loop = scoringLoop(() => client.predict(slowRequest('m')));
      await loop.more(30, 'on version 1');
      writeFileSync(config, JSON.stringify({ models: [{ name: 'm', path: 'm2.onnx', version: 2 }] }));
      const hupAt = Date.now();
      server.child.kill('SIGHUP');
      await waitFor(() => server.stderr(), (s) => /reloaded models from .*models\.json \(SIGHUP\): loaded m:2; unloaded m:1/.test(s), 'the reload');
      const swappedAt = Date.now();
      await loop.more(30, 'on version 2', (o) => o.sent > swappedAt);
      expect(await client.status('m')).toEqual(['2 AVAILABLE']);

      writeFileSync(config, '{"models": [');
      server.child.kill('SIGHUP');
      await waitFor(() => server.stderr(), (s) => /kept the models served: --model-config-file .*models\.json: /.test(s), 'the bad file to be refused');
      await loop.more(10, 'after the bad file');
      const outcomes = await loop.stop();

      expect(failuresOf(outcomes)).toEqual([]);
      expect(outcomes.filter((o) => o.sent > swappedAt).every((o) => o.version === 2)).toBe(true);
      expect(await client.status('m')).toEqual(['2 AVAILABLE']);
      console.log(`[faults] hot swap (SIGHUP): ${outcomes.length} calls, 0 failed; swap took ${swappedAt - hupAt} ms from SIGHUP`);
    } finally {
      client.close();
      server.child.kill('SIGTERM');
      await exited(server.child);
    }
  }, 180_000);
});

describe('SIGTERM with requests in flight', () => {
  /** About a quarter of a second per request on one core. */
  const slow = files.write('slow.onnx', slowModel(1000));
  const serve = (graceMs: number) => spawnServe(['--model', `slow=${slow}`, '--max-batch-size', '1', '--threads', '1', '--grace-period', String(graceMs)]);

  it('finishes the requests in flight, refuses new ones (UNAVAILABLE, REST refused or 503), exits 0 within the grace period', async () => {
    const GRACE_MS = 60_000;
    const server = await serve(GRACE_MS);
    const client = servingClient(server.summary.grpc);
    const restUrl = `http://${server.summary.rest}/v1/models/slow:predict`;
    const restBody = JSON.stringify({ inputs: { x: Array.from({ length: ROWS }, () => new Array(512).fill(0.5)) } });
    const rest = () => fetch(restUrl, { method: 'POST', body: restBody, headers: { 'content-type': 'application/json' } }).then((r) => r.status, (err: Error) => (err.cause as { code?: string })?.code ?? err.message);
    try {
      expect(await client.predict(slowRequest('slow'))).toMatchObject({ ok: true });
      const inFlight = Array.from({ length: 10 }, () => client.predict(slowRequest('slow')));
      const restInFlight = rest();
      await Promise.race(inFlight);
      const gone = exited(server.child);
      const termAt = Date.now();
      server.child.kill('SIGTERM');
      await waitFor(() => server.stderr(), (s) => s.includes('shutting down'), 'the server to begin draining');
      const late = await client.predict(slowRequest('slow'));
      const lateRest = await rest();
      const done = await Promise.all(inFlight);
      const { code } = await gone;
      const exitMs = Date.now() - termAt;

      expect(done.every((o) => o.ok)).toBe(true);
      expect(await restInFlight).toBe(200);
      expect(late).toMatchObject({ ok: false, code: UNAVAILABLE });
      expect([503, 'ECONNREFUSED']).toContain(lateRest);
      // The late calls came while requests were still running: the refusal was the drain's, not the exit's.
      expect(Math.max(...done.map((o) => o.ended))).toBeGreaterThan(late.sent);
      expect(code).toBe(0);
      expect(exitMs).toBeLessThan(GRACE_MS);
      expect(server.stderr()).toMatch(/"msg":"stopped"/);
      const drained = done.filter((o) => o.ended > termAt).length;
      console.log(`[faults] SIGTERM: ${drained + 1} requests in flight at SIGTERM all answered OK, late calls refused (gRPC UNAVAILABLE, REST ${lateRest}), exit 0 after ${exitMs} ms (grace ${GRACE_MS} ms)`);
    } finally {
      client.close();
      server.child.kill('SIGKILL');
    }
  }, 180_000);

  it('once the grace period is over, answers what is still queued UNAVAILABLE (ACCEL_ERR_SHUTTING_DOWN) and exits 0', async () => {
    const GRACE_MS = 1000;
    const server = await serve(GRACE_MS);
    const client = servingClient(server.summary.grpc);
    try {
      const inFlight = Array.from({ length: 20 }, () => client.predict(slowRequest('slow')));
      await Promise.race(inFlight);
      const gone = exited(server.child);
      const termAt = Date.now();
      server.child.kill('SIGTERM');
      const done = await Promise.all(inFlight);
      const { code } = await gone;
      const exitMs = Date.now() - termAt;

      const failed = failuresOf(done);
      expect(failed.length).toBeGreaterThan(0);
      for (const f of failed) expect(f, f.details).toMatchObject({ code: UNAVAILABLE, accelCode: 'ACCEL_ERR_SHUTTING_DOWN' });
      expect(code).toBe(0);
      expect(server.stderr()).toMatch(/"msg":"stopped"/);
      console.log(`[faults] SIGTERM, grace ${GRACE_MS} ms, 20 queued: ${done.length - failed.length} answered OK, ${failed.length} answered UNAVAILABLE at the end of the grace period, exit 0 after ${exitMs} ms`);
    } finally {
      client.close();
      server.child.kill('SIGKILL');
    }
  }, 180_000);
});
