/**
 * Kubernetes objects for one service: Secret (keys, TLS), Deployment, Service and, with
 * autoscaling, a HorizontalPodAutoscaler, in the order they are applied. Pure: the same spec
 * gives the same objects, so `accel deploy --dry-run` prints exactly what `deploy` applies.
 *
 * Defaults (compute properties override them):
 * - resources: requests cpu `1`, memory `1Gi`; limits cpu `2`, memory `2Gi` (`cpu`, `memory`
 *   set the requests, `cpuLimit`, `memoryLimit` the limits; a request given without its limit
 *   makes the limit equal to it). The server gets `--threads` = the cpu limit rounded up, because
 *   inside a container it would otherwise size its thread pools by the node's cores.
 * - probes on the REST port (HTTPS with TLS): startup GET /healthz every 5 s for up to
 *   `startupTimeoutSeconds` (600) while models load; readiness GET /readyz every 5 s;
 *   liveness GET /healthz every 10 s, 3 failures.
 * - shutdown: a 5 s preStop sleep (endpoints are removed while the pod still serves), then
 *   SIGTERM and up to 10 s of draining (`--grace-period 10000`); the pod gets 30 s in all.
 * - security: the image has no USER (root by default) but holds only world-readable files and
 *   a world-writable /tmp, so the pod runs as `nobody` (65534) with runAsNonRoot, no privilege
 *   escalation, every capability dropped, RuntimeDefault seccomp and a read-only root file
 *   system with an emptyDir at /tmp: the Pod Security "restricted" profile.
 */
import { createHash } from 'node:crypto';
import YAML from 'yaml';
import { AccelError } from '../errors';
import { OciLayout } from '../image/layout';
import { hashedKeyFile } from '../protocols/key-hash';
import type { DeploySpec } from './target';

export const GRPC_PORT = 8500;
export const REST_PORT = 8501;
/** Where the Secret's files are mounted (the paths the serve flags name). */
export const SECRET_MOUNT = '/run/accel';
export const CONTAINER_NAME = 'server';
export const FIELD_MANAGER = 'accel';
/** The server's drain time after SIGTERM, the preStop pause before it, and the pod's total grace. */
export const DRAIN_MS = 10_000;
export const PRESTOP_SLEEP_S = 5;
export const TERMINATION_GRACE_S = 30;
const NOBODY = 65534;

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

export type KubernetesSpec = DeploySpec & {
  /** Registry reference the cluster pulls, e.g. `registry.example/accel/name:version`. */
  imageRef: string;
  namespace: string;
  /** Extended resource of one accelerator (`accel.ai/fpga`, `nvidia.com/gpu`); absent: none requested. */
  acceleratorResource?: string;
  /** The image's command arguments (its OCI config `Cmd`, see {@link imageServeArgs}); default: built from `models`. */
  serveArgs?: string[];
};

