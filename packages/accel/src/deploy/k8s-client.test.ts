import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientNodeKubeApi, KubeApiError } from './k8s-client';
import { kubernetesManifests } from './k8s-manifests';

const kubeconfig = (server: string, extraContext = '') => `apiVersion: v1
kind: Config
clusters:
- name: lab
  cluster: {server: "${server}", insecure-skip-tls-verify: true}
users:
- name: deployer
  user: {token: secret-token}
contexts:
- name: lab
  context: {cluster: lab, user: deployer, namespace: serving}
${extraContext}current-context: lab
`;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'accel-k8s-client-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function writeConfig(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

describe('ClientNodeKubeApi construction (no network)', () => {
  it('reads the cluster of the current context, or of the context asked for', () => {
    const file = writeConfig('two.yaml', kubeconfig('https://127.0.0.1:1', '- name: other\n  context: {cluster: lab, user: deployer}\n'));
    const api = new ClientNodeKubeApi({ kubeconfig: file });
    expect([api.server, api.context]).toEqual(['https://127.0.0.1:1', 'lab']);
    expect(new ClientNodeKubeApi({ kubeconfig: file, context: 'other' }).context).toBe('other');
  });

  it('names a missing context and the ones there are', () => {
    const file = writeConfig('one.yaml', kubeconfig('https://127.0.0.1:1'));
    expect(() => new ClientNodeKubeApi({ kubeconfig: file, context: 'prod' })).toThrow(/has no context "prod" \(contexts: lab\)/);
  });

  it('names a plain-HTTP server without insecure-skip-tls-verify as unusable', async () => {
    const api = new ClientNodeKubeApi({ kubeconfig: writeConfig('http.yaml', kubeconfig('http://127.0.0.1:1').replace(', insecure-skip-tls-verify: true', '')) });
    await expect(api.rolloutStatus('serving', 'resnet')).rejects.toThrow(/"kubernetes context lab" is unusable: read Deployment serving\/resnet at http:\/\/127\.0\.0\.1:1: HTTP protocol is not allowed/);
  });

  it('says which kubeconfig it could not read', () => {
    expect(() => new ClientNodeKubeApi({ kubeconfig: join(dir, 'absent.yaml') })).toThrow(/cannot read kubeconfig .*absent\.yaml/);
  });
});

describe('ClientNodeKubeApi against an unreachable cluster', () => {
  it('fails with ACCEL_ERR_COMPUTE_UNAVAILABLE naming the server and the cause', async () => {
    const api = new ClientNodeKubeApi({ kubeconfig: writeConfig('down.yaml', kubeconfig('https://127.0.0.1:1')) });
    const err = await api.rolloutStatus('serving', 'resnet').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ACCEL_ERR_COMPUTE_UNAVAILABLE' });
    expect((err as Error).message).toMatch(/read Deployment serving\/resnet: cannot reach the API server https:\/\/127\.0\.0\.1:1 \(ECONNREFUSED\)/);
    await expect(api.apply(kubernetesManifests(SPEC), 'serving')).rejects.toThrow(/apply Secret serving\/resnet-secrets: cannot reach the API server https:\/\/127\.0\.0\.1:1 \(ECONNREFUSED\)/);
  });
});

const SPEC = {
  service: 'resnet',
  image: 'resnet:1',
  layoutDir: '/x',
  layoutRef: '1',
  models: [{ name: 'm', version: 1, dir: '' }],
  replicas: 1,
  accelerators: 1,
  workDir: '/x',
  properties: {},
  imageRef: 'registry.example/accel/resnet:1',
  namespace: 'serving',
  keys: { primary: 'a', secondary: 'b' },
};

