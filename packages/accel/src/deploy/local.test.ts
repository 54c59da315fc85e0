import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { modelDir, tinyClassifier } from '../test-util/models';
import { ApiKeys } from '../protocols/auth';
import { hashKey } from '../protocols/key-hash';
import { LocalTarget, writeSecrets } from './local';
import { alive } from './probe';
import { readSupervisorState } from './supervisor';
import type { Deployed, DeploySpec } from './target';

const files = modelDir();
afterAll(() => files.cleanup());

function spec(name: string, extra: Partial<DeploySpec> = {}): DeploySpec {
  const workDir = join(files.dir, name);
  mkdirSync(workDir, { recursive: true });
  return {
    service: name,
    image: 'tiny-image:1',
    layoutDir: '',
    layoutRef: '1',
    models: [{ name: 'tiny', version: 1, dir: files.write(`${name}.onnx`, tinyClassifier()) }],
    replicas: 1,
    accelerators: 1,
    workDir,
    properties: {},
    ...extra,
  };
}

async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (ok(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('LocalTarget', () => {
  const target = new LocalTarget();

  it('runs the server under a supervisor that restarts it after a crash, and stops it all', async () => {
    const s = spec('svc-a');
    const deployed: Deployed = await target.start(s, () => undefined);
    try {
      expect(deployed.scoringUri).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect((await until(() => target.status(deployed.runtime, deployed), (x) => x.state === 'Healthy')).state).toBe('Healthy');
      const res = await fetch(`${deployed.scoringUri}/v1/models/tiny`);
      expect(res.status).toBe(200);

      const first = readSupervisorState(s.workDir)!;
      expect(alive(first.childPid!)).toBe(true);
      process.kill(first.childPid!, 'SIGKILL');
      const restarted = await until(async () => readSupervisorState(s.workDir)!, (x) => x.restarts === 1 && x.childPid !== null && x.childPid !== first.childPid);
      expect(restarted.restarts).toBe(1);
      expect(restarted.lastExit).toMatchObject({ signal: 'SIGKILL' });
      expect((await until(() => target.status(deployed.runtime, deployed), (x) => x.state === 'Healthy')).state).toBe('Healthy');
      expect(await target.logs(deployed.runtime, 50)).toMatch(/restart 1 in \d+ ms/);

      await target.stop(deployed.runtime);
      expect(alive(deployed.runtime.supervisorPid as number)).toBe(false);
      expect(alive(restarted.childPid!)).toBe(false);
      expect(readSupervisorState(s.workDir)!.state).toBe('stopped');
      expect((await target.status(deployed.runtime, deployed)).state).toBe('Failed');
      await target.stop(deployed.runtime); // idempotent
    } finally {
      await target.stop(deployed.runtime);
    }
  }, 120_000);

  it('reports a server that cannot start as Unhealthy with its restarts, not Healthy', async () => {
    const s = spec('svc-b', { models: [{ name: 'broken', version: 1, dir: files.write('broken.onnx', 'not a model') }] });
    const deployed = await target.start(s, () => undefined);
    try {
      const st = await until(() => target.status(deployed.runtime, deployed), (x) => x.state === 'Unhealthy', 60_000);
      expect(st.state).toBe('Unhealthy');
      expect(st.detail).toMatch(/restarted \d+ time/);
      expect(await target.logs(deployed.runtime)).toMatch(/broken/);
    } finally {
      await target.stop(deployed.runtime);
    }
  }, 120_000);
});

describe('writeSecrets', () => {
  it('keeps only the keys\' SHA-256 at rest (mode 0600), which the server accepts', async () => {
    const keys = { primary: 'plain-primary-4f1e', secondary: 'plain-secondary-9a0c' };
    const runDir = join(files.dir, 'secrets-run');
    expect(writeSecrets(spec('svc-s', { keys }), runDir)).toEqual(['--api-keys-file', join(runDir, 'keys.json')]);
    const text = readFileSync(join(runDir, 'keys.json'), 'utf8');
    expect(JSON.parse(text)).toEqual({ primary: hashKey(keys.primary), secondary: hashKey(keys.secondary) });
    expect(text).not.toMatch(/plain-/);
    expect(statSync(join(runDir, 'keys.json')).mode & 0o777).toBe(0o600);
    const accepted = await ApiKeys.open({ file: join(runDir, 'keys.json'), watch: false });
    try {
      expect(accepted.refusal(`Bearer ${keys.secondary}`)).toBeUndefined();
      expect(accepted.refusal(hashKey(keys.primary))).toBe('the API key is not valid'); // the hash is not a key
    } finally {
      accepted.close();
    }
  });
});
