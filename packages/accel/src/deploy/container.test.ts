import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccelError } from '../errors';
import { hashedKeyFile } from '../protocols/key-hash';
import type { ServiceState } from '../workspace/types';
import { ContainerTarget, runcState } from './container';
import { containerPrerequisites, findTool, runTool } from './container-exec';
import { buildEchoImage } from './container-fixture';
import { networkExists } from './netns';
import type { DeploySpec, Deployed } from './target';

const skip = containerPrerequisites(['runc', 'umoci', 'ip', 'ldd']);
if (skip) console.warn(`container target tests skipped: ${skip}`);

/** Polls the target until the service is in `want` (or a terminal state that is not it). */
async function waitFor(target: ContainerTarget, d: Deployed, want: ServiceState): Promise<{ state: ServiceState; detail?: string }> {
  const deadline = Date.now() + 90_000;
  for (;;) {
    const s = await target.status(d.runtime, d);
    if (s.state === want || (s.state === 'Failed' && want !== 'Failed') || Date.now() > deadline) return s;
    await new Promise((r) => setTimeout(r, 200));
  }
}

interface EchoInfo {
  pid: number;
  hostname: string;
  uid: number;
  argv: string[];
  keysFile?: string;
  keys: string | null;
  memoryLimit: string;
  runMount: string;
  tls: boolean;
  url: string;
}

