import { AccelError } from '../errors';
import { hashedKeyFile } from '../protocols/key-hash';
import { parseModelRef } from '../workspace/names';
import type { ServiceRecord, ServiceState } from '../workspace/types';
import { imageReference } from './dry-run';
import type { KubeApi, RolloutStatus } from './k8s-client';
import { GRPC_PORT, imageServeArgs, kubernetesManifests, labelSelectorString, podSelector, REST_PORT, secretName, type KubeObject } from './k8s-manifests';
import type { DeploySpec, Deployed, DeployTarget } from './target';

/** Where the cluster, and which objects: what `start` stores in the service record. */
export interface KubernetesRuntime {
  namespace: string;
  deployment: string;
  /** Objects applied, in apply order. */
  objects: { apiVersion: string; kind: string; name: string }[];
  secret?: string;
  imageRef: string;
  kubeconfig?: string;
  context?: string;
}

/** How to reach a cluster: compute properties `kubeconfig` and `context` (both optional). */
export interface KubeConnection {
  kubeconfig?: string;
  context?: string;
}

/** The registry reference the cluster pulls for a spec's image (may push it there first). */
export type ImageResolver = (spec: DeploySpec, log: (line: string) => void) => Promise<string>;

export interface KubernetesTargetOptions {
  /** A fixed API, or one per cluster (default: `ClientNodeKubeApi` from the connection). */
  api?: KubeApi | ((conn: KubeConnection) => KubeApi | Promise<KubeApi>);
  resolveImage?: ImageResolver;
}

async function clientNodeApi(conn: KubeConnection): Promise<KubeApi> {
  const { ClientNodeKubeApi } = await import('./k8s-client');
  return new ClientNodeKubeApi(conn);
}

/**
 * Default image resolver: `<registry property>/<name>:<version>`. With the compute property
 * `registry` set (and `push` not `false`), the image is pushed there first and pinned by digest;
 * `registryInsecure=true` pushes over plain HTTP.
 */
export const pushToRegistry: ImageResolver = async (spec, log) => {
  const { name, version } = parseModelRef(spec.image);
  const ref = imageReference(spec.properties, name, version!);
  if (!spec.properties.registry || spec.properties.push === 'false') {
    log(`the cluster pulls ${ref} (not pushed: set the compute property "registry" to have accel push it)`);
    return ref;
  }
  const { pushImage } = await import('../image/push');
  const pushed = await pushImage(spec.layoutDir, ref, { insecure: spec.properties.registryInsecure === 'true', layoutRef: spec.layoutRef });
  log(`pushed ${spec.image} to ${pushed.reference} (${pushed.uploaded} blob(s) uploaded, ${pushed.skipped} already there)`);
  return `${pushed.reference}@${pushed.digest}`;
};

const str = (v: unknown) => (typeof v === 'string' && v ? v : undefined);

function readRuntime(runtime: Record<string, unknown>): KubernetesRuntime | undefined {
  const namespace = str(runtime.namespace);
  const deployment = str(runtime.deployment);
  if (!namespace || !deployment || !Array.isArray(runtime.objects)) return undefined;
  return runtime as unknown as KubernetesRuntime;
}

const refs = (objects: readonly KubeObject[]) => objects.map((o) => ({ apiVersion: o.apiVersion, kind: o.kind, name: o.metadata.name }));
const asObjects = (r: KubernetesRuntime['objects']): KubeObject[] => r.map((o) => ({ apiVersion: o.apiVersion, kind: o.kind, metadata: { name: o.name } }));

/**
 * Where a rollout stands, by the rules of `kubectl rollout status`: Failed when the Deployment's
 * Progressing condition says ProgressDeadlineExceeded; Healthy when the controller has seen the
 * newest spec and every desired replica is updated and available with no old ones left;
 * Unhealthy when a finished rollout has lost replicas; Transitioning otherwise.
 */
