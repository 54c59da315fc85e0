import { it, expect } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { createServer } from 'node:net';
import { PredictionClient } from './client';
import { loadServingProtos } from './proto';

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as any).port;
  await new Promise((r) => s.close(r));
  return p;
}
for (const opts of [{}, { channelOptions: { 'grpc.initial_reconnect_backoff_ms': 50, 'grpc.max_reconnect_backoff_ms': 500 } }]) {
  it('server comes up late ' + JSON.stringify(opts), async () => {
    const port = await freePort();
    const c = new PredictionClient({ address: `127.0.0.1:${port}`, retries: 6, ...opts });
    const t0 = Date.now();
    const server = new grpc.Server();
    server.addService(loadServingProtos().PredictionService.service, { Predict: (_c: any, cb: any) => cb(null, { outputs: { output_alias: { dtype: 'DT_FLOAT', float_val: [1] } } }), GetModelMetadata: () => {} });
    setTimeout(() => server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), () => console.log('bound', Date.now() - t0)), 100);
    try {
      const r = await c.scoreImage(Buffer.from('x'));
      console.log('ok', Date.now() - t0, r);
    } catch (e: any) {
      console.log('fail', Date.now() - t0, e.message, e.attempts);
    }
    c.close(); server.forceShutdown();
  });
}
