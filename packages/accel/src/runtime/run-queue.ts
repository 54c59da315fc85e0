/**
 * Serializes runs on one ONNX Runtime session. Concurrent runs on one session oversubscribe
 * its intra-op threads and are slower in total than running them one after another; the time
 * a run waits here is reported as queue time.
 */
export class RunQueue {
  private tail: Promise<void> = Promise.resolve();
  private pending = 0;

  /** Requests waiting or running. */
  get depth(): number {
    return this.pending;
  }

  async exclusive<T>(fn: () => Promise<T>): Promise<{ value: T; waitedMs: number }> {
    const enqueued = performance.now();
    const previous = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((resolve) => (release = resolve));
    this.pending++;
    try {
      await previous;
      const waitedMs = performance.now() - enqueued;
      return { value: await fn(), waitedMs };
    } finally {
      this.pending--;
      release();
    }
  }

  /** Resolves when everything queued so far has finished. */
  drain(): Promise<void> {
    return this.tail;
  }
}
