/** Fakes shared by the client's gRPC tests. */
import { expect } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { PredictionClient, type PredictionClientOptions } from '../client';
import { PredictionError } from '../errors';
import { loadServingProtos } from '../proto';
import type { TensorProtoObject } from '../tensor';

// ---------------------------------------------------------------------------
// A fake TF Serving gRPC server that records every call. Each handler returns
// a response object, throws a status ({ code, details, metadata? }), or
// returns NEVER to leave the call unanswered.
// ---------------------------------------------------------------------------
export const NEVER = Symbol('never');
export type Reply = unknown | typeof NEVER;
export interface Recorded { method: string; request: any; metadata: Record<string, unknown> }
export type Handler = (request: any, n: number) => Reply;

export interface Fake { port: number; calls: Recorded[]; server: grpc.Server }
const servers: grpc.Server[] = [];
const clients: PredictionClient[] = [];

export type Handlers = Partial<Record<'Predict' | 'GetModelMetadata' | 'GetModelStatus', Handler>>;
export async function fakeServer(handlers: Handlers, bind = '127.0.0.1:0', creds = grpc.ServerCredentials.createInsecure()): Promise<Fake> {
  const { PredictionService, ModelService } = loadServingProtos();
  const calls: Recorded[] = [];
  const wrap = (method: keyof typeof handlers) => (call: grpc.ServerUnaryCall<any, any>, cb: grpc.sendUnaryData<any>) => {
    calls.push({ method, request: call.request, metadata: call.metadata.getMap() });
    const n = calls.filter((c) => c.method === method).length;
    try {
      const reply = handlers[method] ? handlers[method]!(call.request, n) : {};
      if (reply !== NEVER) cb(null, reply);
    } catch (status) {
      cb(status as grpc.ServiceError);
    }
  };
  const server = new grpc.Server();
  server.addService(PredictionService.service, { Predict: wrap('Predict'), GetModelMetadata: wrap('GetModelMetadata') });
  server.addService(ModelService.service, { GetModelStatus: wrap('GetModelStatus') });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(bind, creds, (err, p) => (err ? reject(err) : resolve(p))),
  );
  servers.push(server);
  return { port, calls, server };
}

export function client(fake: { port: number }, opts: Partial<PredictionClientOptions> = {}): PredictionClient {
  const c = new PredictionClient({ address: `127.0.0.1:${fake.port}`, backoffMs: 5, ...opts });
  clients.push(c);
  return c;
}

/** Closes every client and server made since the last cleanup (use in afterEach). */
export function cleanup(): void {
  for (const c of clients.splice(0)) c.close();
  for (const s of servers.splice(0)) s.forceShutdown();
}

export const status = (code: number, details: string, accelCode?: string) => {
  const metadata = new grpc.Metadata();
  if (accelCode) metadata.set('accel-error-code', accelCode);
  return { code, details, metadata };
};

export function f32le(values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => b.writeFloatLE(v, i * 4));
  return b;
}
export const probsOut = (values: number[]): TensorProtoObject => ({
  dtype: 'DT_FLOAT',
  tensor_shape: { dim: [{ size: '1' }, { size: String(values.length) }] },
  tensor_content: f32le(values),
});
export const okPredict = () => ({ outputs: { output_alias: probsOut([0.25, 0.75]) } });

export async function rejection(p: Promise<unknown>): Promise<PredictionError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(PredictionError);
  return err as PredictionError;
}