const DNS_1035 = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_1123_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const QUANTITY = /^([0-9]+(\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$/;
const QUALIFIED_RESOURCE = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?\/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const SERVICE_TYPES = ['ClusterIP', 'LoadBalancer', 'NodePort'] as const;

const usage = (reason: string) => new AccelError('ACCEL_ERR_USAGE', { reason });

export function secretName(service: string): string {
  return `${service}-secrets`;
}

/** Labels on every object; the selector uses only `ai.accel/service` (selectors are immutable). */
export function serviceLabels(service: string): Record<string, string> {
  return { 'app.kubernetes.io/name': service, 'app.kubernetes.io/managed-by': FIELD_MANAGER, 'ai.accel/service': service };
}

export function podSelector(service: string): Record<string, string> {
  return { 'ai.accel/service': service };
}

export function labelSelectorString(labels: Record<string, string>): string {
  return Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(',');
}

function quantity(properties: Record<string, string>, key: string, fallback: string): string {
  const value = properties[key]?.trim() || fallback;
  if (!QUANTITY.test(value)) throw usage(`compute property ${key}="${value}" is not a Kubernetes quantity (e.g. 500m, 2, 1Gi)`);
  return value;
}

/** Cores of a cpu quantity, rounded up (`1500m` -> 2). */
function cores(q: string): number {
  const m = /^([0-9.]+)(m)?$/.exec(q);
  const n = m ? Number(m[1]) / (m[2] ? 1000 : 1) : 1;
  return Math.max(1, Math.ceil(n));
}

/** Requests and limits: compute properties, else the documented defaults. */
export function containerResources(spec: Pick<KubernetesSpec, 'properties' | 'accelerators' | 'acceleratorResource'>) {
  const p = spec.properties;
  const cpu = quantity(p, 'cpu', '1');
  const memory = quantity(p, 'memory', '1Gi');
  const requests: Record<string, string> = { cpu, memory };
  const limits: Record<string, string> = { cpu: quantity(p, 'cpuLimit', p.cpu ? cpu : '2'), memory: quantity(p, 'memoryLimit', p.memory ? memory : '2Gi') };
  if (spec.acceleratorResource) {
    if (!QUALIFIED_RESOURCE.test(spec.acceleratorResource)) throw usage(`accelerator resource "${spec.acceleratorResource}" is not a domain-qualified resource name such as nvidia.com/gpu`);
    if (!Number.isInteger(spec.accelerators) || spec.accelerators < 1) throw usage(`accelerators must be a positive integer, got ${spec.accelerators}`);
    // Extended resources cannot be overcommitted: request and limit must be equal.
    requests[spec.acceleratorResource] = limits[spec.acceleratorResource] = String(spec.accelerators);
  }
  return { requests, limits };
}

/** Arguments after the image's entrypoint (`accel serve`): the image's Cmd, drain time, threads, secret files. */
export function serverArgs(spec: KubernetesSpec, cpuLimit: string): string[] {
  const base = spec.serveArgs ?? [
    ...spec.models.flatMap((m) => ['--model', `${m.name}=${m.dir || `/models/${m.name}/${m.version}`}:${m.version}`]),
    '--grpc-port',
    String(GRPC_PORT),
    '--rest-port',
    String(REST_PORT),
  ];
  const args = [...base, '--grace-period', String(DRAIN_MS), '--threads', String(cores(cpuLimit))];
  if (spec.keys) args.push('--api-keys-file', `${SECRET_MOUNT}/keys.json`);
  if (spec.tls) args.push('--tls-cert', `${SECRET_MOUNT}/tls.crt`, '--tls-key', `${SECRET_MOUNT}/tls.key`);
  return args;
}

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

function secret(spec: KubernetesSpec, metadata: (name: string) => KubeObject['metadata']): KubeObject | undefined {
  if (!spec.keys && !spec.tls) return undefined;
  const data: Record<string, string> = {};
  if (spec.keys) data['keys.json'] = b64(hashedKeyFile(spec.keys));
  if (spec.tls) Object.assign(data, { 'tls.crt': b64(spec.tls.cert), 'tls.key': b64(spec.tls.key) });
  // kubernetes.io/tls requires tls.crt and tls.key and allows other entries (keys.json).
  return { apiVersion: 'v1', kind: 'Secret', metadata: metadata(secretName(spec.service)), type: spec.tls ? 'kubernetes.io/tls' : 'Opaque', data };
}

function probe(path: string, scheme: 'HTTP' | 'HTTPS', timing: Record<string, number>) {
  return { httpGet: { path, port: 'http', scheme }, timeoutSeconds: 3, ...timing };
}

function deployment(spec: KubernetesSpec, metadata: (name: string) => KubeObject['metadata'], withSecret: boolean): KubeObject {
  const labels = serviceLabels(spec.service);
  const resources = containerResources(spec);
  const scheme = spec.tls ? 'HTTPS' : 'HTTP';
  const startupSeconds = Number(spec.properties.startupTimeoutSeconds ?? 600);
  if (!Number.isInteger(startupSeconds) || startupSeconds < 10) throw usage(`compute property startupTimeoutSeconds="${spec.properties.startupTimeoutSeconds}" must be an integer of at least 10`);
  const podAnnotations: Record<string, string> = {};
  // The server reads its certificate once: a new certificate must roll the pods. Keys are re-read live.
  if (spec.tls) podAnnotations['ai.accel/tls-sha256'] = createHash('sha256').update(spec.tls.cert).update(spec.tls.key).digest('hex');
  const volumes: object[] = [{ name: 'tmp', emptyDir: { sizeLimit: '256Mi' } }];
  const mounts: object[] = [{ name: 'tmp', mountPath: '/tmp' }];
  if (withSecret) {
    volumes.push({ name: 'secrets', secret: { secretName: secretName(spec.service), defaultMode: 0o440 } });
    mounts.push({ name: 'secrets', mountPath: SECRET_MOUNT, readOnly: true });
  }
  const container = {
    name: CONTAINER_NAME,
    image: spec.imageRef,
    imagePullPolicy: 'IfNotPresent',
    args: serverArgs(spec, resources.limits.cpu!),
    ports: [
      { name: 'grpc', containerPort: GRPC_PORT, protocol: 'TCP' },
      { name: 'http', containerPort: REST_PORT, protocol: 'TCP' },
    ],
    resources,
    startupProbe: probe('/healthz', scheme, { periodSeconds: 5, failureThreshold: Math.ceil(startupSeconds / 5) }),
    readinessProbe: probe('/readyz', scheme, { periodSeconds: 5, failureThreshold: 2, successThreshold: 1 }),
    livenessProbe: probe('/healthz', scheme, { periodSeconds: 10, failureThreshold: 3 }),
    lifecycle: { preStop: { sleep: { seconds: PRESTOP_SLEEP_S } } },
    volumeMounts: mounts,
    securityContext: {
      runAsNonRoot: true,
      runAsUser: NOBODY,
      runAsGroup: NOBODY,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    },
  };
  const pullSecret = spec.properties.imagePullSecret;
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { ...metadata(spec.service), annotations: { 'ai.accel/image': spec.image } },
    spec: {
      ...(spec.autoscale ? {} : { replicas: spec.replicas }),
      revisionHistoryLimit: 3,
      progressDeadlineSeconds: startupSeconds + 120,
      selector: { matchLabels: podSelector(spec.service) },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: { labels, ...(Object.keys(podAnnotations).length ? { annotations: podAnnotations } : {}) },
        spec: {
          terminationGracePeriodSeconds: TERMINATION_GRACE_S,
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          securityContext: { runAsNonRoot: true, runAsUser: NOBODY, runAsGroup: NOBODY, fsGroup: NOBODY, seccompProfile: { type: 'RuntimeDefault' } },
          ...(pullSecret ? { imagePullSecrets: [{ name: pullSecret }] } : {}),
          containers: [container],
          volumes,
        },
      },
    },
  };
}

