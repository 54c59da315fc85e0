import { createHash } from 'node:crypto';

/** A key given as its SHA-256 (what deployments write): `sha256:` and 64 hex digits. */
export const HASHED_KEY = /^sha256:([0-9a-f]{64})$/i;

/** The SHA-256 of a key (UTF-8), 32 bytes. */
export const keyDigest = (key: string): Buffer => createHash('sha256').update(key, 'utf8').digest();

/** The form of a key to keep at rest next to a server: `sha256:<64 hex>`. */
export function hashKey(key: string): string {
  return `sha256:${keyDigest(key).toString('hex')}`;
}

/**
 * A key file's text (`--api-keys-file`) with each key replaced by its hash; empty slots and
 * values already hashed stay as they are.
 *
 * @example
 * hashedKeyFile({ primary: 'k1', secondary: '' }) // '{"primary":"sha256:…","secondary":""}'
 */
export function hashedKeyFile(keys: Record<string, string>): string {
  return JSON.stringify(Object.fromEntries(Object.entries(keys).map(([name, key]) => [name, key && !HASHED_KEY.test(key) ? hashKey(key) : key])));
}
