import { AccelError } from '../errors';

const NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/** Checks an artifact name: lowercase `[a-z0-9][a-z0-9._-]*`, at most 63 characters. */
export function checkName(what: string, name: string): string {
  if (!NAME.test(name)) throw new AccelError('ACCEL_ERR_BAD_NAME', { what, name });
  return name;
}

const TAG_KEY = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$/;

/** Parses `k=v` pairs (tags, properties); a clear usage error for anything else. */
export function parsePairs(flag: string, pairs: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const i = pair.indexOf('=');
    const key = i > 0 ? pair.slice(0, i) : '';
    if (!TAG_KEY.test(key)) {
      throw new AccelError('ACCEL_ERR_USAGE', {
        reason: `${flag} takes KEY=VALUE with a key of letters, digits, ".", "_", "/" or "-" (at most 63), got "${pair}"`,
      });
    }
    out[key] = pair.slice(i + 1);
  }
  return out;
}

/** `name` or `name:version` -> parts; the version must be a positive integer. */
export function parseModelRef(ref: string): { name: string; version?: number } {
  const m = /^([^:]+)(?::(.+))?$/.exec(ref);
  if (!m) throw new AccelError('ACCEL_ERR_USAGE', { reason: `expected NAME[:VERSION], got "${ref}"` });
  const name = checkName('Model', m[1]);
  if (m[2] === undefined) return { name };
  const version = Number(m[2]);
  if (!Number.isSafeInteger(version) || version < 1) {
    throw new AccelError('ACCEL_ERR_USAGE', { reason: `version must be a positive integer, got "${m[2]}" in "${ref}"` });
  }
  return { name, version };
}
