import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AccelError } from '../errors';
import { hashedKeyFile } from '../protocols/key-hash';
import { parseModelRef } from '../workspace/names';
import type { ComputeType, ImageRecord, ServiceRecord, ServiceState } from '../workspace/types';
import type { Workspace } from '../workspace/workspace';
import type { DeploySpec, Deployed, DeployTarget } from './target';

export interface DeployOptions {
  name: string;
  /** `NAME[:VERSION]` of a built image. */
  image: string;
  compute: string;
  replicas?: number;
  autoscale?: { min: number; max: number; targetUtilization: number };
  auth?: boolean;
  /** PEM files for TLS. */
  tlsCert?: string;
  tlsKey?: string;
  /** A running service to stop first, taking its accelerator (the edge box's way to switch models). */
  replace?: string;
  /** Wait until Healthy (default true). */
  wait?: boolean;
  timeoutMs?: number;
}

export interface DeployResult {
  service: ServiceRecord;
  /** Time from the start of the deployment to Healthy. */
  readyMs?: number;
  /** With --replace: time from stopping the old service to the new one answering. */
  downtimeMs?: number;
}

/** Deployment targets by compute type; built lazily so that a CLI call loads only the one it uses. */
export async function targetFor(type: ComputeType): Promise<DeployTarget> {
  switch (type) {
    case 'local':
      return new (await import('./local')).LocalTarget();
    case 'container':
      return new (await import('./container')).ContainerTarget();
    case 'kubernetes':
      return new (await import('./kubernetes')).KubernetesTarget();
  }
}

const DNS_LABEL = /^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/;

export function newKey(): string {
  return randomBytes(24).toString('base64url');
}

function serviceDir(ws: Workspace, name: string): string {
  return join(ws.dir, 'services', name);
}

/** The settings a service was deployed with, kept in its record to redeploy and rotate keys. */
interface StoredConfig {
  replicas: number;
  autoscale?: DeployOptions['autoscale'];
  auth: boolean;
  tls: boolean;
}

async function buildSpec(ws: Workspace, name: string, image: ImageRecord, compute: { type: ComputeType; properties: Record<string, string> }, config: StoredConfig, keys: Record<string, string>, tls?: { cert: string; key: string }): Promise<DeploySpec> {
  const workDir = serviceDir(ws, name);
  mkdirSync(workDir, { recursive: true });
  const models: DeploySpec['models'] = [];
  for (const id of image.models) {
    const { name: m, version } = parseModelRef(id);
    // The local target serves the model files directly; the others read them from the image.
    const dir = compute.type === 'local' ? await ws.downloadModel(m, version, join(workDir, 'models', m, String(version))) : '';
    models.push({ name: m, version: version!, dir });
  }
  return {
    service: name,
    image: image.id,
    layoutDir: ws.imageDir(image),
    layoutRef: String(image.version),
    models,
    replicas: config.replicas,
    autoscale: config.autoscale,
    keys: config.auth ? { primary: keys.primary!, secondary: keys.secondary! } : undefined,
    tls,
    accelerators: 1,
    workDir,
    properties: compute.properties,
  };
}