describe.skipIf(Boolean(skip))('ContainerTarget (runc, as root)', () => {
  let image: Awaited<ReturnType<typeof buildEchoImage>>;
  let work: string;
  const target = new ContainerTarget();
  const started: Deployed[] = [];

  const spec = (service: string, extra: Partial<DeploySpec> = {}): DeploySpec => {
    const workDir = join(work, service);
    execFileSync('mkdir', ['-p', workDir]);
    return {
      service,
      image: 'echo:1',
      layoutDir: image.layoutDir,
      layoutRef: image.ref,
      models: [{ name: 'echo', version: 1, dir: '' }],
      replicas: 1,
      accelerators: 1,
      workDir,
      properties: {},
      ...extra,
    };
  };
  const start = async (s: DeploySpec, log: (l: string) => void = () => undefined) => {
    const d = await target.start(s, log);
    started.push(d);
    return d;
  };

  beforeAll(async () => {
    image = await buildEchoImage();
    work = mkdtempSync(join(tmpdir(), 'accel-container-test-'));
  });

  afterAll(async () => {
    for (const d of started) await target.stop(d.runtime);
    image?.cleanup();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('runs the image as pid 1 in its own namespaces, reachable through the veth, and cleans up on stop', async () => {
    const keys = { primary: 'primary-key-1', secondary: 'secondary-key-1' };
    const lines: string[] = [];
    const d = await start(spec('echo-edge', { keys, properties: { memory: '256m' } }), (l) => lines.push(l));
    const rt = d.runtime as Record<string, string>;
    expect(d.scoringUri).toBe(`http://${rt.ip}:8501`);
    expect(d.grpcUri).toBe(`${rt.ip}:8500`);
    expect(rt.ip).toMatch(/^10\.213\.\d+\.\d+$/);
    expect(rt).toMatchObject({ containerId: 'accel-echo-edge', netns: 'accel-echo-edge' });
    expect(lines.join('\n')).toContain(`network namespace accel-echo-edge: eth0 ${rt.ip}/30, host side ${rt.hostVeth}`);

    expect(await waitFor(target, d, 'Healthy')).toEqual({ state: 'Healthy' });
    const res = await fetch(`${d.scoringUri}/hello`);
    expect(res.status).toBe(200);
    const info = (await res.json()) as EchoInfo;
    expect(info).toMatchObject({ pid: 1, hostname: 'echo-edge', uid: 1000, url: '/hello', keysFile: '/run/accel/keys.json', runMount: 'EROFS', tls: false });
    expect(info.argv).toEqual(['/app/server.js', '--api-keys-file', '/run/accel/keys.json']);
    expect(JSON.parse(info.keys!)).toEqual(JSON.parse(hashedKeyFile(keys))); // hashes only at rest
    expect(info.memoryLimit).toBe(String(256 << 20));
    // The host side sees the container as a runc container and its own process tree.
    expect((await runcState('accel-echo-edge'))?.status).toBe('running');
    expect(await networkExists({ netns: 'accel-echo-edge', hostVeth: rt.hostVeth })).toEqual({ netns: true, hostVeth: true });

    // Rotating keys rewrites the host file only (kept readable by the container's user).
    const runKeys = join(rt.runDir, 'keys.json');
    const owner = statSync(runKeys);
    const rotated = { primary: 'primary-key-2', secondary: 'secondary-key-1' };
    writeFileSync(`${runKeys}.tmp`, JSON.stringify(rotated), { mode: 0o600 });
    chownSync(`${runKeys}.tmp`, owner.uid, owner.gid);
    renameSync(`${runKeys}.tmp`, runKeys);
    const again = (await (await fetch(`${d.scoringUri}/again`)).json()) as EchoInfo;
    expect(JSON.parse(again.keys!)).toEqual(rotated);

    expect(await target.logs(d.runtime)).toContain('echo server listening on 8501');

    await target.stop(d.runtime);
    expect(await runcState('accel-echo-edge')).toBeUndefined();
    expect(await networkExists({ netns: 'accel-echo-edge', hostVeth: rt.hostVeth })).toEqual({ netns: false, hostVeth: false });
    expect(existsSync(rt.bundle)).toBe(false);
    // SIGTERM first: the server had time to drain.
    expect(await target.logs(d.runtime)).toContain('draining');
    expect(await target.status(d.runtime, d)).toEqual({ state: 'Failed', detail: 'container accel-echo-edge does not exist (see `runc list`)' });
    await target.stop(d.runtime);
  });

  it('restarts over a leftover container and bundle, reports Failed when the container dies', async () => {
    const s = spec('echo-restart');
    const first = await start(s);
    expect((await waitFor(target, first, 'Healthy')).state).toBe('Healthy');
    // Start again without stopping: the old container, namespace and bundle are replaced.
    const second = await start(s);
    expect(second.scoringUri).toBe(first.scoringUri);
    expect((await waitFor(target, second, 'Healthy')).state).toBe('Healthy');
    expect(((await (await fetch(`${second.scoringUri}/x`)).json()) as EchoInfo).pid).toBe(1);

    // Running but not ready (503): Transitioning during the startup grace, Unhealthy after it.
    const notReady = join(String(second.runtime.runDir), 'not-ready');
    writeFileSync(notReady, '');
    expect(await target.status(second.runtime, second)).toEqual({ state: 'Transitioning', detail: 'container running, server not ready yet' });
    expect(await new ContainerTarget({ startupGraceMs: 0 }).status(second.runtime, second)).toEqual({
      state: 'Unhealthy',
      detail: `container running, but ${second.scoringUri}/readyz does not answer 200`,
    });
    rmSync(notReady);
    expect(await target.status(second.runtime, second)).toEqual({ state: 'Healthy' });

    await runTool('runc', ['kill', 'accel-echo-restart', 'SIGKILL']);
    const failed = await waitFor(target, second, 'Failed');
    expect(failed.state).toBe('Failed');
    expect(failed.detail).toMatch(/^container accel-echo-restart exited/);
    // Stopping a container that already died still frees its namespace and veth.
    await target.stop(second.runtime);
    expect(await runcState('accel-echo-restart')).toBeUndefined();
    expect(await networkExists({ netns: 'accel-echo-restart', hostVeth: String(second.runtime.hostVeth) })).toEqual({ netns: false, hostVeth: false });
  });

  it.skipIf(!findTool('openssl'))('serves HTTPS with the TLS files mounted from the run folder', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'accel-container-tls-'));
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-days', '1', '-subj', '/CN=echo-tls'], { stdio: 'ignore' });
      const tls = { cert: execFileSync('cat', [join(dir, 'c.pem')], { encoding: 'utf8' }), key: execFileSync('cat', [join(dir, 'k.pem')], { encoding: 'utf8' }) };
      const d = await start(spec('echo-tls', { tls }));
      expect(d.scoringUri).toMatch(/^https:\/\/10\.213\.\d+\.\d+:8501$/);
      expect((await waitFor(target, d, 'Healthy')).state).toBe('Healthy');
      const dispatcher = new Agent({ connect: { rejectUnauthorized: false } });
      const info = (await (await fetch(`${d.scoringUri}/tls`, { dispatcher })).json()) as EchoInfo;
      await dispatcher.close();
      expect(info.tls).toBe(true);
      expect(info.argv).toEqual(['/app/server.js', '--tls-cert', '/run/accel/tls.crt', '--tls-key', '/run/accel/tls.key']);
      await target.stop(d.runtime);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails with the runc or umoci error and leaves nothing behind when the container cannot start', async () => {
    await runTool('umoci', ['config', '--image', `${image.layoutDir}:${image.ref}`, '--tag', 'broken', '--config.entrypoint', '/no/such/binary', '--config.cmd', '']);
    const s = spec('echo-broken', { layoutRef: 'broken' });
    const err = await target.start(s, () => undefined).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AccelError);
    expect((err as AccelError).code).toBe('ACCEL_ERR_SERVICE_FAILED');
    expect((err as AccelError).message).toMatch(/^Service "echo-broken" did not become healthy: runc run exited with 1\. Last log lines:\n[^]*no such file or directory/);
    expect(await runcState('accel-echo-broken')).toBeUndefined();
    const names = { netns: 'accel-echo-broken', hostVeth: (await import('./netns')).networkNames('echo-broken').hostVeth };
    expect(await networkExists(names)).toEqual({ netns: false, hostVeth: false });
    expect(existsSync(join(s.workDir, 'bundle'))).toBe(false);

    const missing = await target.start(spec('echo-missing', { layoutRef: 'no-such-tag' }), () => undefined).then(
      () => undefined,
      (e: unknown) => e as AccelError,
    );
    expect(missing?.message).toMatch(/^Service "echo-missing" did not become healthy: `umoci unpack --image \S+:no-such-tag \S+` failed \(exit 1\): .*no-such-tag.*\. Last log lines: \(no output\)$/s);
    expect(await networkExists({ netns: 'accel-echo-missing', hostVeth: (await import('./netns')).networkNames('echo-missing').hostVeth })).toEqual({ netns: false, hostVeth: false });
  });
});

