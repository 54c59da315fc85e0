import { spawn } from 'node:child_process';
import { chownSync, closeSync, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { AccelError } from '../errors';
import { openFilesLimit, parseMemory, readConfig, rewriteConfig, RUN_MOUNT, prepareBundle, writeConfig } from './container-bundle';
import { containerPrerequisites, findTool, runTool, ToolError } from './container-exec';
import { writeSecrets } from './local';
import { createNetwork, NETNS_DIR, networkNames, removeNetwork } from './netns';
import { alive, probeReady, tailFile } from './probe';
import type { DeploySpec, Deployed, DeployTarget } from './target';

/** A running container that is not ready this long after starting is Unhealthy, not Transitioning. */
const STARTUP_GRACE_MS = 60_000;
/** How long the server may drain after SIGTERM before it is killed. */
const STOP_GRACE_MS = 10_000;
const REST_PORT = 8501;
const GRPC_PORT = 8500;

/** What `start` stores in the service record to find the container again. */
export interface ContainerRuntime {
  containerId: string;
  netns: string;
  hostVeth: string;
  /** The container's address (namespace end of the veth pair). */
  ip: string;
  hostIp: string;
  bundle: string;
  pidFile: string;
  logFile: string;
  runDir: string;
  startedAt: number;
}

export type RuncStatus = 'creating' | 'created' | 'running' | 'paused' | 'stopped';

export function containerId(service: string): string {
  return `accel-${service}`;
}

const str = (v: unknown) => (typeof v === 'string' && v ? v : undefined);

/** `runc state <id>`: the container's status, or undefined when runc does not know it. */
export async function runcState(id: string): Promise<{ status: RuncStatus; pid: number } | undefined> {
  try {
    const state = JSON.parse(await runTool('runc', ['state', id])) as { status: RuncStatus; pid: number };
    return state;
  } catch (err) {
    if (err instanceof ToolError && /does not exist/i.test(err.stderr)) return undefined;
    throw err;
  }
}

/** Runs `runc run --detach`; the container's stdout and stderr (and runc's own errors) are appended to `logFile`. */
async function runDetached(id: string, bundle: string, pidFile: string, logFile: string): Promise<void> {
  const fd = openSync(logFile, 'a');
  try {
    writeSync(fd, `[accel] ${new Date().toISOString()} starting container ${id}\n`);
    const child = spawn(findTool('runc') ?? 'runc', ['run', '--detach', '--pid-file', pidFile, '--bundle', bundle, id], { stdio: ['ignore', fd, fd] });
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    const exit = await new Promise<number | string | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code, signal) => resolve(code ?? signal));
    }).finally(() => clearTimeout(timer));
    if (exit !== 0) throw new Error(`runc run exited with ${exit}`);
  } finally {
    closeSync(fd);
  }
}

/** Lets the container's user read the run folder (the server may not run as root). */
function chownTree(dir: string, uid: number, gid: number): void {
  chownSync(dir, uid, gid);
  for (const f of readdirSync(dir)) chownSync(join(dir, f), uid, gid);
}

/**
 * The `container` target (the edge box): the image's server in a runc container with its own
 * mount, pid, ipc, uts and network namespaces. The network namespace `accel-<service>` is joined
 * to the host by a veth pair on a /30 of 10.213.0.0/16; clients reach the server at the
 * container's address, REST on 8501 and gRPC on 8500. Keys and TLS files live in the service's
 * `run/` folder, mounted read-only at `/run/accel`, so rotating keys only rewrites a host file.
 * Needs root, runc, umoci and iproute2.
 */
export class ContainerTarget implements DeployTarget {
  readonly type = 'container' as const;

  /** `startupGraceMs`: how long a running container that is not ready counts as Transitioning (default 60 s). */
  constructor(private readonly opts: { startupGraceMs?: number } = {}) {}