export function rolloutPhase(s: RolloutStatus): { state: Exclude<ServiceState, 'Stopped'>; detail: string } {
  const progressing = s.conditions.find((c) => c.type === 'Progressing');
  if (progressing?.reason === 'ProgressDeadlineExceeded') return { state: 'Failed', detail: progressing.message || 'the rollout exceeded its progress deadline' };
  const counts = `${s.updated} updated, ${s.ready} ready, ${s.available} available of ${s.desired}`;
  if (s.generation !== undefined && (s.observedGeneration ?? 0) < s.generation) return { state: 'Transitioning', detail: 'waiting for the controller to see the new spec' };
  if (s.desired === 0) return { state: 'Unhealthy', detail: 'scaled to 0 replicas' };
  const finished = progressing?.reason === 'NewReplicaSetAvailable';
  if (s.updated < s.desired) return { state: 'Transitioning', detail: `rolling out: ${counts}` };
  if ((s.total ?? s.updated) > s.updated) return { state: 'Transitioning', detail: `${(s.total ?? 0) - s.updated} old replica(s) terminating; ${counts}` };
  if (s.available < s.updated || s.ready < s.updated) {
    const why = s.conditions.find((c) => c.type === 'Available' && c.status === 'False')?.message;
    return { state: finished ? 'Unhealthy' : 'Transitioning', detail: `${counts}${why ? ` (${why})` : ''}` };
  }
  return { state: 'Healthy', detail: counts };
}

/**
 * Polls a Deployment until its rollout is complete (every desired replica updated, ready and
 * available). Throws ACCEL_ERR_SERVICE_FAILED when the progress deadline is exceeded or after
 * `timeoutMs`; `onProgress` gets each new state.
 */
export async function waitForRollout(api: KubeApi, namespace: string, name: string, opts: { timeoutMs?: number; pollMs?: number; onProgress?: (line: string, status: RolloutStatus) => void } = {}): Promise<RolloutStatus> {
  const timeoutMs = opts.timeoutMs ?? 600_000;
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const status = await api.rolloutStatus(namespace, name);
    const { state, detail } = rolloutPhase(status);
    const line = `deployment ${namespace}/${name}: ${state}: ${detail}`;
    if (line !== last) opts.onProgress?.(line, status);
    last = line;
    if (state === 'Healthy') return status;
    const fail = (reason: string) => new AccelError('ACCEL_ERR_SERVICE_FAILED', { service: name, reason, log: ` see \`kubectl -n ${namespace} describe deployment ${name}\` and \`accel service logs ${name}\`` });
    if (state === 'Failed') throw fail(detail);
    if (Date.now() >= deadline) throw fail(`rollout not complete after ${timeoutMs >= 1000 ? `${Math.round(timeoutMs / 1000)} s` : `${timeoutMs} ms`} (${detail})`);
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 2000));
  }
}

/**
 * The `kubernetes` target: applies the service's Secret, Deployment, Service and autoscaler
 * (see k8s-manifests.ts) to the namespace of the compute target's `namespace` property, with the
 * kubeconfig and context of its `kubeconfig` and `context` properties. Clients inside the cluster
 * score against `<service>.<namespace>.svc.cluster.local`; a LoadBalancer's address is used once known.
 */
export class KubernetesTarget implements DeployTarget {
  readonly type = 'kubernetes' as const;
  private readonly resolveImage: ImageResolver;

  constructor(private readonly opts: KubernetesTargetOptions = {}) {
    this.resolveImage = opts.resolveImage ?? pushToRegistry;
  }

  private async api(conn: KubeConnection): Promise<KubeApi> {
    const api = this.opts.api ?? clientNodeApi;
    return typeof api === 'function' ? api(conn) : api;
  }

