import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** The accel CLI entry point, for tests that run it as a child process (`node BIN ...`). */
export const BIN = fileURLToPath(new URL('../../bin/accel.js', import.meta.url));

/** Polls `fn` until `ok` says yes; throws naming `what` after `timeoutMs` (a liveness bound, not a speed check). */
export async function waitFor<T>(fn: () => T | Promise<T>, ok: (v: T) => boolean = Boolean, what = 'a condition', timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Resolves when the child ends, with its exit code and signal (at once if it already ended). */
export function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

export interface ServeChild {
  child: ChildProcess;
  /** What `accel serve -o json` printed once ready (addresses, models). */
  summary: { grpc: string; rest: string; models: Array<{ name: string; version: number; preprocess?: Record<string, any> }> };
  /** Its JSON logs so far. */
  stderr(): string;
}

/** Starts `accel serve ARGS -o json` on free loopback ports and resolves once it is ready. */
export function spawnServe(args: string[]): Promise<ServeChild> {
  return spawnJson<ServeChild['summary']>(['serve', ...args, '--host', '127.0.0.1', '--grpc-port', '0', '--rest-port', '0', '-o', 'json']);
}

/** Starts `accel ARGS` (a long-running command with `-o json`) and resolves with the JSON it prints once ready. */
export async function spawnJson<T>(args: string[]): Promise<{ child: ChildProcess; summary: T; stderr(): string }> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  let text = '';
  for await (const line of createInterface({ input: child.stdout! })) {
    text += line + '\n';
    try {
      return { child, summary: JSON.parse(text), stderr: () => err };
    } catch {
      // keep reading: the summary spans several lines
    }
  }
  throw new Error(`accel ${args[0]} exited before it was ready: ${err}`);
}

/** Runs `accel ARGS` to its end (`--workspace DIR` appended when given). */
export function runAccel(args: string[], opts: { workspace?: string; env?: Record<string, string> } = {}): { code: number | null; stdout: string; stderr: string } {
  const all = opts.workspace ? [...args, '--workspace', opts.workspace] : args;
  const r = spawnSync(process.execPath, [BIN, ...all], { encoding: 'utf8', timeout: 240_000, env: { ...process.env, ...opts.env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A file of `mb` megabytes whose content differs per `seed`; returns its path. */
export function bigFile(path: string, mb: number, seed: number): string {
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(1 << 20);
  for (let i = 0; i < mb; i++) {
    chunk.writeUInt32LE(i, 0);
    chunk.writeUInt32LE(seed, 4);
    writeSync(fd, chunk);
  }
  closeSync(fd);
  return path;
}

/**
 * Starts `accel ARGS` and kills it with SIGKILL as soon as its output (stdout and stderr) matches
 * `when`. Resolves with what it printed and how it ended: `signal` is SIGKILL only if it was
 * still running, so callers can check that they really interrupted it.
 */
export async function killWhen(args: string[], when: RegExp, timeoutMs = 120_000): Promise<{ output: string; code: number | null; signal: NodeJS.Signals | null }> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let timer: NodeJS.Timeout | undefined;
  await new Promise<void>((resolve) => {
    const onData = (d: Buffer) => {
      output += d;
      if (when.test(output)) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', () => resolve());
    timer = setTimeout(resolve, timeoutMs);
  });
  clearTimeout(timer);
  child.kill('SIGKILL');
  return { output, ...(await exited(child)) };
}

/** Whether the `openssl` binary runs here; when not, warns that `what` is skipped. */
export function opensslAvailable(what: string): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    console.warn(`skipping ${what}: no openssl binary`);
    return false;
  }
}
