import { AccelError } from '../errors';
import { baseUrl } from './kserve';
import type { BenchProtocol } from './types';

const usage = (reason: string) => new AccelError('ACCEL_ERR_USAGE', { reason });
const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000 };

/** `10s`, `500ms`, `0.5s`, `2m`; a bare number is seconds. Returns ms. */
export function parseDuration(flag: string, value: string, allowZero = false): number {
  const m = /^(\d+(?:\.\d+)?|\.\d+)(ms|s|m)?$/.exec(value.trim());
  const ms = m ? Number(m[1]) * UNITS[m[2] ?? 's'] : Number.NaN;
  if (!Number.isFinite(ms) || ms < 0 || (!allowZero && ms === 0)) {
    throw usage(`${flag} must be a ${allowZero ? '' : 'positive '}duration such as 10s, 500ms or 2m, got "${value}"`);
  }
  return ms;
}

export function parsePositiveInt(flag: string, value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 1) throw usage(`${flag} must be a positive integer, got "${value}"`);
  return n;
}

/** `1,2,4,8`: positive integers, in the order given. */
export function parseConcurrency(value: string): number[] {
  const parts = value.split(',').map((s) => s.trim());
  if (parts.some((p) => !/^\d+$/.test(p) || Number(p) < 1 || Number(p) > 10_000)) {
    throw usage(`--concurrency takes comma-separated integers from 1 to 10000, such as 1,2,4,8; got "${value}"`);
  }
  return parts.map(Number);
}

/**
 * `--metrics-url`: given, or `none`; by default the REST protocols read `/metrics` on the address
 * they talk to, and the gRPC protocols read none (the REST port of a gRPC address is unknown).
 */
export function resolveMetricsUrl(given: string | undefined, protocol: BenchProtocol, address: string): string | undefined {
  if (given === 'none') return undefined;
  if (given !== undefined) {
    if (!/^https?:\/\/\S+$/i.test(given)) throw usage(`--metrics-url must be an http(s):// URL or none, got "${given}"`);
    return given;
  }
  return protocol === 'rest' || protocol === 'kserve-rest' ? `${baseUrl(address, 8501)}/metrics` : undefined;
}
