import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { stopService } from '../../deploy/deploy';
import { tinyClassifier } from '../../test-util/models';
import { samplePhoto } from '../../test-util/server';
import { deployTestService } from '../../test-util/services';
import type { ServiceRecord } from '../../workspace/types';
import type { MetricsSample } from '../metrics-series';
import { startTestUi, type TestUi } from '../test-server';

let ui: TestUi;
let service: ServiceRecord;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const metrics = () => ui.json('/api/services/meter/metrics');

beforeAll(async () => {
  ui = await startTestUi();
  service = await deployTestService(ui.ws, { service: 'meter', auth: true, models: [{ name: 'tiny', onnx: tinyClassifier() }] });
}, 300_000);

afterAll(async () => {
  await stopService(ui.ws, 'meter', { forget: true }).catch(() => undefined);
  await ui.close();
});

describe('GET /api/services/:name/metrics', () => {
  it('shows the requests scored since the last scrape: a positive rate and finite p50 <= p99', async () => {
    const first = await metrics();
    expect(first).toEqual({ status: 200, body: { service: 'meter', samples: [] } }); // one scrape: nothing to compare yet
    const photo = await samplePhoto();
    for (let i = 0; i < 5; i++) {
      const scored = await ui.call('/api/services/meter/score', { method: 'POST', body: new Uint8Array(photo), headers: { 'content-type': 'image/jpeg' } });
      expect(scored.status).toBe(200);
    }
    // The next scrape is due a second after the first; ask until it has come.
    let samples: MetricsSample[] = [];
    for (let i = 0; i < 100 && samples.length === 0; i++) {
      await sleep(100);
      samples = (await metrics()).body.samples;
    }
    const [s] = samples;
    expect(s.requestsPerSecond).toBeGreaterThan(0);
    expect(s.errorsPerSecond).toBe(0);
    expect(Number.isFinite(s.p50Ms) && Number.isFinite(s.p99Ms)).toBe(true);
    expect(s.p50Ms!).toBeLessThanOrEqual(s.p99Ms!);
    expect(s.t).toBeGreaterThan(Date.now() - 60_000);
  });

  it("scrapes the service's /metrics once for callers that ask at the same time or within a second", async () => {
    const url = `${new URL(service.scoringUri).origin}/metrics`;
    const fetchSpy = vi.spyOn(globalThis, 'fetch');
    try {
      await sleep(1100); // a scrape is due
      const answers = await Promise.all([metrics(), metrics(), metrics()]);
      const again = await metrics();
      expect([...answers, again].map((a) => a.status)).toEqual([200, 200, 200, 200]);
      const scrapes = fetchSpy.mock.calls.filter(([input]) => String(input) === url);
      expect(scrapes).toHaveLength(1);
      expect(new Headers(scrapes[0][1]?.headers).get('authorization')).toBe(`Bearer ${service.keys.primary}`);
    } finally {
      fetchSpy.mockRestore();
    }
  });

  it('answers 404 for an unknown service', async () => {
    const { status, body } = await ui.json('/api/services/ghost/metrics');
    expect([status, body.error.code]).toEqual([404, 'ACCEL_ERR_ARTIFACT_NOT_FOUND']);
  });

  it('answers 503 ACCEL_ERR_SERVICE_UNAVAILABLE for a stopped service and for one that does not answer', async () => {
    await stopService(ui.ws, 'meter');
    const stopped = await metrics();
    expect([stopped.status, stopped.body.error.code]).toEqual([503, 'ACCEL_ERR_SERVICE_UNAVAILABLE']);
    expect(stopped.body.error.message).toMatch(/^Service "meter" \(Stopped\) cannot answer: it is stopped/);
    // A record that still says Healthy while nothing listens any more.
    await ui.ws.updateService('meter', { state: 'Healthy' });
    await sleep(1100); // past the last scrape, so that this call scrapes
    const gone = await metrics();
    expect([gone.status, gone.body.error.code]).toEqual([503, 'ACCEL_ERR_SERVICE_UNAVAILABLE']);
    expect(gone.body.error.message).toMatch(/^Service "meter" \(Healthy\) cannot answer: cannot read metrics from http:\/\/127\.0\.0\.1:\d+\/metrics: ECONNREFUSED/);
  });
});
