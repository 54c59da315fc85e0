// One ONNX Runtime session, owned by a worker thread. onnxruntime-node runs inference
// synchronously on the calling thread (its promise only defers the start), so a session on the
// main thread would stall every socket, decode and health check while it runs. Plain JavaScript
// so that it loads in a Worker under node, tsx and vitest alike.
import { parentPort } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';

let session;

const reply = (id, body, transfer = []) => parentPort.postMessage({ id, ...body }, transfer);

parentPort.on('message', async (msg) => {
  try {
    if (msg.op === 'create') {
      session = await ort.InferenceSession.create(msg.path, msg.options);
      reply(msg.id, { inputMetadata: session.inputMetadata, outputMetadata: session.outputMetadata });
    } else if (msg.op === 'run') {
      const feeds = {};
      for (const f of msg.feeds) feeds[f.name] = new ort.Tensor(f.type, f.data, f.dims);
      const results = await session.run(feeds, msg.fetches);
      const outputs = [];
      const transfer = [];
      for (const [name, t] of Object.entries(results)) {
        outputs.push({ name, type: t.type, dims: t.dims, data: t.data });
        if (t.type !== 'string') transfer.push(t.data.buffer);
      }
      reply(msg.id, { outputs }, transfer);
    } else if (msg.op === 'release') {
      await session?.release();
      session = undefined;
      reply(msg.id, {});
    }
  } catch (err) {
    reply(msg.id, { error: err instanceof Error ? err.message : String(err) });
  }
});
