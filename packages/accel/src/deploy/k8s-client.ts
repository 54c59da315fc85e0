/**
 * The few Kubernetes API calls the `kubernetes` target makes, behind {@link KubeApi} so that
 * tests drive the target with a fake. {@link ClientNodeKubeApi} implements it with
 * `@kubernetes/client-node`: server-side apply (field manager `accel`) for every object, typed
 * reads for rollout status, pods, logs and service addresses.
 */
import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  createConfiguration,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  ServerConfiguration,
  type Middleware,
} from '@kubernetes/client-node';
import { AccelError } from '../errors';
import { CONTAINER_NAME, FIELD_MANAGER, type KubeObject } from './k8s-manifests';

export interface RolloutCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

/** A Deployment's rollout, as `kubectl rollout status` reads it. */
export interface RolloutStatus {
  /** `spec.replicas` (set by the autoscaler when there is one). */
  desired: number;
  /** Pods of the newest revision, of them ready, and available (ready for minReadySeconds). */
  updated: number;
  ready: number;
  available: number;
  /** Pods of every revision (old ones still terminating count). */
  total?: number;
  generation?: number;
  observedGeneration?: number;
  conditions: RolloutCondition[];
}

export interface KubeApi {
  /** Creates or updates every object (server-side apply), in order. */
  apply(objects: readonly KubeObject[], namespace: string): Promise<void>;
  rolloutStatus(namespace: string, deployment: string): Promise<RolloutStatus>;
  /** Deletes the objects in reverse order; objects already gone are skipped. */
  delete(objects: readonly KubeObject[], namespace: string): Promise<void>;
  /** The last lines of the server container of every pod the selector matches, each under a `==> pod/NAME <==` header. */
  podLogs(namespace: string, selector: string, tailLines: number): Promise<string>;
  /** A LoadBalancer Service's ingress IP or host name (undefined while pending), another Service's ClusterIP; undefined when the Service does not exist. */
  serviceAddress(namespace: string, name: string): Promise<string | undefined>;
  /** Replaces some entries of a Secret's `data` (base64 values), keeping the others. */
  patchSecretData(namespace: string, name: string, data: Record<string, string>): Promise<void>;
}

/** An API call the server answered with an error status. */
export class KubeApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
}

export interface ClientNodeOptions {
  /** A kubeconfig file; default: $KUBECONFIG, ~/.kube/config, or the in-cluster service account. */
  kubeconfig?: string;
  /** Context to use instead of the kubeconfig's current one. */
  context?: string;
  /** Per-request timeout (default 30 s). */
  requestTimeoutMs?: number;
}

function timeoutMiddleware(ms: number): Middleware {
  return {
    pre: async (ctx) => {
      ctx.setSignal(AbortSignal.timeout(ms));
      return ctx;
    },
    post: async (rsp) => rsp,
  };
}

/** `body.message` of a Kubernetes Status, or the body as text. */
function statusMessage(body: unknown): string {
  if (typeof body === 'string') {
    try {
      return statusMessage(JSON.parse(body));
    } catch {
      return body.slice(0, 300);
    }
  }
  const message = (body as { message?: unknown } | undefined)?.message;
  return typeof message === 'string' ? message : JSON.stringify(body)?.slice(0, 300) ?? '';
}

/** The `@kubernetes/client-node` implementation of {@link KubeApi}. */
export class ClientNodeKubeApi implements KubeApi {
  readonly server: string;
  readonly context: string;
  private readonly objects: KubernetesObjectApi;
  private readonly apps: AppsV1Api;
  private readonly core: CoreV1Api;

  /** Reads the kubeconfig; no request is made until a method is called. */
  constructor(opts: ClientNodeOptions = {}) {
    const kc = new KubeConfig();
    try {
      if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
      else kc.loadFromDefault();
    } catch (err) {
      throw new AccelError('ACCEL_ERR_USAGE', { reason: `cannot read kubeconfig ${opts.kubeconfig ?? '(default)'}: ${(err as Error).message}` });
    }
    if (opts.context) {
      if (!kc.getContextObject(opts.context)) {
        throw new AccelError('ACCEL_ERR_USAGE', { reason: `kubeconfig ${opts.kubeconfig ?? '(default)'} has no context "${opts.context}" (contexts: ${kc.getContexts().map((c) => c.name).join(', ') || 'none'})` });
      }
      kc.setCurrentContext(opts.context);
    }
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new AccelError('ACCEL_ERR_USAGE', { reason: `kubeconfig ${opts.kubeconfig ?? '(default)'}: context "${kc.getCurrentContext()}" names no cluster` });
    this.server = cluster.server;
    this.context = kc.getCurrentContext();
    const config = createConfiguration({
      baseServer: new ServerConfiguration(cluster.server, {}),
      authMethods: { default: kc },
      promiseMiddleware: [timeoutMiddleware(opts.requestTimeoutMs ?? 30_000)],
    });
    this.objects = new KubernetesObjectApi(config);
    this.apps = new AppsV1Api(config);
    this.core = new CoreV1Api(config);
  }

