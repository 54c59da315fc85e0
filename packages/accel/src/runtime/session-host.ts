import { Worker } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';

type Feeds = Record<string, ort.Tensor>;

interface Reply {
  id: number;
  error?: string;
  inputMetadata?: ort.InferenceSession.ValueMetadata[];
  outputMetadata?: ort.InferenceSession.ValueMetadata[];
  outputs?: Array<{ name: string; type: ort.Tensor.Type; dims: number[]; data: ort.Tensor.DataType }>;
}

/**
 * An ONNX Runtime session in its own worker thread, so that the event loop keeps serving
 * (network, JPEG decode, health, metrics) while the model runs. Inputs are copied to the
 * worker (structured clone); outputs come back by transfer, without a copy.
 */
export class SessionHost {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(r: Reply): void; reject(e: Error): void }>();
  /** Set once the worker is gone: calls then fail at once instead of waiting for a reply that never comes. */
  private ended?: Error;

  private constructor(
    private readonly worker: Worker,
    public inputMetadata: readonly ort.InferenceSession.ValueMetadata[] = [],
    public outputMetadata: readonly ort.InferenceSession.ValueMetadata[] = [],
  ) {
    worker.on('message', (r: Reply) => {
      const p = this.pending.get(r.id);
      this.pending.delete(r.id);
      if (r.error !== undefined) p?.reject(new Error(r.error));
      else p?.resolve(r);
    });
    worker.on('error', (err) => this.failAll(err));
    worker.on('exit', (code) => this.failAll((this.ended ??= new Error(`session worker exited (code ${code})`))));
  }

  /** Starts a worker and creates the session there. Rejects with ORT's message when the model does not load. */
  static async create(path: string, options: ort.InferenceSession.SessionOptions): Promise<SessionHost> {
    const host = new SessionHost(new Worker(new URL('./session-worker.mjs', import.meta.url)));
    try {
      const r = await host.call({ op: 'create', path, options });
      host.inputMetadata = r.inputMetadata ?? [];
      host.outputMetadata = r.outputMetadata ?? [];
      return host;
    } catch (err) {
      await host.worker.terminate();
      throw err;
    }
  }

  async run(feeds: Feeds, fetches: string[]): Promise<Record<string, ort.Tensor>> {
    const r = await this.call({
      op: 'run',
      fetches,
      feeds: Object.entries(feeds).map(([name, t]) => ({ name, type: t.type, dims: t.dims, data: t.data })),
    });
    const out: Record<string, ort.Tensor> = {};
    for (const o of r.outputs ?? []) out[o.name] = new ort.Tensor(o.type, o.data as Float32Array, o.dims);
    return out;
  }

  async release(): Promise<void> {
    if (!this.ended) await this.call({ op: 'release' }).catch(() => undefined);
    await this.worker.terminate();
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  private call(msg: Record<string, unknown>): Promise<Reply> {
    if (this.ended) return Promise.reject(this.ended);
    const id = this.nextId++;
    return new Promise<Reply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, ...msg });
    });
  }
}
