import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { OciLayout } from '../image/layout';
import { missingTools } from '../image/test-registry';
import { hashKey } from '../protocols/key-hash';
import { DRAIN_MS, imageServeArgs, kubernetesManifests, PRESTOP_SLEEP_S, TERMINATION_GRACE_S, toYaml, type KubeObject, type KubernetesSpec } from './k8s-manifests';

const CERT = '-----BEGIN CERTIFICATE-----\nMIIBcert\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN PRIVATE KEY-----\nMIIBkey\n-----END PRIVATE KEY-----\n';

function spec(over: Partial<KubernetesSpec> = {}): KubernetesSpec {
  return {
    service: 'resnet-svc',
    image: 'resnet:3',
    layoutDir: '/ws/images/resnet/3',
    layoutRef: '3',
    models: [{ name: 'resnet50', version: 2, dir: '' }],
    replicas: 2,
    accelerators: 1,
    workDir: '/ws/services/resnet-svc',
    properties: {},
    imageRef: 'registry.example/accel/resnet:3',
    namespace: 'serving',
    serveArgs: ['--model', 'resnet50=/models/resnet50/2/resnet50.onnx:2', '--grpc-port', '8500', '--rest-port', '8501'],
    ...over,
  };
}

const CASES: Record<string, KubernetesSpec> = {
  plain: spec(),
  autoscale: spec({ autoscale: { min: 1, max: 5, targetUtilization: 70 } }),
  auth: spec({ keys: { primary: 'p'.repeat(32), secondary: 's'.repeat(32) } }),
  tls: spec({ tls: { cert: CERT, key: KEY } }),
  'auth+tls': spec({ keys: { primary: 'p1', secondary: 's1' }, tls: { cert: CERT, key: KEY } }),
  accelerator: spec({ acceleratorResource: 'nvidia.com/gpu', accelerators: 1, properties: { cpu: '1500m', memory: '3Gi' } }),
  loadbalancer: spec({ properties: { serviceType: 'LoadBalancer' } }),
};

// ---- schema checks (what the API server's validation would reject) ----