  /** Runs one call; turns transport failures into ACCEL_ERR_COMPUTE_UNAVAILABLE and API errors into {@link KubeApiError}. */
  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof ApiException) throw new KubeApiError(err.code, `${what}: HTTP ${err.code}: ${statusMessage(err.body)}`);
      const e = err as Error & { code?: string; type?: string };
      const aborted = e.name === 'AbortError' || e.type === 'aborted';
      if (!aborted && !e.code) {
        throw new AccelError('ACCEL_ERR_COMPUTE_UNAVAILABLE', { compute: `kubernetes context ${this.context}`, state: 'unusable', reason: `${what} at ${this.server}: ${e.message}` });
      }
      throw new AccelError('ACCEL_ERR_COMPUTE_UNAVAILABLE', {
        compute: `kubernetes context ${this.context}`,
        state: 'unreachable',
        reason: `${what}: cannot reach the API server ${this.server} (${aborted ? 'no answer within the request timeout' : e.code}). Check the kubeconfig, the context and that the cluster is up`,
      });
    }
  }

  async apply(objects: readonly KubeObject[], namespace: string): Promise<void> {
    for (const o of objects) {
      const spec = { ...o, metadata: { ...o.metadata, namespace } };
      await this.call(`apply ${o.kind} ${namespace}/${o.metadata.name}`, () => this.objects.patch(spec, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply));
    }
  }

  async rolloutStatus(namespace: string, deployment: string): Promise<RolloutStatus> {
    const d = await this.call(`read Deployment ${namespace}/${deployment}`, () => this.apps.readNamespacedDeployment({ name: deployment, namespace }));
    const s = d.status ?? {};
    return {
      desired: d.spec?.replicas ?? 1,
      updated: s.updatedReplicas ?? 0,
      ready: s.readyReplicas ?? 0,
      available: s.availableReplicas ?? 0,
      total: s.replicas ?? 0,
      generation: d.metadata?.generation,
      observedGeneration: s.observedGeneration,
      conditions: (s.conditions ?? []).map((c) => ({ type: c.type, status: c.status, reason: c.reason, message: c.message })),
    };
  }

  async delete(objects: readonly KubeObject[], namespace: string): Promise<void> {
    for (const o of [...objects].reverse()) {
      const spec = { apiVersion: o.apiVersion, kind: o.kind, metadata: { name: o.metadata.name, namespace } };
      try {
        await this.call(`delete ${o.kind} ${namespace}/${o.metadata.name}`, () => this.objects.delete(spec, undefined, undefined, undefined, undefined, 'Background'));
      } catch (err) {
        if (!(err instanceof KubeApiError && err.status === 404)) throw err;
      }
    }
  }

  async podLogs(namespace: string, selector: string, tailLines: number): Promise<string> {
    const pods = await this.call(`list pods ${selector} in ${namespace}`, () => this.core.listNamespacedPod({ namespace, labelSelector: selector }));
    const names = pods.items.map((p) => p.metadata?.name ?? '').filter(Boolean).sort();
    const parts: string[] = [];
    for (const name of names) {
      const text = await this.call(`logs of pod ${namespace}/${name}`, () => this.core.readNamespacedPodLog({ name, namespace, container: CONTAINER_NAME, tailLines })).catch((err: Error) => `(${err.message})\n`);
      parts.push(`==> pod/${name} <==\n${text}`);
    }
    return parts.join('\n');
  }

  async serviceAddress(namespace: string, name: string): Promise<string | undefined> {
    try {
      const svc = await this.call(`read Service ${namespace}/${name}`, () => this.core.readNamespacedService({ name, namespace }));
      const ingress = svc.status?.loadBalancer?.ingress?.[0];
      if (svc.spec?.type === 'LoadBalancer') return ingress?.ip ?? ingress?.hostname;
      const ip = svc.spec?.clusterIP;
      return ip && ip !== 'None' ? ip : undefined;
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  async patchSecretData(namespace: string, name: string, data: Record<string, string>): Promise<void> {
    const spec = { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace }, data };
    await this.call(`patch Secret ${namespace}/${name}`, () => this.objects.patch(spec, undefined, undefined, FIELD_MANAGER, undefined, PatchStrategy.MergePatch));
  }
}
