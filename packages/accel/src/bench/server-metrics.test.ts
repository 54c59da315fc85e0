import { describe, expect, it } from 'vitest';
import { ServerMetrics } from '../protocols/metrics';
import type { PredictResult } from '../runtime/servable';
import { parsePrometheus, serverSplit, serverTotals } from './server-metrics';

/** A finished request as the runtime reports it, with its phase times. */
function result(model: string, version: number, queueMs: number, preprocessMs: number, inferenceMs: number): PredictResult {
  return { model, version, outputs: {}, timings: { batchRows: 1, queueMs, preprocessMs, inferenceMs, totalMs: queueMs + preprocessMs + inferenceMs } } as unknown as PredictResult;
}

describe('server split from Prometheus metrics', () => {
  it('parses names, labels (with escapes) and values', () => {
    const samples = parsePrometheus(
      ['# HELP x y', '# TYPE x counter', 'x_total{a="1",b="say \\"hi\\""} 3', 'up 1 1700000000000', 'bad line', ''].join('\n'),
    );
    expect(samples).toEqual([
      { name: 'x_total', labels: { a: '1', b: 'say "hi"' }, value: 3 },
      { name: 'up', labels: {}, value: 1 },
    ]);
  });

  it("gives the mean ms per request of one model between two scrapes of the server's own registry", async () => {
    const metrics = new ServerMetrics();
    metrics.observe('grpc', performance.now(), { result: result('tiny', 1, 1, 10, 4) });
    metrics.observe('rest', performance.now(), { result: result('other', 1, 100, 100, 100) });
    const before = serverTotals(await metrics.text(), 'tiny');
    metrics.observe('grpc', performance.now(), { result: result('tiny', 1, 2, 20, 6) });
    metrics.observe('rest', performance.now(), { result: result('tiny', 2, 4, 30, 10) });
    metrics.observe('rest', performance.now(), { result: result('other', 1, 100, 100, 100) });
    metrics.observe('grpc', performance.now(), { error: new Error('x'), model: 'tiny' });
    const split = serverSplit(before, serverTotals(await metrics.text(), 'tiny'));
    expect(split).toMatchObject({ requests: 2, queueMs: 3, preprocessMs: 25, inferenceMs: 8 });
    expect(split!.totalMs).toBeGreaterThanOrEqual(0);
    expect(serverSplit(before, before)).toBeNull();
    expect(serverTotals(await metrics.text(), 'absent').inference.count).toBe(0);
  });
});