const KINDS: Record<string, string> = { Secret: 'v1', Deployment: 'apps/v1', Service: 'v1', HorizontalPodAutoscaler: 'autoscaling/v2' };
const DNS_1035 = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
const LABEL_KEY = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;
const PORT_NAME = /^(?=.*[a-z])[a-z0-9]([a-z0-9]|-(?!-)){0,13}[a-z0-9]$|^[a-z]$/;
const BASE64 = /^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Bytes (or cores) of a quantity, to compare requests with limits. */
function parseQuantity(q: string): number {
  const m = /^([0-9.]+)(m|Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(q);
  if (!m) throw new Error(`unparsed quantity ${q}`);
  const f: Record<string, number> = { m: 1e-3, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, M: 1e6, G: 1e9, T: 1e12 };
  return Number(m[1]) * (m[2] ? f[m[2]]! : 1);
}

function checkObjects(objects: KubeObject[], s: KubernetesSpec): string[] {
  const problems: string[] = [];
  const fail = (msg: string) => problems.push(msg);
  const by = (kind: string) => objects.filter((o) => o.kind === kind) as Any[];
  for (const o of objects) {
    if (KINDS[o.kind] !== o.apiVersion) fail(`${o.kind}: apiVersion ${o.apiVersion}`);
    if (!DNS_1035.test(o.metadata.name)) fail(`${o.kind} name ${o.metadata.name} is not DNS-1035`);
    if (o.metadata.namespace !== s.namespace) fail(`${o.kind} namespace ${o.metadata.namespace}`);
    for (const [k, v] of Object.entries(o.metadata.labels ?? {})) if (!LABEL_KEY.test(k) || !LABEL_VALUE.test(v)) fail(`${o.kind} label ${k}=${v}`);
  }
  const [dep] = by('Deployment');
  const [svc] = by('Service');
  const secrets = by('Secret');
  const hpas = by('HorizontalPodAutoscaler');
  if (!dep || !svc) return [...problems, 'no Deployment or Service'];
  const pod = dep.spec.template;
  const selector: Record<string, string> = dep.spec.selector.matchLabels;
  for (const [k, v] of Object.entries(selector)) if (pod.metadata.labels[k] !== v) fail(`Deployment selector ${k}=${v} does not match the pod template`);
  for (const [k, v] of Object.entries(svc.spec.selector as Record<string, string>)) if (pod.metadata.labels[k] !== v) fail(`Service selector ${k}=${v} does not match the pod template`);
  const containers: Any[] = pod.spec.containers;
  const portNames = new Set<string>();
  const portNumbers = new Set<number>();
  for (const c of containers) {
    for (const p of c.ports) {
      if (!PORT_NAME.test(p.name) || portNames.has(p.name) || portNumbers.has(p.containerPort)) fail(`container port ${p.name}/${p.containerPort} unnamed or duplicate`);
      portNames.add(p.name);
      portNumbers.add(p.containerPort);
    }
    for (const kind of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
      const port = c[kind]?.httpGet?.port;
      if (!portNames.has(port) && !portNumbers.has(port)) fail(`${kind} port ${port} is not a container port`);
      if (c[kind]?.httpGet?.scheme !== (s.tls ? 'HTTPS' : 'HTTP')) fail(`${kind} scheme ${c[kind]?.httpGet?.scheme}`);
    }
    const volumes = new Set((pod.spec.volumes as Any[]).map((v) => v.name));
    for (const m of c.volumeMounts ?? []) if (!volumes.has(m.name)) fail(`mount ${m.name} has no volume`);
    for (const [res, limit] of Object.entries(c.resources.limits as Record<string, string>)) {
      const request = c.resources.requests[res];
      if (request === undefined || parseQuantity(request) > parseQuantity(limit)) fail(`${res}: request ${request} above limit ${limit}`);
    }
  }
  for (const p of svc.spec.ports as Any[]) if (!portNames.has(p.targetPort)) fail(`Service port ${p.name} targets unknown port ${p.targetPort}`);
  for (const v of pod.spec.volumes as Any[]) if (v.secret && !secrets.some((x) => x.metadata.name === v.secret.secretName)) fail(`volume ${v.name} names a missing Secret`);
  for (const sec of secrets) {
    for (const [k, v] of Object.entries(sec.data as Record<string, string>)) if (!BASE64.test(v) || Buffer.from(v, 'base64').toString('base64') !== v) fail(`Secret ${k} is not base64`);
    if (sec.type === 'kubernetes.io/tls' && (!sec.data['tls.crt'] || !sec.data['tls.key'])) fail('TLS Secret without tls.crt/tls.key');
  }
  if ('replicas' in dep.spec === Boolean(s.autoscale)) fail('replicas must be set exactly when autoscaling is off');
  for (const h of hpas) {
    const ref = h.spec.scaleTargetRef;
    if (ref.kind !== 'Deployment' || ref.apiVersion !== 'apps/v1' || ref.name !== dep.metadata.name) fail(`HPA targets ${ref.kind} ${ref.name}`);
    if (!(h.spec.minReplicas <= h.spec.maxReplicas)) fail('HPA min > max');
    if (!containers.every((c) => c.resources.requests.cpu)) fail('HPA on cpu needs cpu requests');
  }
  if (PRESTOP_SLEEP_S + DRAIN_MS / 1000 >= pod.spec.terminationGracePeriodSeconds) fail('grace period shorter than preStop + drain');
  return problems;
}

describe('kubernetesManifests', () => {
  for (const [name, s] of Object.entries(CASES)) {
    it(`${name}: objects pass the schema checks`, () => {
      const objects = kubernetesManifests(s);
      expect(checkObjects(objects, s)).toEqual([]);
      expect(objects.map((o) => o.kind)).toEqual([...(s.keys || s.tls ? ['Secret'] : []), 'Deployment', 'Service', ...(s.autoscale ? ['HorizontalPodAutoscaler'] : [])]);
    });
  }

  it('the schema checks catch broken objects', () => {
    const s = CASES.autoscale!;
    const broken = JSON.parse(JSON.stringify(kubernetesManifests(s))) as Any[];
    const c = broken[0].spec.template.spec.containers[0];
    broken[0].spec.selector.matchLabels['ai.accel/service'] = 'other';
    c.readinessProbe.httpGet.port = 'rest';
    c.ports[1].name = 'grpc';
    c.resources.requests.memory = '4Gi';
    broken[2].spec.scaleTargetRef.name = 'resnet';
    expect(checkObjects(broken as KubeObject[], s)).toEqual([
      'Deployment selector ai.accel/service=other does not match the pod template',
      'container port grpc/8501 unnamed or duplicate',
      'startupProbe port http is not a container port',
      'readinessProbe port rest is not a container port',
      'livenessProbe port http is not a container port',
      'memory: request 4Gi above limit 2Gi',
      'Service port http targets unknown port http',
      'HPA targets Deployment resnet',
    ]);
  });

  it('plain: Deployment and ClusterIP Service with the documented defaults', () => {
    const [dep, svc] = kubernetesManifests(CASES.plain!) as Any[];
    expect(dep.metadata.labels).toEqual({ 'app.kubernetes.io/name': 'resnet-svc', 'app.kubernetes.io/managed-by': 'accel', 'ai.accel/service': 'resnet-svc' });
    expect(dep.spec.replicas).toBe(2);
    expect(dep.spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
    const c = dep.spec.template.spec.containers[0];
    expect(c.image).toBe('registry.example/accel/resnet:3');
    expect(c.args).toEqual([...CASES.plain!.serveArgs!, '--grace-period', '10000', '--threads', '2']);
    expect(c.resources).toEqual({ requests: { cpu: '1', memory: '1Gi' }, limits: { cpu: '2', memory: '2Gi' } });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http', scheme: 'HTTP' });
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http', scheme: 'HTTP' });
    expect(c.startupProbe.periodSeconds * c.startupProbe.failureThreshold).toBe(600);
    expect(c.lifecycle.preStop).toEqual({ sleep: { seconds: PRESTOP_SLEEP_S } });
    expect(dep.spec.template.spec.terminationGracePeriodSeconds).toBe(TERMINATION_GRACE_S);
    expect(c.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65534, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(c.volumeMounts).toEqual([{ name: 'tmp', mountPath: '/tmp' }]);
    expect(svc.spec.type).toBe('ClusterIP');
    expect(svc.spec.ports).toEqual([
      { name: 'grpc', port: 8500, targetPort: 'grpc', protocol: 'TCP', appProtocol: 'grpc' },
      { name: 'http', port: 8501, targetPort: 'http', protocol: 'TCP', appProtocol: 'http' },
    ]);
  });

  it('without the image Cmd, builds the --model flags from the models', () => {
    const [dep] = kubernetesManifests({ ...CASES.plain!, serveArgs: undefined }) as Any[];
    expect(dep.spec.template.spec.containers[0].args.slice(0, 6)).toEqual(['--model', 'resnet50=/models/resnet50/2:2', '--grpc-port', '8500', '--rest-port', '8501']);
  });

  it('autoscale: no replicas, an autoscaling/v2 HPA on cpu utilization', () => {
    const objects = kubernetesManifests(CASES.autoscale!) as Any[];
    expect(objects[0].spec.replicas).toBeUndefined();
    expect(objects[2].spec).toEqual({
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'resnet-svc' },
      minReplicas: 1,
      maxReplicas: 5,
      metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } }],
    });
  });

  it('auth: an Opaque Secret with keys.json (SHA-256 hashes only) mounted at /run/accel, and the server told to read it', () => {
    const [sec, dep] = kubernetesManifests(CASES.auth!) as Any[];
    expect(sec.type).toBe('Opaque');
    const { primary, secondary } = CASES.auth!.keys!;
    expect(JSON.parse(Buffer.from(sec.data['keys.json'], 'base64').toString())).toEqual({ primary: hashKey(primary!), secondary: hashKey(secondary!) });
    const c = dep.spec.template.spec.containers[0];
    expect(c.args.slice(-2)).toEqual(['--api-keys-file', '/run/accel/keys.json']);
    expect(c.volumeMounts).toContainEqual({ name: 'secrets', mountPath: '/run/accel', readOnly: true });
    expect(dep.spec.template.spec.volumes).toContainEqual({ name: 'secrets', secret: { secretName: 'resnet-svc-secrets', defaultMode: 0o440 } });
  });

  it('TLS: a kubernetes.io/tls Secret, HTTPS probes, https appProtocol, and a cert hash that rolls the pods', () => {
    const [sec, dep, svc] = kubernetesManifests(CASES['auth+tls']!) as Any[];
    expect(sec.type).toBe('kubernetes.io/tls');
    expect(Object.keys(sec.data).sort()).toEqual(['keys.json', 'tls.crt', 'tls.key']);
    expect(Buffer.from(sec.data['tls.crt'], 'base64').toString()).toBe(CERT);
    const c = dep.spec.template.spec.containers[0];
    expect(c.args).toEqual(expect.arrayContaining(['--tls-cert', '/run/accel/tls.crt', '--tls-key', '/run/accel/tls.key']));
    expect(c.readinessProbe.httpGet.scheme).toBe('HTTPS');
    expect(svc.spec.ports[1].appProtocol).toBe('https');
    const other = kubernetesManifests({ ...CASES['auth+tls']!, tls: { cert: CERT.replace('cert', 'cer2'), key: KEY } }) as Any[];
    expect(other[1].spec.template.metadata.annotations['ai.accel/tls-sha256']).not.toBe(dep.spec.template.metadata.annotations['ai.accel/tls-sha256']);
  });

  it('accelerator: equal request and limit of the extended resource; threads follow the cpu limit', () => {
    const [dep] = kubernetesManifests(CASES.accelerator!) as Any[];
    const c = dep.spec.template.spec.containers[0];
    expect(c.resources).toEqual({ requests: { cpu: '1500m', memory: '3Gi', 'nvidia.com/gpu': '1' }, limits: { cpu: '1500m', memory: '3Gi', 'nvidia.com/gpu': '1' } });
    expect(c.args).toEqual(expect.arrayContaining(['--threads', '2']));
  });

  it('LoadBalancer from the serviceType property', () => {
    const [, svc] = kubernetesManifests(CASES.loadbalancer!) as Any[];
    expect(svc.spec.type).toBe('LoadBalancer');
  });

  it('refuses what the cluster would refuse, naming the setting', () => {
    expect(() => kubernetesManifests(spec({ service: 'Resnet_1' }))).toThrow(/service name "Resnet_1"/);
    expect(() => kubernetesManifests(spec({ namespace: 'Prod' }))).toThrow(/namespace "Prod"/);
    expect(() => kubernetesManifests(spec({ properties: { serviceType: 'External' } }))).toThrow(/serviceType="External" is not one of ClusterIP, LoadBalancer, NodePort/);
    expect(() => kubernetesManifests(spec({ properties: { memory: '2GB' } }))).toThrow(/memory="2GB" is not a Kubernetes quantity/);
    expect(() => kubernetesManifests(spec({ acceleratorResource: 'gpu' }))).toThrow(/"gpu" is not a domain-qualified resource name/);
    expect(() => kubernetesManifests(spec({ autoscale: { min: 4, max: 2, targetUtilization: 50 } }))).toThrow(/1 <= min <= max, got min 4, max 2/);
  });

  it('toYaml writes one document per object that parses back to the same objects', () => {
    const objects = kubernetesManifests(CASES['auth+tls']!);
    const docs = YAML.parseAllDocuments(toYaml(objects)).map((d) => d.toJS());
    expect(docs).toEqual(JSON.parse(JSON.stringify(objects)));
  });
});