function readTls(opts: DeployOptions): { cert: string; key: string } | undefined {
  if (!opts.tlsCert && !opts.tlsKey) return undefined;
  if (!opts.tlsCert || !opts.tlsKey) throw new AccelError('ACCEL_ERR_USAGE', { reason: '--tls-cert and --tls-key go together' });
  const read = (f: string) => {
    try {
      return readFileSync(f, 'utf8');
    } catch (err) {
      throw new AccelError('ACCEL_ERR_USAGE', { reason: `cannot read ${f}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
    }
  };
  const tls = { cert: read(opts.tlsCert), key: read(opts.tlsKey) };
  if (!tls.cert.includes('BEGIN CERTIFICATE')) throw new AccelError('ACCEL_ERR_USAGE', { reason: `${opts.tlsCert} holds no PEM certificate` });
  if (!/BEGIN [A-Z ]*PRIVATE KEY/.test(tls.key)) throw new AccelError('ACCEL_ERR_USAGE', { reason: `${opts.tlsKey} holds no PEM private key` });
  return tls;
}

/**
 * Deploys an image as a service on a compute target: checks the name, the image and the
 * target's free accelerators (one model per accelerator), records the service, starts it, and
 * (by default) waits until it is Healthy. With `replace`, the named service is stopped first
 * and its accelerator handed over; the downtime is measured.
 */
export async function deployService(ws: Workspace, opts: DeployOptions, log: (line: string) => void): Promise<DeployResult> {
  if (!DNS_LABEL.test(opts.name)) {
    throw new AccelError('ACCEL_ERR_USAGE', { reason: `Service name "${opts.name}" is invalid: use lowercase letters, digits and '-', starting with a letter, at most 63 characters (it names Kubernetes objects)` });
  }
  const { name: imageName, version } = parseModelRef(opts.image);
  const image = await ws.getImage(imageName, version);
  if (image.state !== 'Succeeded') throw new AccelError('ACCEL_ERR_USAGE', { reason: `image ${image.id} is ${image.state}, not built: see \`accel image logs ${image.id}\`` });
  const compute = await ws.getCompute(opts.compute);
  const tls = readTls(opts);
  const replaced = opts.replace ? await ws.getService(opts.replace) : undefined;
  if (!replaced && (await ws.store.getService(opts.name))) {
    throw new AccelError('ACCEL_ERR_USAGE', { reason: `Service "${opts.name}" already exists: delete it first, or pass --replace ${opts.name} to swap its image` });
  }
  if (replaced && replaced.compute !== compute.name) {
    throw new AccelError('ACCEL_ERR_USAGE', { reason: `--replace ${replaced.name}: it runs on ${replaced.compute}, not on ${compute.name}` });
  }
  // A replacement keeps the replaced service's keys and certificate unless new ones are given,
  // so that its clients keep working across the swap.
  const inheritedTls = !tls && replaced?.config.tls ? readInheritedTls(ws, replaced.name) : undefined;
  const serveTls = tls ?? inheritedTls;
  const inheritKeys = Boolean(replaced?.keys.primary) && !opts.auth;
  const config: StoredConfig = { replicas: opts.replicas ?? 1, autoscale: opts.autoscale, auth: Boolean(opts.auth) || inheritKeys, tls: Boolean(serveTls) };
  const keys: Record<string, string> = inheritKeys ? { ...replaced!.keys } : opts.auth ? { primary: newKey(), secondary: newKey() } : {};
  const target = await targetFor(compute.type);
  const t0 = performance.now();
  let stoppedAt: number | undefined;
  if (replaced) {
    log(`stopping ${replaced.name} (${replaced.image}) to free its accelerator`);
    stoppedAt = performance.now();
    await stopService(ws, replaced.name, { forget: true });
  }
  // Check the quota before anything runs; the allocation is taken by the record's owner ref.
  await ws.allocate(compute.name, { kind: 'service', id: opts.name }, 1);
  let record: ServiceRecord;
  try {
    record = await ws.createServiceRecord({
      name: opts.name,
      image: image.id,
      compute: compute.name,
      target: compute.type,
      state: 'Transitioning',
      scoringUri: '',
      grpcUri: '',
      config: { ...config },
      keys,
      runtime: {},
      errors: '',
    });
  } catch (err) {
    await ws.store.release({ kind: 'service', id: opts.name });
    throw err;
  }
  const spec = await buildSpec(ws, opts.name, image, compute, config, keys, serveTls);
  let deployed: Deployed;
  try {
    deployed = await target.start(spec, log);
  } catch (err) {
    await ws.updateService(opts.name, { state: 'Failed', errors: (err as Error).message });
    throw err;
  }
  record = (await ws.updateService(opts.name, { scoringUri: deployed.scoringUri, grpcUri: deployed.grpcUri, runtime: deployed.runtime }))!;
  if (opts.wait === false) return { service: record };
  record = await waitForService(ws, opts.name, { timeoutMs: opts.timeoutMs, onState: (s, d) => log(`${opts.name}: ${s}${d ? ` (${d})` : ''}`) });
  const now = performance.now();
  return { service: record, readyMs: now - t0, downtimeMs: stoppedAt === undefined ? undefined : now - stoppedAt };
}

function readInheritedTls(ws: Workspace, service: string): { cert: string; key: string } | undefined {
  const run = join(serviceDir(ws, service), 'run');
  try {
    return { cert: readFileSync(join(run, 'tls.crt'), 'utf8'), key: readFileSync(join(run, 'tls.key'), 'utf8') };
  } catch {
    return undefined;
  }
}

/** Asks the target for the service's state and stores it. */
export async function refreshService(ws: Workspace, name: string): Promise<ServiceRecord> {
  const s = await ws.getService(name);
  if (s.state === 'Stopped' || !s.scoringUri) return s;
  const target = await targetFor(s.target);
  const { state, detail } = await target.status(s.runtime, { scoringUri: s.scoringUri, grpcUri: s.grpcUri, runtime: s.runtime });
  const errors = state === 'Healthy' ? '' : detail ?? '';
  if (state === s.state && errors === s.errors) return s;
  return (await ws.updateService(name, { state, errors }))!;
}

/** Polls until the service is Healthy; Failed, or not Healthy within the timeout, throws with its log's tail. */
export async function waitForService(ws: Workspace, name: string, opts: { timeoutMs?: number; pollMs?: number; onState?: (state: ServiceState, detail: string) => void } = {}): Promise<ServiceRecord> {
  const deadline = Date.now() + (opts.timeoutMs ?? 300_000);
  let last = '';
  for (;;) {
    const s = await refreshService(ws, name);
    const seen = `${s.state} ${s.errors}`;
    if (seen !== last) opts.onState?.(s.state, s.errors);
    last = seen;
    if (s.state === 'Healthy') return s;
    if (s.state === 'Failed' || Date.now() > deadline) {
      const target = await targetFor(s.target);
      const tail = await target.logs(s.runtime, 20).catch(() => '');
      const why = s.state === 'Failed' ? s.errors || 'failed' : `not healthy after ${Math.round((opts.timeoutMs ?? 300_000) / 1000)} s (${s.errors || s.state})`;
      if (s.state !== 'Failed') await ws.updateService(name, { state: 'Failed', errors: why });
      throw new AccelError('ACCEL_ERR_SERVICE_FAILED', { service: name, reason: why, log: tail.trim() ? `\n${tail.trim()}` : ' (no output)' });
    }
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 250));
  }
}

