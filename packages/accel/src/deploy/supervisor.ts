import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** What a supervisor runs: written by the local target as `supervise.json` in the service folder. */
export interface SuperviseConfig {
  command: string;
  args: string[];
  env?: Record<string, string>;
  /** stdout and stderr of the child are appended here. */
  logFile: string;
}

/** What a supervisor reports in `supervisor.json` beside it. */
export interface SupervisorState {
  pid: number;
  childPid: number | null;
  restarts: number;
  state: 'running' | 'backoff' | 'stopping' | 'stopped';
  lastExit: { code: number | null; signal: string | null; at: string } | null;
  updatedAt: string;
}

export const BACKOFF_MS = { first: 500, max: 30_000 };
/** A child that ran this long resets the backoff. */
const STABLE_MS = 60_000;

export function readSupervisorState(dir: string): SupervisorState | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'supervisor.json'), 'utf8')) as SupervisorState;
  } catch {
    return undefined;
  }
}

/**
 * Runs the command of `<dir>/supervise.json` and restarts it whenever it exits, waiting
 * 0.5 s, 1 s, 2 s, ... up to 30 s between tries (reset after a minute of uptime). SIGTERM or
 * SIGINT stops the child (SIGTERM, so the server drains) and then the supervisor. Resolves when
 * stopped. This is what `accel service supervise DIR` runs, detached, for a local service.
 */
export function runSupervisor(dir: string): Promise<void> {
  const config = JSON.parse(readFileSync(join(dir, 'supervise.json'), 'utf8')) as SuperviseConfig;
  const state: SupervisorState = { pid: process.pid, childPid: null, restarts: 0, state: 'running', lastExit: null, updatedAt: '' };
  const save = () => {
    state.updatedAt = new Date().toISOString();
    const tmp = join(dir, `.supervisor.json.${process.pid}`);
    writeFileSync(tmp, JSON.stringify(state));
    renameSync(tmp, join(dir, 'supervisor.json'));
  };
  let child: ChildProcess | undefined;
  let stopping = false;
  let backoff = BACKOFF_MS.first;
  let timer: NodeJS.Timeout | undefined;
  return new Promise((resolve) => {
    const launch = () => {
      const log = openSync(config.logFile, 'a');
      const startedAt = Date.now();
      child = spawn(config.command, config.args, { stdio: ['ignore', log, log], env: { ...process.env, ...config.env } });
      closeSync(log);
      state.childPid = child.pid ?? null;
      state.state = 'running';
      save();
      child.on('exit', (code, signal) => {
        state.childPid = null;
        state.lastExit = { code, signal, at: new Date().toISOString() };
        if (stopping) {
          state.state = 'stopped';
          save();
          resolve();
          return;
        }
        if (Date.now() - startedAt > STABLE_MS) backoff = BACKOFF_MS.first;
        state.restarts++;
        state.state = 'backoff';
        save();
        writeFileSync(config.logFile, `[supervisor] server exited (code ${code}, signal ${signal}); restart ${state.restarts} in ${backoff} ms\n`, { flag: 'a' });
        timer = setTimeout(launch, backoff);
        backoff = Math.min(backoff * 2, BACKOFF_MS.max);
      });
    };
    const stop = () => {
      if (stopping) return;
      stopping = true;
      state.state = 'stopping';
      save();
      if (timer) clearTimeout(timer);
      if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      else {
        state.state = 'stopped';
        save();
        resolve();
      }
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    launch();
  });
}