/** A stand-in API server on loopback: discovery, server-side apply, reads, deletes; records every request. */
describe('ClientNodeKubeApi against a stand-in API server on 127.0.0.1', () => {
  let server: Server;
  let api: ClientNodeKubeApi;
  const seen: { method: string; url: string; type?: string; auth?: string; body?: Record<string, unknown> }[] = [];
  const stored = new Map<string, Record<string, unknown>>();
  const resources: Record<string, [string, string][]> = {
    '/api/v1': [['secrets', 'Secret'], ['services', 'Service'], ['pods', 'Pod']],
    '/apis/apps/v1': [['deployments', 'Deployment']],
    '/apis/autoscaling/v2': [['horizontalpodautoscalers', 'HorizontalPodAutoscaler']],
  };

  const read = (req: IncomingMessage) => new Promise<string>((resolve) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString()));
    req.on('end', () => resolve(text));
  });

  beforeAll(async () => {
    server = createServer(async (req, res) => {
      const text = await read(req);
      const url = new URL(req.url!, 'http://x');
      const body = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
      seen.push({ method: req.method!, url: req.url!, type: req.headers['content-type'], auth: req.headers.authorization, body });
      const json = (status: number, value: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(value));
      };
      const notFound = () => json(404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: `${url.pathname} not found`, reason: 'NotFound', code: 404 });
      const group = resources[url.pathname];
      if (req.method === 'GET' && group) {
        const groupVersion = url.pathname.replace(/^\/apis?\//, '');
        return json(200, { kind: 'APIResourceList', apiVersion: 'v1', groupVersion, resources: group.map(([name, kind]) => ({ name, kind, namespaced: true, singularName: '', verbs: ['get', 'patch', 'delete'] })) });
      }
      if (url.pathname === '/api/v1/namespaces/serving/pods') {
        return json(200, { kind: 'PodList', apiVersion: 'v1', metadata: {}, items: [{ metadata: { name: 'resnet-b' } }, { metadata: { name: 'resnet-a' } }] });
      }
      const log = /^\/api\/v1\/namespaces\/serving\/pods\/([^/]+)\/log$/.exec(url.pathname);
      if (log) {
        res.writeHead(200, { 'content-type': 'text/plain' });
        return res.end(`log of ${log[1]} (container ${url.searchParams.get('container')}, tail ${url.searchParams.get('tailLines')})\n`);
      }
      if (req.method === 'PATCH') {
        stored.set(url.pathname, body!);
        return json(200, body);
      }
      if (req.method === 'DELETE') {
        if (!stored.delete(url.pathname)) return notFound();
        return json(200, { kind: 'Status', apiVersion: 'v1', status: 'Success' });
      }
      if (req.method === 'GET' && url.pathname === '/apis/apps/v1/namespaces/serving/deployments/resnet') {
        return json(200, {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: 'resnet', generation: 3 },
          spec: { replicas: 2, selector: {}, template: {} },
          status: { observedGeneration: 3, replicas: 3, updatedReplicas: 2, readyReplicas: 1, availableReplicas: 1, conditions: [{ type: 'Progressing', status: 'True', reason: 'ReplicaSetUpdated', message: 'progressing' }] },
        });
      }
      if (req.method === 'GET' && url.pathname === '/api/v1/namespaces/serving/services/resnet') {
        return json(200, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'resnet' }, spec: { type: 'LoadBalancer', clusterIP: '10.0.0.7' }, status: { loadBalancer: { ingress: [{ ip: '203.0.113.9' }] } } });
      }
      return notFound();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    api = new ClientNodeKubeApi({ kubeconfig: writeConfig('local.yaml', kubeconfig(`http://127.0.0.1:${port}`)) });
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('applies every object with server-side apply as field manager accel, in order', async () => {
    const objects = kubernetesManifests(SPEC);
    await api.apply(objects, 'serving');
    const patches = seen.filter((r) => r.method === 'PATCH');
    expect(patches.map((r) => r.url)).toEqual([
      '/api/v1/namespaces/serving/secrets/resnet-secrets?fieldManager=accel&force=true',
      '/apis/apps/v1/namespaces/serving/deployments/resnet?fieldManager=accel&force=true',
      '/api/v1/namespaces/serving/services/resnet?fieldManager=accel&force=true',
    ]);
    expect(patches.every((r) => r.type === 'application/apply-patch+yaml' && r.auth === 'Bearer secret-token')).toBe(true);
    // The typed serializer must not drop fields it does not know (preStop sleep, appProtocol, Secret data).
    expect(JSON.parse(JSON.stringify(patches.map((r) => r.body)))).toEqual(JSON.parse(JSON.stringify(objects)));
  });

  it('reads rollout status, pod logs and the load balancer address', async () => {
    expect(await api.rolloutStatus('serving', 'resnet')).toEqual({
      desired: 2,
      updated: 2,
      ready: 1,
      available: 1,
      total: 3,
      generation: 3,
      observedGeneration: 3,
      conditions: [{ type: 'Progressing', status: 'True', reason: 'ReplicaSetUpdated', message: 'progressing' }],
    });
    expect(await api.podLogs('serving', 'ai.accel/service=resnet', 5)).toBe(
      '==> pod/resnet-a <==\nlog of resnet-a (container server, tail 5)\n\n==> pod/resnet-b <==\nlog of resnet-b (container server, tail 5)\n',
    );
    expect(seen.find((r) => r.url.startsWith('/api/v1/namespaces/serving/pods?'))?.url).toBe('/api/v1/namespaces/serving/pods?labelSelector=ai.accel%2Fservice%3Dresnet');
    expect(await api.serviceAddress('serving', 'resnet')).toBe('203.0.113.9');
    expect(await api.serviceAddress('serving', 'gone')).toBeUndefined();
  });

  it('turns API errors into KubeApiError with the status message', async () => {
    const err = await api.rolloutStatus('serving', 'missing').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeApiError);
    expect(err).toMatchObject({ status: 404, message: 'read Deployment serving/missing: HTTP 404: /apis/apps/v1/namespaces/serving/deployments/missing not found' });
  });

  it('patches one Secret entry with a merge patch', async () => {
    await api.patchSecretData('serving', 'resnet-secrets', { 'keys.json': 'e30=' });
    const last = seen.at(-1)!;
    expect([last.method, last.url, last.type, last.body]).toEqual([
      'PATCH',
      '/api/v1/namespaces/serving/secrets/resnet-secrets?fieldManager=accel',
      'application/merge-patch+json',
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'resnet-secrets', namespace: 'serving' }, data: { 'keys.json': 'e30=' } },
    ]);
  });

  it('deletes in reverse order and skips objects already gone', async () => {
    const objects = kubernetesManifests({ ...SPEC, autoscale: { min: 1, max: 2, targetUtilization: 50 } });
    const from = seen.length;
    await api.delete(objects, 'serving');
    expect(seen.slice(from).filter((r) => r.method === 'DELETE').map((r) => r.url.split('?')[0])).toEqual([
      '/apis/autoscaling/v2/namespaces/serving/horizontalpodautoscalers/resnet',
      '/api/v1/namespaces/serving/services/resnet',
      '/apis/apps/v1/namespaces/serving/deployments/resnet',
      '/api/v1/namespaces/serving/secrets/resnet-secrets',
    ]);
    expect(stored.size).toBe(0);
    await api.delete(objects, 'serving');
  });
});
