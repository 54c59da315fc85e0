import type { Logger } from 'pino';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { grpcStatusName, toAccelError } from '../errors';
import type { PredictResult } from '../runtime/servable';

export type Protocol = 'grpc' | 'rest' | 'kserve-grpc' | 'kserve-rest';

const BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * Prometheus metrics of one server: requests by model/version/protocol/status (gRPC status
 * names for every protocol), total latency, and its split into queue, preprocess, inference.
 */
export class ServerMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'model' | 'version' | 'protocol' | 'status'>;
  private readonly latency: Histogram<'model' | 'version' | 'protocol'>;
  private readonly phases: Histogram<'model' | 'version' | 'phase'>;
  private readonly batchRows: Histogram<'model' | 'version'>;

  /** Failed requests are logged through `logger`: server-side failures at error level, bad requests at debug. */
  constructor(private readonly logger?: Logger) {
    collectDefaultMetrics({ register: this.registry, prefix: 'accel_process_' });
    this.requests = new Counter({
      name: 'accel_requests_total',
      help: 'Predict requests by model, version, protocol and final status.',
      labelNames: ['model', 'version', 'protocol', 'status'],
      registers: [this.registry],
    });
    this.latency = new Histogram({
      name: 'accel_request_duration_seconds',
      help: 'End-to-end time of successful Predict requests inside the server.',
      labelNames: ['model', 'version', 'protocol'],
      buckets: BUCKETS,
      registers: [this.registry],
    });
    this.batchRows = new Histogram({
      name: 'accel_batch_rows',
      help: 'Rows of the ONNX Runtime run each successful request was part of (1: not batched with others).',
      labelNames: ['model', 'version'],
      buckets: [1, 2, 4, 8, 16, 32, 64],
      registers: [this.registry],
    });
    this.phases = new Histogram({
      name: 'accel_request_phase_seconds',
      help: 'Time of successful requests per phase: queue (waiting for the model), preprocess (decode and checks), inference.',
      labelNames: ['model', 'version', 'phase'],
      buckets: BUCKETS,
      registers: [this.registry],
    });
  }

  /** Records one finished request. `startedAt` is the adapter's performance.now() at arrival. */
  observe(protocol: Protocol, startedAt: number, outcome: { result: PredictResult } | { error: unknown; model?: string; version?: number }): void {
    if ('result' in outcome) {
      const { model, version, timings } = outcome.result;
      const v = String(version);
      this.requests.inc({ model, version: v, protocol, status: 'OK' });
      this.latency.observe({ model, version: v, protocol }, (performance.now() - startedAt) / 1000);
      this.batchRows.observe({ model, version: v }, timings.batchRows);
      this.phases.observe({ model, version: v, phase: 'queue' }, timings.queueMs / 1000);
      this.phases.observe({ model, version: v, phase: 'preprocess' }, timings.preprocessMs / 1000);
      this.phases.observe({ model, version: v, phase: 'inference' }, timings.inferenceMs / 1000);
      return;
    }
    const err = toAccelError(outcome.error);
    const fields = { model: outcome.model, version: outcome.version, protocol, code: err.code };
    if (err.httpStatus >= 500 && err.code !== 'ACCEL_ERR_SHUTTING_DOWN') this.logger?.error({ ...fields, err: outcome.error }, err.message);
    else this.logger?.debug(fields, err.message);
    this.requests.inc({
      model: outcome.model ?? '',
      version: outcome.version === undefined ? '' : String(outcome.version),
      protocol,
      status: grpcStatusName(err.grpcCode),
    });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
