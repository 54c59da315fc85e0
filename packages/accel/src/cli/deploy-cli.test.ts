import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alive } from '../deploy/probe';
import { samplePhoto } from '../test-util/server';
import { tinyClassifier } from '../test-util/models';

/**
 * The seed's steps 4-7 through the CLI on a local target: image, compute, deploy with keys,
 * score, swap the model on the accelerator, rotate a key, clean up in dependency order.
 */
const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'accel.js');
let root: string;
let wsDir: string;
let photo: string;

function accel(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args, '--workspace', wsDir], { encoding: 'utf8', timeout: 300_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
function json(args: string[]) {
  const r = accel([...args, '-o', 'json']);
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  return JSON.parse(r.stdout);
}
function predict(uri: string, key?: string, protocol = 'grpc') {
  const address = uri;
  return spawnSync(process.execPath, [BIN, 'predict', photo, '--address', address, '--protocol', protocol, '--labels', 'none', '-o', 'json', ...(protocol === 'rest' ? ['--model', 'tiny'] : []), ...(key ? ['--api-key', key] : [])], { encoding: 'utf8', timeout: 60_000 });
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'accel-deploy-cli-'));
  wsDir = join(root, 'ws');
  photo = join(root, 'photo.jpg');
  writeFileSync(photo, await samplePhoto());
  expect(spawnSync(process.execPath, [BIN, 'workspace', 'init', wsDir]).status).toBe(0);
  writeFileSync(join(root, 'tiny.onnx'), tinyClassifier());
  writeFileSync(join(root, 'tiny2.onnx'), tinyClassifier({ size: 16 }));
  json(['model', 'register', join(root, 'tiny.onnx'), '--name', 'tiny']);
  json(['model', 'register', join(root, 'tiny2.onnx'), '--name', 'tiny']);
}, 120_000);
afterAll(() => {
  spawnSync(process.execPath, [BIN, 'service', 'delete', 'tiny-svc', '--workspace', wsDir]);
  rmSync(root, { recursive: true, force: true });
});