describe('imageServeArgs', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'accel-k8s-layout-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("reads the image's Cmd from its OCI layout", async () => {
    const layout = new OciLayout(dir);
    await layout.init();
    const cmd = ['--model', 'm=/models/m/1/m.onnx:1', '--grpc-port', '8500', '--rest-port', '8501'];
    const config = await layout.putJson({ architecture: 'amd64', os: 'linux', config: { Cmd: cmd }, rootfs: { type: 'layers', diff_ids: [] } }, 'application/vnd.oci.image.config.v1+json');
    const manifest = await layout.putJson({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: config.mediaType, digest: config.digest, size: config.size }, layers: [] }, 'application/vnd.oci.image.manifest.v1+json');
    await layout.tag(manifest, '1');
    expect(await imageServeArgs(dir, '1')).toEqual(cmd);
    await expect(imageServeArgs(dir, '2')).rejects.toThrow(/no image "2"/);
  });
});

// ---- kubectl, offline ----

const KUBECONFIG = `apiVersion: v1
kind: Config
clusters: [{name: offline, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: nobody, user: {token: unused}}]
contexts: [{name: offline, context: {cluster: offline, user: nobody, namespace: default}}]
current-context: offline
`;

/** The discovery documents kubectl would fetch, for the four kinds we emit: kubectl then maps kinds without a server. */
function seedDiscovery(cacheDir: string): void {
  const root = join(cacheDir, 'discovery', '127.0.0.1_1');
  const verbs = ['create', 'delete', 'get', 'list', 'patch', 'update'];
  const groups = [
    { name: '', gv: 'v1', resources: [['secrets', 'Secret'], ['services', 'Service']] },
    { name: 'apps', gv: 'apps/v1', resources: [['deployments', 'Deployment']] },
    { name: 'autoscaling', gv: 'autoscaling/v2', resources: [['horizontalpodautoscalers', 'HorizontalPodAutoscaler']] },
  ];
  mkdirSync(root, { recursive: true });
  const version = (gv: string) => ({ groupVersion: gv, version: gv.split('/').pop() });
  writeFileSync(join(root, 'servergroups.json'), JSON.stringify({ kind: 'APIGroupList', apiVersion: 'v1', groups: groups.map((g) => ({ name: g.name, versions: [version(g.gv)], preferredVersion: version(g.gv) })) }));
  for (const g of groups) {
    mkdirSync(join(root, g.gv), { recursive: true });
    const resources = g.resources.map(([name, kind]) => ({ name, singularName: kind!.toLowerCase(), namespaced: true, kind, verbs }));
    writeFileSync(join(root, g.gv, 'serverresources.json'), JSON.stringify({ kind: 'APIResourceList', apiVersion: 'v1', groupVersion: g.gv, resources }));
  }
}

