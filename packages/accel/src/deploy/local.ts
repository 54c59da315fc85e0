import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hashedKeyFile } from '../protocols/key-hash';
import { alive, probeReady, tailFile } from './probe';
import { readSupervisorState, type SuperviseConfig } from './supervisor';
import type { DeploySpec, Deployed, DeployTarget } from './target';

const BIN = fileURLToPath(new URL('../../bin/accel.js', import.meta.url));
/** A service that is not ready this long after starting is Unhealthy, not Transitioning. */
const STARTUP_GRACE_MS = 120_000;

/** A free TCP port on the loopback interface. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * Writes the files a server reads (`run/keys.json` with the keys' SHA-256 only, `run/tls.crt`,
 * `run/tls.key`); returns the serve flags for them.
 */
export function writeSecrets(spec: DeploySpec, runDir: string, pathInServer = runDir): string[] {
  mkdirSync(runDir, { recursive: true, mode: 0o700 });
  const flags: string[] = [];
  if (spec.keys) {
    writeFileSync(join(runDir, 'keys.json'), hashedKeyFile(spec.keys), { mode: 0o600 });
    flags.push('--api-keys-file', join(pathInServer, 'keys.json'));
  }
  if (spec.tls) {
    writeFileSync(join(runDir, 'tls.crt'), spec.tls.cert, { mode: 0o600 });
    writeFileSync(join(runDir, 'tls.key'), spec.tls.key, { mode: 0o600 });
    flags.push('--tls-cert', join(pathInServer, 'tls.crt'), '--tls-key', join(pathInServer, 'tls.key'));
  }
  return flags;
}

const num = (v: unknown) => (typeof v === 'number' ? v : undefined);

/**
 * The `local` target: the server as a child process of a detached supervisor
 * (`accel service supervise DIR`) that restarts it with backoff when it crashes. Listens on
 * loopback ports picked at start.
 */
export class LocalTarget implements DeployTarget {
  readonly type = 'local' as const;

  async start(spec: DeploySpec, log: (line: string) => void): Promise<Deployed> {
    const [grpcPort, restPort] = [await freePort(), await freePort()];
    const args = [BIN, 'serve', '--host', '127.0.0.1', '--grpc-port', String(grpcPort), '--rest-port', String(restPort), '--log-level', 'info'];
    for (const m of spec.models) args.push('--model', `${m.name}=${m.dir}:${m.version}`);
    args.push(...writeSecrets(spec, join(spec.workDir, 'run')));
    const config: SuperviseConfig = { command: process.execPath, args, logFile: join(spec.workDir, 'service.log') };
    writeFileSync(join(spec.workDir, 'supervise.json'), JSON.stringify(config, null, 2));
    const supervisor = spawn(process.execPath, [BIN, 'service', 'supervise', spec.workDir], { detached: true, stdio: 'ignore' });
    supervisor.unref();
    log(`started supervisor ${supervisor.pid} for ${spec.service}: ${spec.models.map((m) => `${m.name}:${m.version}`).join(', ')} on 127.0.0.1 (gRPC ${grpcPort}, REST ${restPort})`);
    const scheme = spec.tls ? 'https' : 'http';
    return {
      scoringUri: `${scheme}://127.0.0.1:${restPort}`,
      grpcUri: `127.0.0.1:${grpcPort}`,
      runtime: { supervisorPid: supervisor.pid, workDir: spec.workDir, grpcPort, restPort, startedAt: Date.now() },
    };
  }

  async status(runtime: Record<string, unknown>, deployed: Deployed) {
    const sup = readSupervisorState(String(runtime.workDir));
    if (!alive(num(runtime.supervisorPid))) return { state: 'Failed' as const, detail: 'the supervisor process is gone' };
    if (await probeReady(deployed.scoringUri)) return { state: 'Healthy' as const };
    const restarts = sup?.restarts ?? 0;
    const detail = restarts ? `server restarted ${restarts} time(s); last exit code ${sup?.lastExit?.code ?? '-'} signal ${sup?.lastExit?.signal ?? '-'}` : 'not ready yet';
    const young = Date.now() - (num(runtime.startedAt) ?? 0) < STARTUP_GRACE_MS;
    return { state: young && !restarts ? ('Transitioning' as const) : ('Unhealthy' as const), detail };
  }

  logs(runtime: Record<string, unknown>, tailLines = 100): Promise<string> {
    return tailFile(join(String(runtime.workDir), 'service.log'), tailLines);
  }

  async stop(runtime: Record<string, unknown>): Promise<void> {
    const pid = num(runtime.supervisorPid);
    const child = readSupervisorState(String(runtime.workDir))?.childPid ?? undefined;
    if (alive(pid)) process.kill(pid!, 'SIGTERM');
    const deadline = Date.now() + 15_000;
    while ((alive(pid) || alive(child)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    for (const p of [child, pid]) if (alive(p)) process.kill(p!, 'SIGKILL');
  }
}
