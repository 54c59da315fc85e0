import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { OciLayout } from '../image/layout';
import { missingTools, startRegistry } from '../image/test-registry';
import { hashKey } from '../protocols/key-hash';
import type { ServiceRecord } from '../workspace/types';
import type { Workspace } from '../workspace/workspace';
import { dryRun } from './dry-run';
import { KubeApiError, type KubeApi, type RolloutStatus } from './k8s-client';
import type { KubeObject } from './k8s-manifests';
import { KubernetesTarget, pushToRegistry, rolloutPhase, updateKeys, waitForRollout } from './kubernetes';
import type { DeploySpec } from './target';

/** A KubeApi that records calls and plays back a scripted rollout. */
class FakeKubeApi implements KubeApi {
  calls: string[] = [];
  applied: KubeObject[] = [];
  rollout: (RolloutStatus | Error)[] = [];
  address?: string;
  failApplyOf?: string;

  async apply(objects: readonly KubeObject[], namespace: string) {
    for (const o of objects) {
      if (o.kind === this.failApplyOf) throw new KubeApiError(403, `apply ${o.kind} ${namespace}/${o.metadata.name}: HTTP 403: forbidden`);
      this.calls.push(`apply ${o.kind} ${namespace}/${o.metadata.name}`);
      this.applied.push(o);
    }
  }
  async rolloutStatus(namespace: string, deployment: string) {
    this.calls.push(`rollout ${namespace}/${deployment}`);
    const next = this.rollout.length > 1 ? this.rollout.shift()! : this.rollout[0]!;
    if (next instanceof Error) throw next;
    return next;
  }
  async delete(objects: readonly KubeObject[], namespace: string) {
    for (const o of [...objects].reverse()) this.calls.push(`delete ${o.kind} ${namespace}/${o.metadata.name}`);
  }
  async podLogs(namespace: string, selector: string, tailLines: number) {
    this.calls.push(`logs ${namespace} ${selector} ${tailLines}`);
    return '==> pod/svc-1 <==\nready\n';
  }
  async serviceAddress(namespace: string, name: string) {
    this.calls.push(`address ${namespace}/${name}`);
    return this.address;
  }
  async patchSecretData(namespace: string, name: string, data: Record<string, string>) {
    this.calls.push(`patch ${namespace}/${name} ${Object.keys(data).join(',')} ${Buffer.from(data['keys.json']!, 'base64').toString()}`);
  }
}

const CMD = ['--model', 'resnet50=/models/resnet50/2/resnet50.onnx:2', '--grpc-port', '8500', '--rest-port', '8501'];
let dir: string;