const noKubectl = missingTools(['kubectl']);

describe.skipIf(noKubectl)(`kubectl create --dry-run=client, offline${noKubectl ? ` (skipped: ${noKubectl})` : ''}`, () => {
  let dir: string;
  const kubectl = (file: string) => {
    const args = ['--kubeconfig', join(dir, 'kubeconfig'), '--cache-dir', join(dir, 'cache'), 'create', '--dry-run=client', '--validate=false', '-o', 'yaml', '-f', file];
    return spawnSync('kubectl', args, { encoding: 'utf8', timeout: 60_000, env: { PATH: process.env.PATH, HOME: dir } });
  };
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'accel-kubectl-'));
    writeFileSync(join(dir, 'kubeconfig'), KUBECONFIG);
    seedDiscovery(join(dir, 'cache'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const [name, s] of Object.entries(CASES)) {
    it(`${name}: kubectl reads every object back unchanged`, () => {
      const objects = kubernetesManifests(s);
      const file = join(dir, `${name}.yaml`);
      writeFileSync(file, toYaml(objects));
      const r = kubectl(file);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const back = YAML.parseAllDocuments(r.stdout).map((d) => d.toJS());
      expect(back).toEqual(JSON.parse(JSON.stringify(objects)));
    });
  }

  it('the check has teeth: an unknown kind or a broken document is refused', () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, toYaml([{ ...kubernetesManifests(CASES.plain!)[0]!, apiVersion: 'apps/v2' }]));
    const unknown = kubectl(file);
    expect(unknown.status).not.toBe(0);
    expect(unknown.stderr).toMatch(/unable to recognize|no matches for kind/);
    writeFileSync(file, 'apiVersion: v1\nkind: Service\nmetadata: {name: x\n');
    const broken = kubectl(file);
    expect(broken.status).not.toBe(0);
    expect(broken.stderr).toMatch(/yaml|json/i);
  });
});
