import { renameSync, rmSync, symlinkSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { modelDir } from '../test-util/models';
import { ApiKeys, parseKeyFile, presentedKey, type ApiKeysOptions } from './auth';
import { hashKey, hashedKeyFile } from './key-hash';

const files = modelDir();
const opened: ApiKeys[] = [];
afterEach(() => {
  for (const k of opened.splice(0)) k.close();
});
afterAll(() => files.cleanup());

/** A logger whose lines land in `lines` (parsed). */
function memoryLogger() {
  const lines: Array<{ level: number; msg: string; [k: string]: unknown }> = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  return { logger, lines };
}

async function open(opts: ApiKeysOptions): Promise<ApiKeys> {
  const keys = await ApiKeys.open(opts);
  opened.push(keys);
  return keys;
}

/** Polls until `fn` holds; the watcher and the stat poll both react within well under the limit. */
const eventually = (fn: () => void) => vi.waitFor(fn, { timeout: 15_000, interval: 20 });

describe('parseKeyFile', () => {
  it('reads a JSON object of names to keys; empty values are unused slots', () => {
    expect([...parseKeyFile('{"primary": "k-1", "secondary": ""}', 'f')]).toEqual([['primary', 'k-1']]);
  });

  it.each([
    ['not json', /API key file f is not usable: it is not valid JSON/],
    ['["k"]', /it is not a JSON object/],
    ['{"primary": 3}', /"primary" is not a string/],
    ['{"primary": "has space"}', /key "primary" has spaces or characters outside printable ASCII/],
    ['{"primary": ""}', /it holds no key\. It must be a JSON object of key names to keys/],
    ['{"primary": "sha256:abc"}', /key "primary" starts with "sha256:" but is not "sha256:" and 64 hex digits/],
  ])('refuses %s with ACCEL_ERR_BAD_KEY_FILE', (text, message) => {
    expect(() => parseKeyFile(text, 'f')).toThrow(message);
    expect(() => parseKeyFile(text, 'f')).toThrow(expect.objectContaining({ code: 'ACCEL_ERR_BAD_KEY_FILE' }));
  });
});

describe('presentedKey', () => {
  it('takes "Bearer KEY" (any case) or the bare key', () => {
    expect(presentedKey('Bearer abc')).toBe('abc');
    expect(presentedKey('bearer   abc ')).toBe('abc');
    expect(presentedKey('abc')).toBe('abc');
    expect(presentedKey('Bearer ')).toBeUndefined();
    expect(presentedKey('')).toBeUndefined();
    expect(presentedKey(undefined)).toBeUndefined();
  });
});

describe('ApiKeys', () => {
  it('accepts each fixed key, says why others are refused, and never names a key', async () => {
    const keys = await open({ keys: ['alpha-1', 'beta-2'] });
    expect(keys.refusal('Bearer alpha-1')).toBeUndefined();
    expect(keys.refusal('beta-2')).toBeUndefined();
    expect(keys.refusal('Bearer alpha-')).toBe('the API key is not valid');
    expect(keys.refusal(undefined)).toBe('no API key was sent');
    expect(keys.names).toEqual(['--api-key #1', '--api-key #2']);
  });

  it('refuses to start without a key or with a bad key file', async () => {
    await expect(ApiKeys.open({})).rejects.toThrow('no API key given');
    await expect(ApiKeys.open({ keys: ['two words'] })).rejects.toThrow('--api-key #1 has spaces');
    await expect(ApiKeys.open({ file: join(files.dir, 'absent.json') })).rejects.toThrow(/absent\.json is not usable: it cannot be read \(ENOENT\)/);
    await expect(ApiKeys.open({ file: files.write('empty.json', '{"primary": ""}') })).rejects.toThrow(/it holds no key/);
  });

  it('picks up a rotated key file without a restart: the new key works, the old one is refused', async () => {
    const file = files.write('keys.json', JSON.stringify({ primary: 'old-key', secondary: 'next-key' }));
    const { logger, lines } = memoryLogger();
    const keys = await open({ file, logger, pollMs: 100 });
    expect(keys.refusal('Bearer old-key')).toBeUndefined();
    expect(keys.refusal('Bearer next-key')).toBeUndefined();

    writeFileSync(file, JSON.stringify({ primary: 'next-key', secondary: 'newest-key' }));
    await eventually(() => expect(keys.refusal('Bearer old-key')).toBe('the API key is not valid'));
    expect(keys.refusal('Bearer next-key')).toBeUndefined();
    expect(keys.refusal('Bearer newest-key')).toBeUndefined();
    expect(lines.some((l) => /reloaded API keys from .*keys\.json \(change\): primary, secondary/.test(l.msg))).toBe(true);
    expect(JSON.stringify(lines)).not.toMatch(/next-key|newest-key|old-key/);
  });

  it('keeps the last good keys and logs an error when the file turns invalid or disappears', async () => {
    const file = files.write('keys2.json', JSON.stringify({ primary: 'good-key' }));
    const { logger, lines } = memoryLogger();
    const keys = await open({ file, logger, pollMs: 100 });

    writeFileSync(file, '{"primary": "half-writ');
    await eventually(() => expect(lines.some((l) => l.level === 50 && /not valid JSON/.test(l.msg))).toBe(true));
    expect(lines.find((l) => l.level === 50)).toMatchObject({ code: 'ACCEL_ERR_BAD_KEY_FILE' });
    expect(lines.find((l) => l.level === 50)!.msg).toMatch(/Keeping the 1 keys loaded before: primary\./);
    expect(keys.refusal('good-key')).toBeUndefined();

    rmSync(file);
    await eventually(() => expect(lines.some((l) => l.level === 50 && /cannot be read \(ENOENT\)/.test(l.msg))).toBe(true));
    expect(keys.refusal('good-key')).toBeUndefined();

    writeFileSync(file, JSON.stringify({ primary: 'fixed-key' }));
    await eventually(() => expect(keys.refusal('fixed-key')).toBeUndefined());
    expect(keys.refusal('good-key')).toBe('the API key is not valid');
  });

  it('follows a Kubernetes-style Secret volume (keys.json -> ..data/keys.json, ..data swapped atomically)', async () => {
    const dir = join(files.dir, 'secret');
    mkdirSync(join(dir, '..v1'), { recursive: true });
    writeFileSync(join(dir, '..v1', 'keys.json'), JSON.stringify({ primary: 'v1-key' }));
    symlinkSync('..v1', join(dir, '..data'));
    symlinkSync(join('..data', 'keys.json'), join(dir, 'keys.json'));
    const keys = await open({ file: join(dir, 'keys.json'), pollMs: 100 });
    expect(keys.refusal('v1-key')).toBeUndefined();

    mkdirSync(join(dir, '..v2'));
    writeFileSync(join(dir, '..v2', 'keys.json'), JSON.stringify({ primary: 'v2-key' }));
    symlinkSync('..v2', join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    await eventually(() => expect(keys.refusal('v2-key')).toBeUndefined());
    expect(keys.refusal('v1-key')).toBe('the API key is not valid');
  });

  it('reload() (what SIGHUP calls) re-reads the file when nothing watches it', async () => {
    const file = files.write('keys3.json', JSON.stringify({ primary: 'before' }));
    const { logger, lines } = memoryLogger();
    const keys = await open({ file, logger, watch: false, pollMs: 3_600_000 });
    writeFileSync(file, JSON.stringify({ primary: 'after' }));
    expect(keys.refusal('after')).toBe('the API key is not valid');
    expect(await keys.reload('SIGHUP')).toBe(true);
    expect(keys.refusal('after')).toBeUndefined();
    expect(keys.refusal('before')).toBe('the API key is not valid');
    expect(lines.at(-1)!.msg).toMatch(/reloaded API keys from .*\(SIGHUP\): primary/);

    writeFileSync(file, 'nonsense');
    expect(await keys.reload('SIGHUP')).toBe(false);
    expect(keys.refusal('after')).toBeUndefined();
  });

  it('combines fixed keys with the file keys', async () => {
    const file = files.write('keys4.json', JSON.stringify({ primary: 'from-file' }));
    const keys = await open({ file, keys: ['from-flag'], watch: false });
    expect(keys.names).toEqual(['--api-key #1', 'primary']);
    expect(keys.refusal('from-flag')).toBeUndefined();
    expect(keys.refusal('from-file')).toBeUndefined();
  });
});

describe('hashed keys', () => {
  const hash = hashKey('alpha-key-1');

  it('hashKey and hashedKeyFile write sha256:<64 hex>, leaving empty slots and hashes as they are', () => {
    expect(hash).toBe('sha256:43b55e4e8bedb56b2b27b73ae0cdbc9ff724dd55b1af0bd7e67d7e5c919c3d29'); // sha256sum of the key's bytes
    expect(JSON.parse(hashedKeyFile({ primary: 'alpha-key-1', secondary: '', other: hash }))).toEqual({ primary: hash, secondary: '', other: hash });
  });

  it('a key file of hashes accepts the keys and refuses others, the hash itself included', async () => {
    const file = files.write('hashed.json', hashedKeyFile({ primary: 'alpha-key-1', secondary: 'beta-key-2' }));
    const keys = await open({ file, watch: false });
    expect(keys.names).toEqual(['primary', 'secondary']);
    expect(keys.refusal('Bearer alpha-key-1')).toBeUndefined();
    expect(keys.refusal('beta-key-2')).toBeUndefined();
    expect(keys.refusal('Bearer alpha-key-2')).toBe('the API key is not valid');
    expect(keys.refusal(`Bearer ${hash}`)).toBe('the API key is not valid');
  });

  it('mixes plain and hashed keys, upper-case hex too, in a file and on the command line', async () => {
    const file = files.write('mixed.json', JSON.stringify({ primary: hash.toUpperCase().replace('SHA256', 'sha256'), secondary: 'plain-key' }));
    const keys = await open({ file, keys: [hashKey('flag-key')], watch: false });
    expect(keys.refusal('alpha-key-1')).toBeUndefined();
    expect(keys.refusal('plain-key')).toBeUndefined();
    expect(keys.refusal('flag-key')).toBeUndefined();
    expect(keys.refusal('wrong-key')).toBe('the API key is not valid');
    await expect(ApiKeys.open({ keys: ['sha256:123'] })).rejects.toThrow('--api-key #1 starts with "sha256:" but is not "sha256:" and 64 hex digits');
  });
});
