/**
 * The load worker: owns the client and the closed loop, so that the process being measured (when
 * the bench runs beside a server) and the CLI's own event loop do not slow each other. Started by
 * runner.ts through worker-entry.mjs, which registers tsx first.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createClient, type InferClient } from './clients';
import { ImageFeed, runLevel } from './load';
import type { FromWorker, ToWorker, WorkerInput } from './types';

const port = parentPort!;
const input = workerData as WorkerInput;
const send = (m: FromWorker) => port.postMessage(m);

let client: InferClient;
let feed: ImageFeed;
try {
  client = createClient(input.client);
  feed = new ImageFeed(input.images.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength)), input.batch);
  send({ type: 'ready' });
} catch (err) {
  send({ type: 'fatal', message: (err as Error).message });
  port.close();
}

let go: (() => void) | undefined;

port.on('message', (m: ToWorker) => {
  if (m.type === 'go') {
    go?.();
    go = undefined;
  } else if (m.type === 'close') {
    client?.close();
    port.close();
  } else if (m.type === 'level') {
    runLevel(client, feed, m.plan, {
      onProgress: (progress) => send({ type: 'progress', progress }),
      beforeMeasure: () =>
        new Promise<void>((resolve) => {
          go = resolve;
          send({ type: 'warm' });
        }),
    }).then(
      (sample) => send({ type: 'done', sample }),
      (err: Error) => send({ type: 'fatal', message: err.message }),
    );
  }
});