/** Stops a service's processes or objects; with `forget`, also drops its record, allocation and folder. */
export async function stopService(ws: Workspace, name: string, opts: { forget?: boolean } = {}): Promise<void> {
  const s = await ws.getService(name);
  const target = await targetFor(s.target);
  await target.stop(s.runtime);
  if (opts.forget) {
    await ws.store.release({ kind: 'service', id: name });
    await ws.store.deleteService(name);
    rmSync(serviceDir(ws, name), { recursive: true, force: true });
  } else {
    await ws.updateService(name, { state: 'Stopped' });
  }
}

/**
 * Replaces one of a service's two keys. Both keys stay valid during the change, so clients
 * switch to the other key first: no downtime. Running local and container services read the
 * keys file again; Kubernetes services get their Secret updated.
 */
export async function regenerateKey(ws: Workspace, name: string, which: 'primary' | 'secondary'): Promise<ServiceRecord> {
  const s = await ws.getService(name);
  if (!s.keys.primary) throw new AccelError('ACCEL_ERR_USAGE', { reason: `service ${name} was deployed without --auth: it has no keys` });
  const keys = { ...s.keys, [which]: newKey() };
  if (s.target === 'kubernetes') {
    const kube = await import('./kubernetes');
    await kube.updateKeys(s, keys);
  } else {
    const runDir = join(serviceDir(ws, name), 'run');
    const tmp = join(runDir, `.keys.${process.pid}`);
    writeFileSync(tmp, hashedKeyFile(keys), { mode: 0o600 });
    renameSync(tmp, join(runDir, 'keys.json'));
  }
  return (await ws.updateService(name, { keys }))!;
}
