import { PredictionClient, type SignatureDef } from '@accel/client';
import type { ServiceRecord } from '../workspace/types';

interface Entry {
  grpcUri: string;
  key: string | undefined;
  client: PredictionClient;
  /** Output aliases of each served model (`name:version`), asked once per client. */
  outputs: Map<string, Promise<string[]>>;
}

/**
 * One gRPC client per service, kept open so that later calls find the channel warm. A client is
 * replaced when the service's address or primary key changes (redeployed, key rotated).
 */
export class ServiceClients {
  readonly #entries = new Map<string, Entry>();

  client(service: ServiceRecord): PredictionClient {
    return this.#entry(service).client;
  }

  /** The output aliases of the `serving_default` signature of a model the service serves. */
  outputs(service: ServiceRecord, model: string, version: number): Promise<string[]> {
    const entry = this.#entry(service);
    const id = `${model}:${version}`;
    let outputs = entry.outputs.get(id);
    if (!outputs) {
      outputs = entry.client.getModelMetadata(model, { version }).then((m) => {
        const signature: SignatureDef | undefined = m.metadata.signature_def?.signature_def?.serving_default;
        return Object.keys(signature?.outputs ?? {});
      });
      entry.outputs.set(id, outputs);
      outputs.catch(() => entry.outputs.delete(id)); // asked again on the next call
    }
    return outputs;
  }

  close(): void {
    for (const entry of this.#entries.values()) entry.client.close();
    this.#entries.clear();
  }

  #entry(service: ServiceRecord): Entry {
    const key = service.keys.primary;
    const known = this.#entries.get(service.name);
    if (known && known.grpcUri === service.grpcUri && known.key === key) return known;
    known?.client.close();
    const entry: Entry = {
      grpcUri: service.grpcUri,
      key,
      client: new PredictionClient({ address: service.grpcUri, apiKey: key, serviceName: service.name, deadlineMs: 30_000 }),
      outputs: new Map(),
    };
    this.#entries.set(service.name, entry);
    return entry;
  }
}
