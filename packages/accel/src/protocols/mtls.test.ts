import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { PredictionClient, PredictionError } from '@accel/client';
import { loadServingProtos } from '@accel/client/proto';
import { Agent, fetch } from 'undici';
import { opensslAvailable } from '../test-util/processes';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createDevCerts, type DevCerts } from '../cli/certs';
import { Runtime } from '../runtime/runtime';
import { modelDir, tinyClassifier } from '../test-util/models';
import { startTestServer } from '../test-util/server';
import { startServer } from './server';

const SIZE = 8;
const PIXELS = Array.from({ length: 3 * SIZE * SIZE }, (_, i) => Math.sin(i));

const openssl = opensslAvailable('the mutual TLS tests (they make test certificates)');

const files = modelDir();
const model = files.write('tiny.onnx', tinyClassifier({ size: SIZE }));
const read = (path: string) => readFileSync(path);
const opened: Array<{ close(): void }> = [];

describe.skipIf(!openssl)('mutual TLS (accel serve --tls-ca)', () => {
  /** The server's CA, which signed `mine.client`; `other` is an unrelated CA with its own client certificate. */
  let mine: DevCerts;
  let other: DevCerts;
  let server: Awaited<ReturnType<typeof startTestServer>>;
  let address: { grpc: string; rest: string };

  beforeAll(async () => {
    [mine, other] = await Promise.all([
      createDevCerts({ out: join(files.dir, 'mine'), client: true, days: 1 }),
      createDevCerts({ out: join(files.dir, 'other'), client: true, days: 1 }),
    ]);
    server = await startTestServer([{ name: 'tiny', path: model }], {
      tls: { cert: read(mine.server.cert), key: read(mine.server.key), ca: read(mine.ca.cert) },
    });
    address = { grpc: `localhost:${server.grpcPort}`, rest: `https://localhost:${server.restPort}` };
  });
  // Closed after each test: a refused gRPC channel left open keeps reconnecting (handshakes the server must refuse).
  afterEach(() => {
    for (const c of opened.splice(0)) c.close();
  });
  afterAll(async () => {
    await server?.shutdown();
    files.cleanup();
  });

  const client = (protocol: 'grpc' | 'rest', tls: { ca?: Buffer; cert?: Buffer; key?: Buffer }) => {
    const c = new PredictionClient({ address: address[protocol], protocol, modelName: 'tiny', tls, retries: 0, deadlineMs: 10_000 });
    opened.push(c);
    return c;
  };
  const score = (c: PredictionClient) => c.scoreTensor(PIXELS, [1, 3, SIZE, SIZE], { outputs: ['probs'] });
  const failure = (c: PredictionClient) => score(c).then(() => undefined, (e: unknown) => e as PredictionError);

  it.each(['grpc', 'rest'] as const)('%s: a client certificate signed by the CA is accepted', async (protocol) => {
    expect(server.mutualTls).toBe(true);
    const probs = await score(client(protocol, { ca: read(mine.ca.cert), cert: read(mine.client!.cert), key: read(mine.client!.key) }));
    expect(probs).toHaveLength(5);
  });

  it.each(['grpc', 'rest'] as const)('%s: a client without a certificate fails the handshake, told to give one', async (protocol) => {
    const err = await failure(client(protocol, { ca: read(mine.ca.cert) }));
    expect(err).toBeInstanceOf(PredictionError);
    expect(err).toMatchObject({ codeName: 'UNAVAILABLE', accelCode: undefined });
    // The alert usually arrives before the server closes the connection; when it does not, the client sees a reset.
    expect(err!.details).toMatch(/certificate[ _]required.*\(the server requires a client certificate: give tls: \{ ca, cert, key \}\)|ECONNRESET|Failed to connect/is);
  });

  it.each(['grpc', 'rest'] as const)('%s: a client certificate from another CA fails the handshake', async (protocol) => {
    const err = await failure(client(protocol, { ca: read(mine.ca.cert), cert: read(other.client!.cert), key: read(other.client!.key) }));
    expect(err).toMatchObject({ codeName: 'UNAVAILABLE' });
    expect(err!.details).toMatch(/'tls\.cert' (must|may not) be signed by a CA/);
  });

  it("a server's own certificate (serverAuth only, no clientAuth) is not a client certificate", async () => {
    const err = await failure(client('rest', { ca: read(mine.ca.cert), cert: read(mine.server.cert), key: read(mine.server.key) }));
    expect(err).toMatchObject({ codeName: 'UNAVAILABLE' });
  });

  it('speaks the real wire: KServe gRPC and every REST route, health included, need the certificate', async () => {
    const protos = loadServingProtos();
    const kserve = (creds: grpc.ChannelCredentials) => {
      const stub = new protos.GRPCInferenceService(address.grpc, creds);
      opened.push(stub);
      return new Promise<grpc.ServiceError | null>((resolve) =>
        (stub as unknown as Record<string, (r: unknown, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null) => void) => void>).ServerLive({}, { deadline: Date.now() + 10_000 }, resolve),
      );
    };
    expect(await kserve(grpc.credentials.createSsl(read(mine.ca.cert), read(mine.client!.key), read(mine.client!.cert)))).toBeNull();
    expect(await kserve(grpc.credentials.createSsl(read(mine.ca.cert)))).toMatchObject({ code: grpc.status.UNAVAILABLE });

    const get = async (path: string, connect: { ca: Buffer; cert?: Buffer; key?: Buffer }) => {
      const dispatcher = new Agent({ connect });
      try {
        const res = await fetch(address.rest + path, { dispatcher });
        await res.arrayBuffer(); // else closing the agent waits for the unread body
        return res.status;
      } catch (err) {
        return String((err as { cause?: { code?: string } }).cause?.code ?? err);
      } finally {
        await dispatcher.close();
      }
    };
    const withCert = { ca: read(mine.ca.cert), cert: read(mine.client!.cert), key: read(mine.client!.key) };
    for (const path of ['/healthz', '/v2/health/ready', '/metrics', '/v1/models/tiny']) {
      expect(await get(path, withCert), path).toBe(200);
      expect(await get(path, { ca: read(mine.ca.cert) }), path).toMatch(/CERTIFICATE_REQUIRED|ECONNRESET|UND_ERR_SOCKET/);
    }
  });

  it('refuses to start with a --tls-ca that holds no certificate (ACCEL_ERR_BAD_TLS)', async () => {
    const runtime = new Runtime({ threads: 1 });
    try {
      const tls = { cert: read(mine.server.cert), key: read(mine.server.key), ca: 'not a certificate', caFile: 'ca.pem' };
      await expect(startServer(runtime, { host: '127.0.0.1', grpcPort: 0, restPort: 0, tls })).rejects.toMatchObject({
        code: 'ACCEL_ERR_BAD_TLS',
        message: expect.stringContaining('the client CA bundle ca.pem (--tls-ca) holds no PEM certificate'),
      });
    } finally {
      await runtime.close();
    }
  });

  it('the client checks its tls options: cert and key together, as PEM', () => {
    expect(() => new PredictionClient({ address: address.grpc, tls: { cert: read(mine.client!.cert) } })).toThrow("'tls.cert' and 'tls.key' go together");
    expect(() => new PredictionClient({ address: address.grpc, tls: { key: 'x', cert: 3 as unknown as string } })).toThrow("'tls.cert' must be PEM text");
  });
});
