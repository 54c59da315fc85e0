import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, fetch as undiciFetch } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { exited, opensslAvailable, runAccel, spawnJson, waitFor } from '../test-util/processes';
import { Workspace } from '../workspace/workspace';
import { createDevCerts } from './certs';

let root: string;
let wsDir: string;
const children: ChildProcess[] = [];

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'accel-ui-cli-'));
  wsDir = join(root, 'ws');
  expect(runAccel(['workspace', 'init', wsDir]).code).toBe(0);
});
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Starts `accel ui ARGS --port 0 -o json` and resolves with what it printed once listening. */
async function startUi(args: string[]): Promise<{ child: ChildProcess; summary: { url: string; workspace: string; auth: boolean }; stderr: () => string }> {
  const started = await spawnJson<{ url: string; workspace: string; auth: boolean }>(['ui', '--port', '0', '-o', 'json', '--workspace', wsDir, ...args]);
  children.push(started.child);
  return started;
}

const keyJson = (verb: string, ...flags: string[]) => {
  const r = runAccel(['workspace', 'key', verb, ...flags, '-o', 'json'], { workspace: wsDir });
  return { ...r, json: r.code === 0 ? JSON.parse(r.stdout) : undefined };
};

describe('accel ui', () => {
  it('documents its flags and the key rules', () => {
    const r = runAccel(['ui', '--help']);
    expect(r.code).toBe(0);
    for (const flag of ['--port', '--host', '--workspace', '--max-upload-mb', '--tls-cert', '--tls-key', '--output', 'accel workspace key create']) expect(r.stdout).toContain(flag);
  });

  it('serves the API on a free loopback port, says it is open, and stops cleanly on SIGTERM', async () => {
    const { child, summary, stderr } = await startUi([]);
    expect(summary).toEqual({ url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/), workspace: wsDir, auth: false });
    const health = await (await fetch(`${summary.url}/api/health`)).json();
    expect(health).toEqual({ ok: true, workspace: wsDir, metadata: 'sqlite', auth: false });
    expect((await fetch(`${summary.url}/api/models`)).status).toBe(200);
    await waitFor(stderr, (s) => /open: the workspace has no key/.test(s), 'the note on stderr');
    child.kill('SIGTERM');
    expect(await exited(child)).toEqual({ code: 0, signal: null });
  });

  it('stops on SIGTERM while a client follows the log of a job that does not end', async () => {
    const ws = await Workspace.open(wsDir);
    const job = await ws.store.createJob({ id: 'job-stays-queued', kind: 'verify', inputs: {}, host: 'elsewhere' });
    await ws.close();
    const { child, summary } = await startUi([]);
    const log = await fetch(`${summary.url}/api/jobs/${job.id}/log`);
    expect(log.headers.get('content-type')).toMatch(/^text\/event-stream/);
    child.kill('SIGTERM');
    expect(await exited(child)).toEqual({ code: 0, signal: null });
    await log.body?.cancel().catch(() => undefined);
  });

  it('refuses bad flags and a non-loopback host without a workspace key (usage, exit 2)', () => {
    const exposed = runAccel(['ui', '--host', '0.0.0.0', '--port', '0', '-o', 'json'], { workspace: wsDir });
    expect(exposed.code).toBe(2);
    expect(JSON.parse(exposed.stderr).error).toMatchObject({ code: 'ACCEL_ERR_USAGE', message: expect.stringContaining('without a key: create one with `accel workspace key create') });
    expect(runAccel(['ui', '--port', '70000'], { workspace: wsDir }).code).toBe(2);
    expect(runAccel(['ui', '--max-upload-mb', '0'], { workspace: wsDir }).code).toBe(2);
    const halfTls = runAccel(['ui', '--tls-cert', join(root, 'x.crt'), '-o', 'json'], { workspace: wsDir });
    expect([halfTls.code, JSON.parse(halfTls.stderr).error.code]).toEqual([2, 'ACCEL_ERR_USAGE']);
  });
});

describe('accel workspace key', () => {
  it('creates a key shown once and stored only as its hash, refuses a second without --force, deletes it', () => {
    const made = keyJson('create');
    expect(made.code, made.stderr).toBe(0);
    expect(made.json).toEqual({ key: expect.stringMatching(/^\S{20,}$/), file: join(wsDir, 'api-keys.json') });
    const stored = readFileSync(made.json.file, 'utf8');
    expect(stored).not.toContain(made.json.key);
    expect(JSON.parse(stored)).toEqual({ primary: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) });
    const again = keyJson('create');
    expect([again.code, JSON.parse(again.stderr).error.code]).toEqual([1, 'ACCEL_ERR_ALREADY_EXISTS']);
    const forced = keyJson('create', '--force');
    expect(forced.json.key).not.toBe(made.json.key);
    const table = runAccel(['workspace', 'key', 'delete'], { workspace: wsDir });
    expect(table.stdout).toMatch(/^deleted .*api-keys\.json: accel ui needs no key now/);
    expect(keyJson('delete').json).toEqual({ deleted: false, file: join(wsDir, 'api-keys.json') });
  });

  it('lets accel ui listen beyond loopback with a key, and closes the API there again once the key is deleted', async () => {
    const { key } = keyJson('create').json;
    const { child, summary, stderr } = await startUi(['--host', '0.0.0.0']);
    expect(summary).toMatchObject({ url: expect.stringMatching(/^http:\/\/0\.0\.0\.0:\d+$/), auth: true });
    await waitFor(stderr, (s) => /protected by the workspace key/.test(s), 'the note on stderr');
    const base = summary.url.replace('0.0.0.0', '127.0.0.1');
    const models = (k?: string) => fetch(`${base}/api/models`, { headers: k ? { authorization: `Bearer ${k}` } : {} });
    expect((await models()).status).toBe(401);
    expect((await models(key)).status).toBe(200);
    expect(keyJson('delete').json.deleted).toBe(true);
    const refused = await models(key);
    expect(refused.status).toBe(401);
    expect((await refused.json()).error.message).toContain('the workspace key was deleted and 0.0.0.0 is not loopback');
    expect((await fetch(`${base}/api/health`)).status).toBe(200);
    child.kill('SIGINT');
    expect(await exited(child)).toEqual({ code: 0, signal: null });
  });

  const openssl = opensslAvailable('accel ui over https');
  it.skipIf(!openssl)('serves https with --tls-cert and --tls-key', async () => {
    const certs = await createDevCerts({ out: join(root, 'certs') });
    const { child, summary } = await startUi(['--tls-cert', certs.server.cert, '--tls-key', certs.server.key]);
    expect(summary.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const dispatcher = new Agent({ connect: { ca: readFileSync(certs.ca.cert) } });
    const health = await undiciFetch(`${summary.url}/api/health`, { dispatcher });
    expect(await health.json()).toMatchObject({ ok: true });
    await dispatcher.close();
    const plain = spawnSync(process.execPath, ['-e', `fetch(${JSON.stringify(summary.url.replace('https', 'http'))}).then(() => process.exit(0), () => process.exit(3))`]);
    expect(plain.status).toBe(3);
    child.kill('SIGTERM');
    expect(await exited(child)).toEqual({ code: 0, signal: null });
  });
});
