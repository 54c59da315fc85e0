import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bigFile } from '../test-util/processes';
import { Workspace } from '../workspace/workspace';

const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'accel.js');
let root: string;
let wsDir: string;

function accel(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args, '--workspace', wsDir], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'accel-cli-ws-'));
  wsDir = join(root, 'ws');
  const init = spawnSync(process.execPath, [BIN, 'workspace', 'init', wsDir, '-o', 'json'], { encoding: 'utf8' });
  expect(init.status).toBe(0);
  expect(JSON.parse(init.stdout)).toMatchObject({ path: wsDir, metadata: 'sqlite' });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('accel model', () => {
  it('registers, lists, shows, downloads, tags; every output format', () => {
    const model = join(root, 'tiny.onnx');
    writeFileSync(model, 'not really onnx, bytes are bytes');
    const reg = accel(['model', 'register', model, '--name', 'tiny', '--tag', 'stage=dev', '--description', 'a test', '-o', 'json']);
    expect(reg.code).toBe(0);
    expect(JSON.parse(reg.stdout)).toMatchObject({ name: 'tiny', id: 'tiny:1', version: 1, size: 32, tags: { stage: 'dev' }, createdTime: expect.any(String) });
    expect(accel(['model', 'register', model, '--name', 'tiny']).stdout).toMatch(/^registered tiny:2 \(32 B, sha256:[0-9a-f]{64}\)/);
    const yaml = YAML.parse(accel(['model', 'list', '-o', 'yaml']).stdout);
    expect(yaml.map((m: { id: string }) => m.id)).toEqual(['tiny:2', 'tiny:1']);
    expect(accel(['model', 'list']).stdout).toMatch(/^NAME\s+VERSION\s+SIZE\s+DIGEST\s+TAGS\s+CREATED\ntiny\s+2/);
    expect(accel(['model', 'show', 'tiny']).stdout).toMatch(/id\s+tiny:2/);
    expect(accel(['model', 'tag', 'tiny:2', 'stage=prod', '-o', 'json']).stdout).toMatch(/"stage": "prod"/);
    expect(JSON.parse(accel(['model', 'list', '--tag', 'stage=prod', '-o', 'json']).stdout).map((m: { id: string }) => m.id)).toEqual(['tiny:2']);
    const down = accel(['model', 'download', 'tiny:1', join(root, 'down'), '-o', 'json']);
    expect(JSON.parse(down.stdout).path).toBe(join(root, 'down', 'tiny.onnx'));
    expect(accel(['model', 'untag', 'tiny:2', 'stage', '-o', 'json']).stdout).not.toMatch(/stage/);
  });

  it('answers bad input with a clear message and exit code, writing nothing', () => {
    const bad = accel(['model', 'register', join(root, 'missing.onnx'), '--name', 'x']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/error: cannot read .*missing.onnx: ENOENT/);
    const name = accel(['model', 'register', BIN, '--name', 'Bad_Name']);
    expect(name.code).toBe(1);
    expect(name.stderr).toMatch(/Model name "Bad_Name" is invalid/);
    const tag = accel(['model', 'register', BIN, '--name', 'ok', '--tag', 'novalue']);
    expect(tag.code).toBe(2);
    expect(tag.stderr).toMatch(/--tag takes KEY=VALUE/);
    const missing = accel(['model', 'show', 'tiny:9']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/Model "tiny:9" does not exist in this workspace. Versions: 2, 1/);
    expect(JSON.parse(accel(['model', 'list', '--name', 'ok', '-o', 'json']).stdout)).toEqual([]);
    const nows = spawnSync(process.execPath, [BIN, 'model', 'list', '--workspace', join(root, 'nothing-here')], { encoding: 'utf8' });
    expect(nows.status).toBe(1);
    expect(nows.stderr).toMatch(/No workspace at .*nothing-here. Create one with `accel workspace init/);
  });

  it('gives two processes registering one name at once distinct versions', async () => {
    const file = join(root, 'race.onnx');
    writeFileSync(file, 'race');
    const register = () =>
      new Promise<number[]>((resolve) => {
        const script = `for i in 1 2 3; do "${process.execPath}" "${BIN}" model register "${file}" --name race --workspace "${wsDir}" -o json; done`;
        const child = spawn('bash', ['-c', script], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        child.stdout.on('data', (d) => (out += d));
        child.on('exit', () => resolve([...out.matchAll(/"version": (\d+)/g)].map((m) => Number(m[1]))));
      });
    const [a, b] = await Promise.all([register(), register()]);
    expect([...a, ...b].sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5, 6]);
  });
});

// kill -9 during register, convert and image build: workspace/kill.test.ts.
describe('crash safety', () => {
  it('a job whose process is killed is marked failed, with its log, on the next open', async () => {
    bigFile(join(root, 'big2.bin'), 300, 2);
    expect(accel(['model', 'register', join(root, 'big2.bin'), '--name', 'big']).code).toBe(0);
    let ws = await Workspace.open(wsDir);
    const handle = await ws.startJob('verify', {}, { detached: true });
    let pid: number | null = null;
    for (let i = 0; i < 500 && !pid; i++) {
      const j = await ws.getJob(handle.id);
      if (j.state === 'running' && (await ws.store.jobLog(handle.id)).length > 0) pid = j.pid;
      else await new Promise((r) => setTimeout(r, 10));
    }
    expect(pid).toBeTruthy();
    process.kill(pid!, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 100));
    await ws.close();
    ws = await Workspace.open(wsDir);
    try {
      const job = await ws.getJob(handle.id);
      expect(job.state).toBe('failed');
      expect(job.error).toMatch(/interrupted/);
    } finally {
      await ws.close();
    }
    const logs = accel(['job', 'logs', handle.id]);
    expect(logs.stdout).toMatch(/verifying every blob[\s\S]*interrupted: process \d+ ended/);
    expect(accel(['job', 'wait', handle.id]).code).toBe(1);
  });

  it('runs a detached job to completion and `job wait` streams its log', () => {
    const start = spawnSync(process.execPath, ['-e', `
      import('${join(dirname(fileURLToPath(import.meta.url)), '..', 'workspace', 'workspace.ts').replace(/\\/g, '/')}').then(async ({ Workspace }) => {
        const ws = await Workspace.open(${JSON.stringify(wsDir)});
        const h = await ws.startJob('verify', {}, { detached: true });
        process.stdout.write(h.id);
        await ws.close();
      });`], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '--import tsx' } });
    const id = start.stdout.trim();
    expect(id).toMatch(/^verify-/);
    const wait = accel(['job', 'wait', id, '--show-output']);
    expect(wait.code).toBe(0);
    expect(wait.stderr).toMatch(/verifying every blob[\s\S]*hashed: 100%[\s\S]*succeeded/);
    expect(wait.stdout).toMatch(new RegExp(`job ${id}: succeeded`));
    expect(JSON.parse(accel(['job', 'list', '--kind', 'verify', '-o', 'json']).stdout).map((j: { state: string }) => j.state)).toContain('succeeded');
  });
});

describe('accel compute and usage', () => {
  it('creates targets, shows failures, lists usage', () => {
    const ok = accel(['compute', 'create', 'edge', '--accelerators', '2', '-o', 'json']);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ name: 'edge', state: 'Succeeded', accelerators: 2 });
    const gpu = accel(['compute', 'create', 'gpu', '--accelerators', '1', '--accelerator-type', 'cuda']);
    expect(gpu.code).toBe(1);
    expect(gpu.stderr).toMatch(/Compute target "gpu" is Failed: .*cuda/);
    const usage = accel(['usage']);
    expect(usage.stdout).toMatch(/^COMPUTE\s+TYPE\s+ACCELERATOR\s+STATE\s+TOTAL\s+IN USE\s+FREE\nedge\s+local\s+cpu\s+Succeeded\s+2\s+0\s+2\ngpu/);
    expect(accel(['compute', 'delete', 'gpu']).stdout).toMatch(/deleted: compute gpu/);
    expect(accel(['compute', 'create', 'edge', '--accelerators', '1']).stderr).toMatch(/Compute target "edge" already exists/);
  });
});
