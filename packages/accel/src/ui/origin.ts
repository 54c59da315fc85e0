import { isIP } from 'node:net';

/** Host names that always mean this machine. */
export function isLoopbackName(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost') || h === '::1') return true;
  return isIP(h) === 4 && h.startsWith('127.');
}

/** `host[:port]` of a Host header or an origin URL, lowercased; undefined when unparsable. */
function hostOf(value: string, scheme = 'http'): URL | undefined {
  try {
    return new URL(value.includes('://') ? value : `${scheme}://${value}`);
  } catch {
    return undefined;
  }
}

/**
 * Why a browser request must not reach the control plane, or undefined when it may. Two attacks
 * from web pages the user happens to visit, both working without any key when `accel ui` is
 * open on loopback:
 * - cross-site requests: a page on another origin may send simple requests (a form POST of
 *   a model upload) to 127.0.0.1; browsers name their origin in `Origin`, which must be ours;
 * - DNS rebinding: a name the attacker controls re-resolved to 127.0.0.1 makes their page
 *   same-origin with us; its `Host` header still carries their name, so a loopback server
 *   answers only loopback names.
 * Tools that are not browsers (curl, the SDK) send no `Origin` and a Host they chose.
 */
export function originProblem(headers: { host?: string; origin?: string }, opts: { loopbackOnly: boolean }): string | undefined {
  const host = headers.host ? hostOf(headers.host) : undefined;
  if (opts.loopbackOnly && (!host || !isLoopbackName(host.hostname))) {
    return `this control plane listens on loopback and answers only loopback host names, not "${headers.host ?? ''}"`;
  }
  const origin = headers.origin;
  if (origin === undefined) return undefined;
  const from = hostOf(origin);
  if (!from || !host || from.host !== host.host) return `a page of another origin (${origin}) may not call this control plane`;
  return undefined;
}
