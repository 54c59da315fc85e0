import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { StatusCode } from './errors';
import { cleanup, client, fakeServer, okPredict, rejection, type Fake } from './test-util/fake-grpc';

afterEach(cleanup);

describe('PredictionClient gRPC connections', () => {
  it('fails with UNAVAILABLE when nothing listens', async () => {
    const fake = await fakeServer({});
    fake.server.forceShutdown();
    const err = await rejection(client(fake, { retries: 1 }).scoreImage(Buffer.from('x')));
    expect(err.code).toBe(StatusCode.UNAVAILABLE);
    expect(err.attempts).toBe(2);
  });

  it('reaches a server that comes up after the first attempt failed', async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as { port: number }).port;
    await new Promise((r) => probe.close(r));
    const c = client({ port }, { retries: 8, backoffMs: 50, maxBackoffMs: 200 });
    const calls: Fake['calls'][] = [];
    setTimeout(() => void fakeServer({ Predict: okPredict }, `127.0.0.1:${port}`).then((f) => calls.push(f.calls)), 100);
    expect(Array.from(await c.scoreImage(Buffer.from('x')))).toEqual([0.25, 0.75]);
    expect(calls[0]).toHaveLength(1);
  });

  it("spreads calls with loadBalancing: 'round_robin' (dns:/// target)", async () => {
    const fake = await fakeServer({ Predict: okPredict });
    const c = client(fake, { loadBalancing: 'round_robin' });
    expect(c.target).toBe(`dns:///127.0.0.1:${fake.port}`);
    await c.scoreImage(Buffer.from('x'));
    expect(fake.calls).toHaveLength(1);
  });
});

let openssl = true;
try {
  execFileSync('openssl', ['version'], { stdio: 'ignore' });
} catch {
  openssl = false;
}

describe.skipIf(!openssl)('PredictionClient over gRPC with TLS', () => {
  it('connects with useSsl (https:// address) and rootCerts, sending the API key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'accel-tls-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const [key, cert] = [join(dir, 'key.pem'), join(dir, 'cert.pem')];
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });
    const pem = readFileSync(cert);
    const creds = grpc.ServerCredentials.createSsl(null, [{ private_key: readFileSync(key), cert_chain: pem }]);
    const fake = await fakeServer({ Predict: okPredict }, 'localhost:0', creds);

    const c = client(fake, { address: `https://localhost:${fake.port}`, rootCerts: pem, apiKey: 'tls-key' });
    expect(Array.from(await c.scoreImage(Buffer.from('x')))).toEqual([0.25, 0.75]);
    expect(fake.calls[0]!.metadata.authorization).toBe('Bearer tls-key');

    const viaTls = client(fake, { address: `localhost:${fake.port}`, tls: { ca: pem.toString() }, apiKey: 'tls-key-2' });
    expect(Array.from(await viaTls.scoreImage(Buffer.from('x')))).toEqual([0.25, 0.75]);
    expect(fake.calls[1]!.metadata.authorization).toBe('Bearer tls-key-2');

    const untrusted = client(fake, { address: `https://localhost:${fake.port}`, retries: 0 });
    const distrust = await rejection(untrusted.scoreImage(Buffer.from('x')));
    expect(distrust.code).toBe(StatusCode.UNAVAILABLE);
    expect(distrust.details).toContain("the server's certificate is not trusted: give its CA as tls: { ca }");

    const plain = client(fake, { address: `localhost:${fake.port}`, retries: 0, deadlineMs: 5_000 });
    const mismatch = await rejection(plain.scoreImage(Buffer.from('x')));
    expect(mismatch.code).toBe(StatusCode.UNAVAILABLE);
    expect(mismatch.details).toContain('if the server uses TLS, set tls: true');
  });
});
