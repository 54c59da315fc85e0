import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PredictionClient, PredictionError } from '@accel/client';
import { Agent, fetch } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { hashedKeyFile } from '../protocols/key-hash';
import { modelDir, tinyClassifier } from '../test-util/models';
import { BIN, exited, spawnServe, opensslAvailable } from '../test-util/processes';

const openssl = opensslAvailable('the accel certs tests');

const files = modelDir();
afterAll(() => files.cleanup());
const run = (args: string[], env: NodeJS.ProcessEnv = process.env) =>
  spawnSync(process.execPath, [BIN, 'certs', ...args], { encoding: 'utf8', timeout: 120_000, env });
const lastJsonError = (stderr: string) => JSON.parse(stderr.trim().split('\n').at(-1)!).error as { code: string; message: string };

describe('accel certs create', () => {
  it('--help names the flags and how to use the files', () => {
    const help = run(['create', '--help']);
    expect(help.status).toBe(0);
    for (const flag of ['--out <dir>', '--host <name>', '--days <n>', '--client', '--force', '-o, --output <format>']) expect(help.stdout).toContain(flag);
    expect(help.stdout).toContain('accel serve --tls-cert DIR/server.crt --tls-key DIR/server.key [--tls-ca DIR/ca.crt]');
  });

  it.skipIf(!openssl)('writes a CA, a server certificate it signed for localhost, 127.0.0.1 and each --host, and a client certificate', () => {
    const out = join(files.dir, 'made');
    const made = run(['create', '--out', out, '--host', 'scorer.lan', '--host', '10.0.0.7', '--days', '30', '--client', '-o', 'json']);
    expect(made.status, made.stderr).toBe(0);
    const summary = JSON.parse(made.stdout);
    expect(summary).toMatchObject({
      dir: out,
      ca: { cert: join(out, 'ca.crt'), key: join(out, 'ca.key') },
      server: { cert: join(out, 'server.crt'), key: join(out, 'server.key') },
      client: { cert: join(out, 'client.crt'), key: join(out, 'client.key') },
      subjectAltNames: ['DNS:localhost', 'IP:127.0.0.1', 'IP:::1', 'DNS:scorer.lan', 'IP:10.0.0.7'],
    });
    const cert = (name: string) => new X509Certificate(readFileSync(join(out, `${name}.crt`)));
    const [ca, server, client] = [cert('ca'), cert('server'), cert('client')];
    expect(ca.ca).toBe(true);
    for (const leaf of [server, client]) {
      expect(leaf.ca).toBe(false);
      expect(leaf.checkIssued(ca)).toBe(true);
      expect(leaf.verify(ca.publicKey)).toBe(true);
    }
    expect(server.subjectAltName).toBe('DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, DNS:scorer.lan, IP Address:10.0.0.7');
    expect(server.checkHost('scorer.lan')).toBe('scorer.lan');
    expect(server.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(server.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']); // serverAuth
    expect(client.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']); // clientAuth
    const days = (Date.parse(server.validTo) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(29);
    expect(days).toBeLessThan(31);
    expect(summary.notAfter).toBe(new Date(server.validTo).toISOString());
    for (const key of ['ca.key', 'server.key', 'client.key']) expect(statSync(join(out, key)).mode & 0o777, key).toBe(0o600);
  });

  it.skipIf(!openssl)('does not overwrite files without --force (exit 2); with --force it does', () => {
    const out = join(files.dir, 'twice');
    expect(run(['create', '--out', out]).status).toBe(0);
    const before = readFileSync(join(out, 'ca.crt'), 'utf8');
    const again = run(['create', '--out', out]);
    expect(again.status).toBe(2);
    expect(again.stderr).toContain(`error: ${join(out, 'ca.crt')}, ${join(out, 'ca.key')}, ${join(out, 'server.crt')}, ${join(out, 'server.key')} already exist: give --force to overwrite, or another --out`);
    expect(run(['create', '--out', out, '--force']).status).toBe(0);
    expect(readFileSync(join(out, 'ca.crt'), 'utf8')).not.toBe(before);
  });

  it('refuses a bad --host or --days (exit 2) and says when openssl is missing (exit 1, ACCEL_ERR_CERTS_FAILED)', () => {
    const host = run(['create', '--out', join(files.dir, 'bad'), '--host', 'a,b', '-o', 'json']);
    expect(host.status).toBe(2);
    expect(lastJsonError(host.stderr)).toEqual({ code: 'ACCEL_ERR_USAGE', message: '--host must be a DNS name or an IP address, got "a,b"' });
    const days = run(['create', '--out', join(files.dir, 'bad'), '--days', '0']);
    expect(days.status).toBe(2);
    expect(days.stderr).toContain('--days must be a positive integer, got "0"');
    // node runs by its absolute path; openssl is not on this PATH.
    const noTool = run(['create', '--out', join(files.dir, 'no-openssl'), '-o', 'json'], { ...process.env, PATH: '/nonexistent' });
    expect(noTool.status).toBe(1);
    expect(lastJsonError(noTool.stderr)).toEqual({
      code: 'ACCEL_ERR_CERTS_FAILED',
      message: `Could not create the development certificates in ${join(files.dir, 'no-openssl')}: the openssl command is not installed or not on PATH (Debian: apt-get install openssl).`,
    });
  });

  it.skipIf(!openssl)('its files serve with accel serve --tls-cert/--tls-key/--tls-ca, a hashed key file and --metrics-auth', async () => {
    const out = join(files.dir, 'serve');
    expect(run(['create', '--out', out, '--client']).status).toBe(0);
    const pem = (name: string) => readFileSync(join(out, name));
    const model = files.write('tiny.onnx', tinyClassifier({ size: 8 }));
    const key = 'cli-key-5e0b7c';
    const keysFile = files.write('hashed-keys.json', hashedKeyFile({ primary: key, secondary: '' }));
    const server = await spawnServe(['--model', `tiny=${model}`, '--tls-cert', join(out, 'server.crt'), '--tls-key', join(out, 'server.key'),
      '--tls-ca', join(out, 'ca.crt'), '--api-keys-file', keysFile, '--metrics-auth']);
    const opened: Array<{ close(): void }> = [];
    try {
      expect(server.summary).toMatchObject({ tls: true, mutualTls: true, auth: { keys: ['primary'], file: keysFile, metrics: true } });
      const mutual = { ca: pem('ca.crt'), cert: pem('client.crt'), key: pem('client.key') };
      const client = (tls: { ca: Buffer; cert?: Buffer; key?: Buffer }, apiKey?: string) => {
        const c = new PredictionClient({ address: server.summary.grpc, modelName: 'tiny', tls, apiKey, retries: 0 });
        opened.push(c);
        return c.getModelStatus().then(
          (s) => s.model_version_status?.[0]?.state,
          (e: PredictionError) => e.codeName,
        );
      };
      expect(await client(mutual, key)).toBe('AVAILABLE');
      expect(await client(mutual, 'not-the-key')).toBe('UNAUTHENTICATED');
      expect(await client({ ca: pem('ca.crt') }, key)).toBe('UNAVAILABLE');

      const dispatcher = new Agent({ connect: mutual });
      opened.push({ close: () => void dispatcher.close() });
      const metrics = (authorization?: string) =>
        fetch(`https://${server.summary.rest}/metrics`, { dispatcher, headers: authorization ? { authorization } : {} }).then(async (r) => (await r.arrayBuffer(), r.status));
      expect(await metrics()).toBe(401);
      expect(await metrics(`Bearer ${key}`)).toBe(200);
      expect(server.stderr()).not.toContain(key);
    } finally {
      for (const c of opened) c.close();
      server.child.kill('SIGTERM');
    }
    expect((await exited(server.child)).code).toBe(0);
  });
});
