import { PredictionClient } from '@accel/client';
import { KServeGrpcClient, KServeRestClient } from './kserve';
import type { BenchProtocol, ClientConfig } from './types';

/** One request of the bench: score a batch of encoded images; rejects with a PredictionError on failure. */
export interface InferClient {
  infer(images: readonly Uint8Array[]): Promise<void>;
  close(): void;
}

type Factory = (c: ClientConfig) => InferClient;

/** TF Serving Predict through `@accel/client`, every output of the signature, no retries (the bench counts failures). */
function tfServing(c: ClientConfig): InferClient {
  const client = new PredictionClient({
    address: c.address,
    protocol: c.protocol === 'rest' ? 'rest' : 'grpc',
    modelName: c.model,
    modelVersion: c.version,
    deadlineMs: c.timeoutMs,
    retries: 0,
  });
  return {
    infer: async (images) => {
      await client.scoreImageTensors(images, { outputs: [] });
    },
    close: () => client.close(),
  };
}

/** Each protocol's client, by the name `--protocol` takes. */
export const CLIENT_FACTORIES: Readonly<Record<BenchProtocol, Factory>> = {
  grpc: tfServing,
  rest: tfServing,
  'kserve-grpc': (c) => new KServeGrpcClient(c.address, c.model, c.version, c.timeoutMs),
  'kserve-rest': (c) => new KServeRestClient(c.address, c.model, c.version, c.timeoutMs),
};

export function createClient(c: ClientConfig): InferClient {
  return CLIENT_FACTORIES[c.protocol](c);
}