function service(spec: KubernetesSpec, metadata: (name: string) => KubeObject['metadata']): KubeObject {
  const type = spec.properties.serviceType ?? 'ClusterIP';
  if (!(SERVICE_TYPES as readonly string[]).includes(type)) throw usage(`compute property serviceType="${type}" is not one of ${SERVICE_TYPES.join(', ')}`);
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: metadata(spec.service),
    spec: {
      type,
      selector: podSelector(spec.service),
      ports: [
        { name: 'grpc', port: GRPC_PORT, targetPort: 'grpc', protocol: 'TCP', appProtocol: 'grpc' },
        { name: 'http', port: REST_PORT, targetPort: 'http', protocol: 'TCP', appProtocol: spec.tls ? 'https' : 'http' },
      ],
    },
  };
}

function autoscaler(spec: KubernetesSpec, metadata: (name: string) => KubeObject['metadata']): KubeObject | undefined {
  const a = spec.autoscale;
  if (!a) return undefined;
  const int = (v: number) => Number.isInteger(v) && v >= 1;
  if (!int(a.min) || !int(a.max) || a.max < a.min) throw usage(`autoscale needs whole numbers 1 <= min <= max, got min ${a.min}, max ${a.max}`);
  if (!int(a.targetUtilization)) throw usage(`autoscale target utilization must be a whole percentage >= 1, got ${a.targetUtilization}`);
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: metadata(spec.service),
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: spec.service },
      minReplicas: a.min,
      maxReplicas: a.max,
      metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: a.targetUtilization } } }],
    },
  };
}

/**
 * The objects of one service, in apply order (delete in reverse).
 *
 * @example
 * const objects = kubernetesManifests({ ...spec, imageRef: 'registry.example/accel/resnet:1', namespace: 'serving', acceleratorResource: 'nvidia.com/gpu' });
 * process.stdout.write(toYaml(objects));
 */
export function kubernetesManifests(spec: KubernetesSpec): KubeObject[] {
  if (!DNS_1035.test(spec.service)) throw usage(`service name "${spec.service}" cannot name Kubernetes objects: use lowercase letters, digits and '-', starting with a letter, at most 63 characters`);
  if (!DNS_1123_LABEL.test(spec.namespace)) throw usage(`namespace "${spec.namespace}" is not a valid Kubernetes namespace (lowercase letters, digits and '-', at most 63 characters)`);
  if (!spec.imageRef) throw usage('no image reference for the cluster to pull');
  if (!spec.autoscale && (!Number.isInteger(spec.replicas) || spec.replicas < 0)) throw usage(`replicas must be a whole number >= 0, got ${spec.replicas}`);
  const metadata = (name: string) => ({ name, namespace: spec.namespace, labels: serviceLabels(spec.service) });
  const sec = secret(spec, metadata);
  return [sec, deployment(spec, metadata, Boolean(sec)), service(spec, metadata), autoscaler(spec, metadata)].filter((o): o is KubeObject => o !== undefined);
}

/** Multi-document YAML (`---` between objects), as `kubectl apply -f` reads it. */
export function toYaml(objects: readonly object[]): string {
  return objects.map((o) => YAML.stringify(o, { lineWidth: 0 })).join('---\n');
}

/** The image's `Cmd` from its OCI config: the `--model` and port flags `accel image create` wrote. */
export async function imageServeArgs(layoutDir: string, layoutRef: string): Promise<string[]> {
  const layout = new OciLayout(layoutDir);
  const { manifest } = await layout.resolve(layoutRef);
  const config = JSON.parse((await layout.readBlob(manifest.config.digest)).toString('utf8')) as { config?: { Cmd?: string[] } };
  const cmd = config.config?.Cmd;
  if (!cmd?.length) throw usage(`image ${layoutDir}:${layoutRef} has no Cmd: it was not built by \`accel image create\``);
  return cmd;
}