describe('images, deployments and clean-up', () => {
  it('refuses image names with capitals, as the original did', () => {
    const r = accel(['image', 'create', 'Tiny', '--model', 'tiny:1']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/must be lowercase/);
  });

  it('builds an image, deploys it with keys, scores, swaps the model, rotates a key, and deletes in order', async () => {
    const built = json(['image', 'create', 'tiny-image', '--model', 'tiny:1', '--tag', 'stage=test']);
    expect(built).toMatchObject({ id: 'tiny-image:1', state: 'Succeeded', models: ['tiny:1'] });
    expect(built.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(json(['image', 'list'])[0]).toMatchObject({ id: 'tiny-image:1', state: 'Succeeded' });
    expect(accel(['image', 'logs', 'tiny-image:1']).stdout).toMatch(/built tiny-image:1/);
    const second = json(['image', 'create', 'tiny-image', '--model', 'tiny:2']);
    expect(second.id).toBe('tiny-image:2');

    json(['compute', 'create', 'box', '--type', 'local', '--accelerators', '1']);
    const deployed = json(['deploy', 'tiny-svc', '--image', 'tiny-image:1', '--target', 'box', '--auth']);
    expect(deployed).toMatchObject({ name: 'tiny-svc', state: 'Healthy', image: 'tiny-image:1', target: 'local' });
    expect(deployed.scoringUri).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const { primary, secondary } = deployed.keys;
    expect(primary).not.toBe(secondary);

    // Every call needs a key; both keys work.
    expect(predict(deployed.grpcUri).status).toBe(1);
    expect(predict(deployed.grpcUri).stderr + predict(deployed.grpcUri).stdout).toMatch(/UNAUTHENTICATED/);
    const ok = predict(deployed.grpcUri, primary);
    expect(ok.status, ok.stderr).toBe(0);
    const rest = predict(deployed.scoringUri, secondary, 'rest');
    expect(rest.status, rest.stderr).toBe(0);

    // One model per accelerator: the target is full.
    const full = accel(['deploy', 'other-svc', '--image', 'tiny-image:2', '--target', 'box']);
    expect(full.code).toBe(1);
    expect(full.stderr).toMatch(/has 0 of 1 cpu accelerators free/);

    // Switch the model on the accelerator: stop old, start new, downtime reported.
    const swapped = json(['deploy', 'tiny-svc', '--image', 'tiny-image:2', '--target', 'box', '--replace', 'tiny-svc']);
    expect(swapped).toMatchObject({ name: 'tiny-svc', state: 'Healthy', image: 'tiny-image:2' });
    expect(swapped.downtimeSeconds).toBeGreaterThan(0);
    const k = swapped.keys;
    expect(predict(swapped.grpcUri, k.primary).status).toBe(0);

    // Rotate the secondary key: the old one stops working, the primary keeps working.
    const rotated = json(['service', 'regen-key', 'tiny-svc', '--key', 'secondary']);
    expect(rotated.keys.secondary).not.toBe(k.secondary);
    let old = predict(swapped.grpcUri, k.secondary);
    for (let i = 0; i < 50 && old.status === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      old = predict(swapped.grpcUri, k.secondary);
    }
    expect(old.status).toBe(1);
    expect(predict(swapped.grpcUri, rotated.keys.secondary).status).toBe(0);
    expect(predict(swapped.grpcUri, k.primary).status).toBe(0);

    expect(json(['service', 'list'])[0]).toMatchObject({ name: 'tiny-svc', state: 'Healthy' });
    expect(accel(['service', 'logs', 'tiny-svc']).stdout).toMatch(/ready/);

    // Out of order is refused, naming the dependents.
    const early = accel(['image', 'delete', 'tiny-image:2']);
    expect(early.code).toBe(1);
    expect(early.stderr).toMatch(/service tiny-svc/);
    expect(accel(['compute', 'delete', 'box']).stderr).toMatch(/service tiny-svc/);

    // The seed's order: service, compute, image, model.
    const pid = (json(['service', 'show', 'tiny-svc']) as { scoringUri: string }).scoringUri;
    expect(pid).toBeTruthy();
    const runtimeBefore = spawnSync('pgrep', ['-f', `service supervise ${join(wsDir, 'services', 'tiny-svc')}`], { encoding: 'utf8' }).stdout.trim();
    expect(accel(['service', 'delete', 'tiny-svc']).code).toBe(0);
    for (const p of runtimeBefore.split('\n').filter(Boolean)) expect(alive(Number(p))).toBe(false);
    expect(accel(['compute', 'delete', 'box']).code).toBe(0);
    expect(accel(['image', 'delete', 'tiny-image:2']).code).toBe(0);
    expect(accel(['image', 'delete', 'tiny-image:1']).code).toBe(0);
    expect(accel(['model', 'delete', 'tiny']).code).toBe(0);
    expect(json(['image', 'list'])).toEqual([]);
    expect(json(['service', 'list'])).toEqual([]);
  }, 600_000);

  it('prints Kubernetes manifests with --dry-run and changes nothing', () => {
    writeFileSync(join(root, 'kubeconfig'), YAML.stringify({ apiVersion: 'v1', kind: 'Config', 'current-context': 'c', contexts: [{ name: 'c', context: { cluster: 'k', user: 'u' } }], clusters: [{ name: 'k', cluster: { server: 'https://127.0.0.1:1' } }], users: [{ name: 'u', user: { token: 't' } }] }));
    json(['model', 'register', join(root, 'tiny.onnx'), '--name', 'tiny-k']);
    json(['image', 'create', 'tiny-k', '--model', 'tiny-k']);
    json(['compute', 'create', 'cluster', '--type', 'kubernetes', '--accelerators', '2', '--property', `kubeconfig=${join(root, 'kubeconfig')}`, '--property', 'registry=127.0.0.1:5000/accel']);
    const r = accel(['deploy', 'tiny-k8s', '--image', 'tiny-k', '--target', 'cluster', '--autoscale', '--min', '1', '--max', '3', '--auth', '--dry-run', '-o', 'yaml']);
    expect(r.code, r.stderr).toBe(0);
    const docs = YAML.parseAllDocuments(r.stdout).map((d) => d.toJS()).flat();
    expect(docs.map((d: { kind: string }) => d.kind)).toEqual(['Secret', 'Deployment', 'Service', 'HorizontalPodAutoscaler']);
    const deployment = docs[1];
    expect(deployment.spec.template.spec.containers[0].image).toBe('127.0.0.1:5000/accel/tiny-k:1');
    expect(deployment.spec.template.spec.containers[0].readinessProbe.httpGet.path).toBe('/readyz');
    expect(json(['service', 'list'])).toEqual([]);
    expect(json(['usage']).find((u: { compute: string }) => u.compute === 'cluster')).toMatchObject({ inUse: 0 });
  }, 300_000);
});