  async start(spec: DeploySpec, log: (line: string) => void): Promise<Deployed> {
    const fail = (reason: string, tail = '') => new AccelError('ACCEL_ERR_SERVICE_FAILED', { service: spec.service, reason, log: tail.trim() ? `\n${tail.trim()}` : ' (no output)' });
    const missing = containerPrerequisites();
    if (missing) throw fail(missing);
    let memoryLimit: number | undefined;
    try {
      memoryLimit = spec.properties.memory ? parseMemory(spec.properties.memory) : undefined;
    } catch (err) {
      throw fail((err as Error).message);
    }
    const id = containerId(spec.service);
    const names = networkNames(spec.service);
    const runtime: ContainerRuntime = {
      containerId: id,
      ...names,
      ip: '',
      hostIp: '',
      bundle: join(spec.workDir, 'bundle'),
      pidFile: join(spec.workDir, 'container.pid'),
      logFile: join(spec.workDir, 'container.log'),
      runDir: join(spec.workDir, 'run'),
      startedAt: Date.now(),
    };
    // A restart (or a crashed earlier try) may have left the container, namespace or bundle behind.
    await this.stop({ ...runtime });
    let launched = false;
    try {
      const { unpacked } = await prepareBundle(spec.layoutDir, spec.layoutRef, runtime.bundle);
      log(`${unpacked ? 'unpacked' : 'reused the unpacked'} ${spec.image} (${spec.layoutDir}:${spec.layoutRef}); bundle ${runtime.bundle}`);
      const config = await readConfig(runtime.bundle);
      const extraArgs = writeSecrets(spec, runtime.runDir, RUN_MOUNT);
      const user = config.process?.user;
      if (user && (user.uid !== 0 || user.gid !== 0)) chownTree(runtime.runDir, user.uid, user.gid);
      const net = await createNetwork(spec.service);
      Object.assign(runtime, { ip: net.nsIp, hostIp: net.hostIp });
      log(`network namespace ${net.netns}: ${net.nsVeth} ${net.nsIp}/${net.prefix}, host side ${net.hostVeth} ${net.hostIp}`);
      await writeConfig(runtime.bundle, rewriteConfig(config, { hostname: spec.service, netnsPath: join(NETNS_DIR, net.netns), runDir: runtime.runDir, extraArgs, memoryLimit, openFiles: openFilesLimit(readFileSync('/proc/self/limits', 'utf8')) }));
      launched = true;
      await runDetached(id, runtime.bundle, runtime.pidFile, runtime.logFile);
    } catch (err) {
      // The log only says something about this failure once runc ran (it may hold an earlier run's output).
      const tail = launched ? await tailFile(runtime.logFile, 20) : '';
      await this.stop({ ...runtime }).catch(() => undefined);
      throw err instanceof AccelError ? err : fail((err as Error).message, tail);
    }
    log(`container ${id} started: ${spec.models.map((m) => `${m.name}:${m.version}`).join(', ')} at ${runtime.ip} (gRPC ${GRPC_PORT}, REST ${REST_PORT})`);
    const scheme = spec.tls ? 'https' : 'http';
    return { scoringUri: `${scheme}://${runtime.ip}:${REST_PORT}`, grpcUri: `${runtime.ip}:${GRPC_PORT}`, runtime: { ...runtime } };
  }

  async status(runtime: Record<string, unknown>, deployed: Deployed) {
    const id = str(runtime.containerId);
    if (!id) return { state: 'Failed' as const, detail: 'no container id recorded: the container was never started' };
    const state = await runcState(id);
    if (!state) return { state: 'Failed' as const, detail: `container ${id} does not exist (see \`runc list\`)` };
    if (state.status === 'stopped') {
      const last = (await tailFile(String(runtime.logFile), 1)).trim();
      return { state: 'Failed' as const, detail: `container ${id} exited${last ? `; last log line: ${last}` : ''}` };
    }
    if (state.status === 'paused') return { state: 'Unhealthy' as const, detail: `container ${id} is paused (\`runc resume ${id}\`)` };
    if (state.status !== 'running') return { state: 'Transitioning' as const, detail: `container ${id} is ${state.status}` };
    if (await probeReady(deployed.scoringUri)) return { state: 'Healthy' as const };
    const young = Date.now() - (typeof runtime.startedAt === 'number' ? runtime.startedAt : 0) < (this.opts.startupGraceMs ?? STARTUP_GRACE_MS);
    return young
      ? { state: 'Transitioning' as const, detail: 'container running, server not ready yet' }
      : { state: 'Unhealthy' as const, detail: `container running, but ${deployed.scoringUri}/readyz does not answer 200` };
  }

  logs(runtime: Record<string, unknown>, tailLines = 100): Promise<string> {
    const file = str(runtime.logFile);
    return file ? tailFile(file, tailLines) : Promise.resolve('');
  }

  async stop(runtime: Record<string, unknown>): Promise<void> {
    const id = str(runtime.containerId);
    const state = id ? await runcState(id) : undefined;
    if (id && state) {
      if (state.status === 'running') {
        await this.signal(id, 'SIGTERM');
        if (!(await this.waitStopped(id, STOP_GRACE_MS))) {
          await this.signal(id, 'SIGKILL');
          await this.waitStopped(id, 5_000);
        }
      }
      await runTool('runc', ['delete', '--force', id]).catch(async (err: unknown) => {
        if (await runcState(id)) throw err;
      });
    }
    await removeNetwork({ netns: str(runtime.netns), hostVeth: str(runtime.hostVeth) });
    const bundle = str(runtime.bundle);
    if (bundle) await rm(bundle, { recursive: true, force: true });
    const pidFile = str(runtime.pidFile);
    if (pidFile) await rm(pidFile, { force: true });
  }

  private async signal(id: string, sig: string): Promise<void> {
    // The container may exit between the state check and the kill: that is what we want anyway.
    await runTool('runc', ['kill', id, sig]).catch(() => undefined);
  }

  private async waitStopped(id: string, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    for (;;) {
      const state = await runcState(id);
      if (!state || state.status === 'stopped' || !alive(state.pid)) return true;
      if (Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
