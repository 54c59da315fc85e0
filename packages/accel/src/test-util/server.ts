import { readFile } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import { loadServingProtos } from '@accel/client/proto';
import sharp from 'sharp';
import { SAMPLE_PHOTO } from '../assets';
import { Runtime, type ModelSource, type RuntimeOptions } from '../runtime/runtime';
import { startServer, type RunningServer, type ServerOptions } from '../protocols/server';

/** A real server (gRPC + REST) on ephemeral loopback ports. */
export async function startTestServer(
  sources: ModelSource[],
  opts: RuntimeOptions & Omit<ServerOptions, 'host' | 'grpcPort' | 'restPort'> = {},
): Promise<RunningServer & { runtime: Runtime; rest: string; grpcAddress: string }> {
  const runtime = new Runtime({ threads: 1, ...opts });
  await runtime.load(sources);
  const server = await startServer(runtime, { ...opts, host: '127.0.0.1', grpcPort: 0, restPort: 0 });
  return { ...server, runtime, rest: `http://127.0.0.1:${server.restPort}`, grpcAddress: `127.0.0.1:${server.grpcPort}` };
}

type Unary = (req: unknown, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: any) => void) => void;

/** A raw gRPC client on the project's protos: `call('Predict', request)`. */
export function rawGrpcClient(address: string, maxMessageBytes = 64 * 1024 * 1024) {
  const protos = loadServingProtos();
  const options = { 'grpc.max_send_message_length': maxMessageBytes, 'grpc.max_receive_message_length': maxMessageBytes };
  const prediction = new protos.PredictionService(address, grpc.credentials.createInsecure(), options);
  const model = new protos.ModelService(address, grpc.credentials.createInsecure(), options);
  const call = (method: 'Predict' | 'GetModelMetadata' | 'GetModelStatus', request: unknown, metadata = new grpc.Metadata()): Promise<any> => {
    const client = method === 'GetModelStatus' ? model : prediction;
    const fn = (client as unknown as Record<string, Unary>)[method].bind(client);
    return new Promise((resolve, reject) => fn(request, metadata, { deadline: Date.now() + 30_000 }, (err, res) => (err ? reject(err) : resolve(res))));
  };
  return { call, close: () => (prediction.close(), model.close()) };
}

/** The sample photo shipped in assets/ (a real JPEG, 500x375). */
export async function samplePhoto(): Promise<Buffer> {
  return readFile(SAMPLE_PHOTO);
}

/** A solid-colour PNG: after any resize its pixels are exactly (r, g, b). */
export function solidPng(r: number, g: number, b: number, w = 40, h = 30): Promise<Buffer> {
  return sharp({ create: { width: w, height: h, channels: 3, background: { r, g, b } } }).png().toBuffer();
}

/** float32 little-endian bytes for TensorProto.tensor_content. */
export function f32Bytes(values: ArrayLike<number>): Buffer {
  const a = Float32Array.from(values);
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** The float32 values of a TensorProto answered by the server. */
export function floatsOf(t: { tensor_content?: Buffer; float_val?: number[] }): number[] {
  if (t.tensor_content && t.tensor_content.length) {
    const c = Buffer.from(t.tensor_content);
    return Array.from(new Float32Array(c.buffer, c.byteOffset, c.length / 4));
  }
  return t.float_val ?? [];
}