  async start(spec: DeploySpec, log: (line: string) => void): Promise<Deployed> {
    const p = spec.properties;
    const namespace = p.namespace || 'default';
    const conn: KubeConnection = { kubeconfig: p.kubeconfig || undefined, context: p.context || undefined };
    const imageRef = await this.resolveImage(spec, log);
    const serveArgs = await imageServeArgs(spec.layoutDir, spec.layoutRef);
    const objects = kubernetesManifests({ ...spec, imageRef, namespace, acceleratorResource: p.acceleratorResource || undefined, serveArgs });
    const api = await this.api(conn);
    const applied: KubeObject[] = [];
    try {
      for (const o of objects) {
        await api.apply([o], namespace);
        applied.push(o);
        log(`applied ${o.kind} ${namespace}/${o.metadata.name}`);
      }
    } catch (err) {
      // Leave nothing half-deployed: the record has no runtime yet, so stop could not find these.
      await api.delete(applied, namespace).catch(() => undefined);
      if (err instanceof AccelError) throw err;
      throw new AccelError('ACCEL_ERR_SERVICE_FAILED', { service: spec.service, reason: (err as Error).message, log: ' (nothing was left applied)' });
    }
    const runtime: KubernetesRuntime = {
      namespace,
      deployment: spec.service,
      objects: refs(objects),
      ...(objects[0]?.kind === 'Secret' ? { secret: secretName(spec.service) } : {}),
      imageRef,
      ...conn,
    };
    const external = p.serviceType === 'LoadBalancer' ? await api.serviceAddress(namespace, spec.service) : undefined;
    const host = external ?? `${spec.service}.${namespace}.svc.cluster.local`;
    if (p.serviceType === 'LoadBalancer') log(external ? `load balancer address ${external}` : 'load balancer address pending: using the cluster DNS name');
    return { scoringUri: `${spec.tls ? 'https' : 'http'}://${host}:${REST_PORT}`, grpcUri: `${host}:${GRPC_PORT}`, runtime: { ...runtime } };
  }

  /** The rollout's state (the Deployment's readiness probes stand in for probing the service). */
  async status(runtime: Record<string, unknown>, _deployed?: Deployed): Promise<{ state: ServiceState; detail?: string }> {
    const r = readRuntime(runtime);
    if (!r) return { state: 'Failed', detail: 'no Kubernetes objects recorded: the service was never applied' };
    const api = await this.api(r);
    try {
      return rolloutPhase(await api.rolloutStatus(r.namespace, r.deployment));
    } catch (err) {
      if ((err as { status?: number }).status === 404) return { state: 'Failed', detail: `deployment ${r.namespace}/${r.deployment} does not exist (deleted outside accel?)` };
      return { state: 'Unhealthy', detail: (err as Error).message };
    }
  }

  async logs(runtime: Record<string, unknown>, tailLines = 100): Promise<string> {
    const r = readRuntime(runtime);
    if (!r) return '';
    return (await this.api(r)).podLogs(r.namespace, labelSelectorString(podSelector(r.deployment)), tailLines);
  }

  async stop(runtime: Record<string, unknown>): Promise<void> {
    const r = readRuntime(runtime);
    if (!r) return;
    await (await this.api(r)).delete(asObjects(r.objects), r.namespace);
  }
}

/**
 * Writes new keys into a running service's Secret. The kubelet refreshes the mounted
 * keys.json (within about a minute) and the server re-reads it: no restart.
 */
export async function updateKeys(service: ServiceRecord, keys: Record<string, string>, api?: KubeApi): Promise<void> {
  const r = readRuntime(service.runtime);
  if (!r?.secret) throw new AccelError('ACCEL_ERR_USAGE', { reason: `service ${service.name} has no Kubernetes Secret recorded: was it deployed with --auth?` });
  const client = api ?? (await clientNodeApi(r));
  const json = hashedKeyFile({ primary: keys.primary ?? '', secondary: keys.secondary ?? '' });
  await client.patchSecretData(r.namespace, r.secret, { 'keys.json': Buffer.from(json).toString('base64') });
}