describe.skipIf(Boolean(skip))('ContainerTarget with the real server image (runc, as root)', () => {
  let work: string;
  let deployed: Deployed | undefined;
  const target = new ContainerTarget();

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'accel-container-real-'));
  });
  afterAll(async () => {
    if (deployed) await target.stop(deployed.runtime);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('scores a PNG over REST and answers gRPC through the veth address', { timeout: 600_000 }, async () => {
    const { buildImage } = await import('../image/build');
    const { tinyClassifier } = await import('../test-util/models');
    const { solidPng, rawGrpcClient } = await import('../test-util/server');
    const { expectClose, tinyExpectedFor } = await import('../test-util/expect');
    const modelFile = join(work, 'tiny.onnx');
    writeFileSync(modelFile, tinyClassifier());
    const layoutDir = join(work, 'image');
    const build = () => buildImage({ name: 'tiny', version: 1, models: [{ name: 'tiny', version: 1, path: modelFile }], outDir: layoutDir, created: new Date('2024-01-01T00:00:00Z') });
    // The app layer packs this checkout; a source file edited meanwhile fails the build (not what this test is about): build again.
    const built = await build().catch((err: Error) => {
      if (!/size mismatch|changed while it was packed/i.test(err.message)) throw err;
      rmSync(layoutDir, { recursive: true, force: true });
      return build();
    });
    const workDir = join(work, 'service');
    execFileSync('mkdir', ['-p', workDir]);
    deployed = await target.start(
      { service: 'tiny-edge', image: 'tiny:1', layoutDir, layoutRef: built.ref, models: [{ name: 'tiny', version: 1, dir: '' }], replicas: 1, accelerators: 1, workDir, properties: {} },
      () => undefined,
    );
    const state = await waitFor(target, deployed, 'Healthy');
    expect(state, await target.logs(deployed.runtime)).toEqual({ state: 'Healthy' });

    const png = await solidPng(200, 30, 90);
    const res = await fetch(`${deployed.scoringUri}/v1/models/tiny:predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ instances: [{ b64: png.toString('base64') }] }) });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { predictions: number[][] };
    expectClose(body.predictions[0], await tinyExpectedFor(png));

    const grpcClient = rawGrpcClient(deployed.grpcUri);
    try {
      const status = await grpcClient.call('GetModelStatus', { model_spec: { name: 'tiny' } });
      expect(status.model_version_status.map((s: { version: string; state: string }) => [s.version, s.state])).toEqual([['1', 'AVAILABLE']]);
    } finally {
      grpcClient.close();
    }

    await target.stop(deployed.runtime);
    expect(await runcState('accel-tiny-edge')).toBeUndefined();
    deployed = undefined;
  });
});
