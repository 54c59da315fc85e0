import { open, stat } from 'node:fs/promises';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';

/**
 * GET `<base>/readyz`: true when the server says it is ready. TLS certificates are not checked
 * (a readiness probe, not a client). Uses node:http(s) rather than fetch, so that loading this
 * module changes no process-wide fetch dispatcher.
 */
export function probeReady(base: string, timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    const url = new URL('/readyz', base);
    const get = url.protocol === 'https:' ? httpsGet : httpGet;
    const req = get(url, { timeout: timeoutMs, rejectUnauthorized: false }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
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

export { alive } from '../workspace/jobs';
