import { open, stat } from 'node:fs/promises';
import { Agent, fetch } from 'undici';

/** GET `<base>/readyz`: true when the server says it is ready. TLS certificates are not checked (a liveness probe, not a client). */
export async function probeReady(base: string, timeoutMs = 2000): Promise<boolean> {
  const dispatcher = base.startsWith('https:') ? new Agent({ connect: { rejectUnauthorized: false } }) : undefined;
  try {
    const res = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(timeoutMs), dispatcher });
    await res.body?.cancel();
    return res.status === 200;
  } catch {
    return false;
  } finally {
    await dispatcher?.close();
  }
}

/** The last `lines` lines of a text file (reads at most the last 1 MB); empty when missing. */
export async function tailFile(path: string, lines = 100): Promise<string> {
  const info = await stat(path).catch(() => undefined);
  if (!info) return '';
  const length = Math.min(info.size, 1 << 20);
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(length);
    await fh.read(buf, 0, length, info.size - length);
    const text = buf.toString('utf8');
    return text.split('\n').slice(-lines - 1).join('\n');
  } finally {
    await fh.close();
  }
}

/** True if a process with this pid exists. */
export function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