/** A one-image OCI layout whose config carries CMD (what `accel image create` writes). */
async function writeLayout(at: string): Promise<void> {
  const layout = new OciLayout(at);
  await layout.init();
  const config = await layout.putJson({ architecture: 'amd64', os: 'linux', config: { Cmd: CMD }, rootfs: { type: 'layers', diff_ids: [] } }, 'application/vnd.oci.image.config.v1+json');
  const manifest = await layout.putJson({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: config.mediaType, digest: config.digest, size: config.size }, layers: [] }, 'application/vnd.oci.image.manifest.v1+json');
  await layout.tag(manifest, '3');
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'accel-k8s-target-'));
  await writeLayout(join(dir, 'layout'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function spec(over: Partial<DeploySpec> = {}): DeploySpec {
  return {
    service: 'resnet-svc',
    image: 'resnet:3',
    layoutDir: join(dir, 'layout'),
    layoutRef: '3',
    models: [{ name: 'resnet50', version: 2, dir: '' }],
    replicas: 2,
    accelerators: 1,
    workDir: join(dir, 'work'),
    properties: { namespace: 'serving', context: 'lab' },
    ...over,
  };
}

const resolver = async () => 'registry.example/accel/resnet:3';

const status = (s: Partial<RolloutStatus>): RolloutStatus => ({ desired: 2, updated: 0, ready: 0, available: 0, total: 0, generation: 2, observedGeneration: 2, conditions: [], ...s });
const progressing = (reason: string, message = '') => ({ type: 'Progressing', status: reason === 'ProgressDeadlineExceeded' ? 'False' : 'True', reason, message });
const ROLLOUT = [
  status({ observedGeneration: 1 }),
  status({ total: 1, updated: 1, conditions: [progressing('ReplicaSetUpdated')] }),
  status({ total: 2, updated: 2, ready: 1, available: 1, conditions: [progressing('ReplicaSetUpdated')] }),
  status({ total: 2, updated: 2, ready: 2, available: 2, conditions: [progressing('NewReplicaSetAvailable')] }),
];

describe('KubernetesTarget.start', () => {
  it('applies Secret, Deployment, Service, autoscaler in order, logging each, and returns cluster DNS URIs', async () => {
    const api = new FakeKubeApi();
    const lines: string[] = [];
    const connections: unknown[] = [];
    const target = new KubernetesTarget({ api: (conn) => (connections.push(conn), api), resolveImage: resolver });
    const deployed = await target.start(spec({ keys: { primary: 'p', secondary: 's' }, tls: { cert: 'C', key: 'K' }, autoscale: { min: 1, max: 3, targetUtilization: 60 } }), (l) => lines.push(l));
    expect(api.calls).toEqual(['apply Secret serving/resnet-svc-secrets', 'apply Deployment serving/resnet-svc', 'apply Service serving/resnet-svc', 'apply HorizontalPodAutoscaler serving/resnet-svc']);
    expect(lines).toEqual(['applied Secret serving/resnet-svc-secrets', 'applied Deployment serving/resnet-svc', 'applied Service serving/resnet-svc', 'applied HorizontalPodAutoscaler serving/resnet-svc']);
    expect(connections).toEqual([{ kubeconfig: undefined, context: 'lab' }]);
    expect(deployed.scoringUri).toBe('https://resnet-svc.serving.svc.cluster.local:8501');
    expect(deployed.grpcUri).toBe('resnet-svc.serving.svc.cluster.local:8500');
    expect(deployed.runtime).toMatchObject({ namespace: 'serving', deployment: 'resnet-svc', secret: 'resnet-svc-secrets', imageRef: 'registry.example/accel/resnet:3', context: 'lab' });
    const container = (api.applied[1] as unknown as { spec: { template: { spec: { containers: { image: string; args: string[] }[] } } } }).spec.template.spec.containers[0]!;
    expect(container.image).toBe('registry.example/accel/resnet:3');
    expect(container.args.slice(0, CMD.length)).toEqual(CMD);
  });

  it('uses the load balancer address when the cluster already knows it', async () => {
    const api = new FakeKubeApi();
    api.address = '203.0.113.9';
    const lines: string[] = [];
    const deployed = await new KubernetesTarget({ api, resolveImage: resolver }).start(spec({ properties: { serviceType: 'LoadBalancer' } }), (l) => lines.push(l));
    expect(deployed.scoringUri).toBe('http://203.0.113.9:8501');
    expect(deployed.grpcUri).toBe('203.0.113.9:8500');
    expect(deployed.runtime).toMatchObject({ namespace: 'default' });
    expect(lines.at(-1)).toBe('load balancer address 203.0.113.9');
  });

  it('when an apply is refused, removes what it applied and says why', async () => {
    const api = new FakeKubeApi();
    api.failApplyOf = 'Service';
    const err = await new KubernetesTarget({ api, resolveImage: resolver }).start(spec(), () => undefined).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ACCEL_ERR_SERVICE_FAILED' });
    expect((err as Error).message).toMatch(/apply Service serving\/resnet-svc: HTTP 403: forbidden/);
    expect(api.calls).toEqual(['apply Deployment serving/resnet-svc', 'delete Deployment serving/resnet-svc']);
  });
});

describe('rollout', () => {
  it('waitForRollout polls through the rollout until every replica is updated and ready, reporting each step', async () => {
    const api = new FakeKubeApi();
    api.rollout = [...ROLLOUT];
    const progress: string[] = [];
    const final = await waitForRollout(api, 'serving', 'resnet-svc', { pollMs: 1, onProgress: (l) => progress.push(l) });
    expect(final).toMatchObject({ updated: 2, ready: 2, available: 2 });
    expect(progress).toEqual([
      'deployment serving/resnet-svc: Transitioning: waiting for the controller to see the new spec',
      'deployment serving/resnet-svc: Transitioning: rolling out: 1 updated, 0 ready, 0 available of 2',
      'deployment serving/resnet-svc: Transitioning: 2 updated, 1 ready, 1 available of 2',
      'deployment serving/resnet-svc: Healthy: 2 updated, 2 ready, 2 available of 2',
    ]);
  });

  it('status maps each poll to Transitioning, then Healthy', async () => {
    const api = new FakeKubeApi();
    api.rollout = [...ROLLOUT];
    const target = new KubernetesTarget({ api, resolveImage: resolver });
    const deployed = await target.start(spec(), () => undefined);
    const states: string[] = [];
    for (let i = 0; i < ROLLOUT.length; i++) states.push((await target.status(deployed.runtime, deployed)).state);
    expect(states).toEqual(['Transitioning', 'Transitioning', 'Transitioning', 'Healthy']);
  });

  it('a finished rollout that loses replicas is Unhealthy; old replicas still terminating is Transitioning', () => {
    const lost = status({ total: 2, updated: 2, ready: 1, available: 1, conditions: [progressing('NewReplicaSetAvailable'), { type: 'Available', status: 'False', reason: 'MinimumReplicasUnavailable', message: 'Deployment does not have minimum availability.' }] });
    expect(rolloutPhase(lost)).toEqual({ state: 'Unhealthy', detail: '2 updated, 1 ready, 1 available of 2 (Deployment does not have minimum availability.)' });
    expect(rolloutPhase(status({ total: 3, updated: 2, ready: 2, available: 2 })).state).toBe('Transitioning');
  });

  it('ProgressDeadlineExceeded is Failed, with the condition message', async () => {
    const message = 'ReplicaSet "resnet-svc-6d4f" has timed out progressing.';
    const api = new FakeKubeApi();
    api.rollout = [status({ total: 1, updated: 1, conditions: [progressing('ProgressDeadlineExceeded', message)] })];
    await expect(waitForRollout(api, 'serving', 'resnet-svc', { pollMs: 1 })).rejects.toThrow(`Service "resnet-svc" did not become healthy: ${message}`);
    const target = new KubernetesTarget({ api, resolveImage: resolver });
    const deployed = await target.start(spec(), () => undefined);
    expect(await target.status(deployed.runtime, deployed)).toEqual({ state: 'Failed', detail: message });
  });

  it('gives up after the timeout, saying where the rollout stood', async () => {
    const api = new FakeKubeApi();
    api.rollout = [status({ total: 1, updated: 1, conditions: [progressing('ReplicaSetUpdated')] })];
    const err = await waitForRollout(api, 'serving', 'resnet-svc', { timeoutMs: 20, pollMs: 1 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ACCEL_ERR_SERVICE_FAILED' });
    expect((err as Error).message).toMatch(/rollout not complete after 20 ms \(rolling out: 1 updated, 0 ready, 0 available of 2\)/);
    expect(api.calls.length).toBeGreaterThan(1);
  });

  it('status: a deleted Deployment is Failed, an unreachable cluster Unhealthy', async () => {
    const api = new FakeKubeApi();
    const target = new KubernetesTarget({ api, resolveImage: resolver });
    const deployed = await target.start(spec(), () => undefined);
    api.rollout = [new KubeApiError(404, 'read Deployment serving/resnet-svc: HTTP 404: not found')];
    expect(await target.status(deployed.runtime, deployed)).toEqual({ state: 'Failed', detail: 'deployment serving/resnet-svc does not exist (deleted outside accel?)' });
    api.rollout = [new Error('cannot reach the API server')];
    expect(await target.status(deployed.runtime, deployed)).toEqual({ state: 'Unhealthy', detail: 'cannot reach the API server' });
    expect(await target.status({}, deployed)).toMatchObject({ state: 'Failed' });
  });
});

describe('KubernetesTarget.logs and stop', () => {
  it('reads the logs of the pods the selector matches', async () => {
    const api = new FakeKubeApi();
    const target = new KubernetesTarget({ api, resolveImage: resolver });
    const deployed = await target.start(spec(), () => undefined);
    expect(await target.logs(deployed.runtime, 20)).toBe('==> pod/svc-1 <==\nready\n');
    expect(api.calls.at(-1)).toBe('logs serving ai.accel/service=resnet-svc 20');
  });

  it('stop deletes every object it applied, newest first; without a runtime it does nothing', async () => {
    const api = new FakeKubeApi();
    const target = new KubernetesTarget({ api, resolveImage: resolver });
    const deployed = await target.start(spec({ keys: { primary: 'p', secondary: 's' }, autoscale: { min: 1, max: 2, targetUtilization: 50 } }), () => undefined);
    api.calls = [];
    // The runtime goes through the service record as JSON.
    await target.stop(JSON.parse(JSON.stringify(deployed.runtime)) as Record<string, unknown>);
    expect(api.calls).toEqual(['delete HorizontalPodAutoscaler serving/resnet-svc', 'delete Service serving/resnet-svc', 'delete Deployment serving/resnet-svc', 'delete Secret serving/resnet-svc-secrets']);
    api.calls = [];
    await target.stop({});
    expect(api.calls).toEqual([]);
  });

  it('updateKeys rewrites only keys.json in the Secret, as SHA-256 hashes', async () => {
    const api = new FakeKubeApi();
    const deployed = await new KubernetesTarget({ api, resolveImage: resolver }).start(spec({ keys: { primary: 'p', secondary: 's' } }), () => undefined);
    await updateKeys({ name: 'resnet-svc', runtime: deployed.runtime } as ServiceRecord, { primary: 'p', secondary: 'new' }, api);
    expect(api.calls.at(-1)).toBe(`patch serving/resnet-svc-secrets keys.json {"primary":"${hashKey('p')}","secondary":"${hashKey('new')}"}`);
    await expect(updateKeys({ name: 'x', runtime: {} } as unknown as ServiceRecord, {}, api)).rejects.toThrow(/no Kubernetes Secret recorded/);
  });
});

describe('dry run', () => {
  it('`accel deploy --dry-run` on a kubernetes compute prints the manifests and applies nothing', async () => {
    const api = new FakeKubeApi();
    const ws = {
      dir,
      getImage: async () => ({ name: 'resnet', version: 3, id: 'resnet:3', models: ['resnet50:2'], location: 'layout' }),
      getCompute: async () => ({ name: 'aks', type: 'kubernetes', properties: { namespace: 'serving', registry: 'registry.example/accel', acceleratorResource: 'accel.ai/fpga' } }),
      imageDir: () => join(dir, 'layout'),
    } as unknown as Workspace;
    const out = await dryRun(ws, { name: 'resnet-svc', image: 'resnet:3', compute: 'aks', auth: true, autoscale: { min: 1, max: 4, targetUtilization: 70 } });
    const docs = YAML.parseAllDocuments(out.text).map((d) => d.toJS() as KubeObject);
    expect(docs.map((d) => `${d.kind} ${d.metadata.namespace}/${d.metadata.name}`)).toEqual(['Secret serving/resnet-svc-secrets', 'Deployment serving/resnet-svc', 'Service serving/resnet-svc', 'HorizontalPodAutoscaler serving/resnet-svc']);
    expect(out.text).toContain('image: registry.example/accel/resnet:3');
    expect(out.text).toContain('accel.ai/fpga: "1"');
    expect(api.calls).toEqual([]);
  });
});

const noRegistry = missingTools(['docker-registry']);

describe.skipIf(noRegistry)(`default image resolver${noRegistry ? ` (skipped: ${noRegistry})` : ''}`, () => {
  it('pushes the image to the registry property and pins the digest', async () => {
    const registry = await startRegistry();
    try {
      const lines: string[] = [];
      const ref = await pushToRegistry(spec({ properties: { registry: `${registry.host}/accel`, registryInsecure: 'true' } }), (l) => lines.push(l));
      expect(ref).toMatch(new RegExp(`^${registry.host.replace(/\./g, '\\.')}/accel/resnet:3@sha256:[0-9a-f]{64}$`));
      const res = await fetch(`http://${registry.host}/v2/accel/resnet/manifests/3`, { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
      expect(res.headers.get('docker-content-digest')).toBe(ref.split('@')[1]);
      expect(lines[0]).toMatch(/^pushed resnet:3 to /);
      expect(await pushToRegistry(spec({ properties: {} }), (l) => lines.push(l))).toBe('registry.local/accel/resnet:3');
    } finally {
      await registry.stop();
    }
  });
});
