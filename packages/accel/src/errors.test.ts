import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { renderErrorDocs } from './errors-doc';
import { AccelError, ERRORS, toAccelError } from './errors';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..', '..');

function testSources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? testSources(join(dir, e.name)) : e.name.endsWith('.test.ts') && e.name !== 'errors.test.ts' ? [readFileSync(join(dir, e.name), 'utf8')] : [],
  );
}

describe('error catalogue', () => {
  it('is documented: docs/errors.md matches the catalogue (npm run docs regenerates it)', () => {
    expect(readFileSync(join(ROOT, 'docs', 'errors.md'), 'utf8')).toBe(renderErrorDocs());
  });

  it('has a test that sees each code a request can produce', () => {
    const tests = testSources(HERE).join('\n');
    const untested = Object.keys(ERRORS).filter((code) => code !== 'ACCEL_ERR_INTERNAL' && !tests.includes(code));
    expect(untested).toEqual([]);
  });

  it('fills message templates and keeps wire statuses', () => {
    const e = new AccelError('ACCEL_ERR_VERSION_NOT_FOUND', { model: 'm', version: 3, available: '1, 2' });
    expect(e.message).toBe('Model "m" has no version 3. Versions served: 1, 2.');
    expect([e.grpcCode, e.httpStatus]).toEqual([5, 404]);
    const wrapped = toAccelError(new Error('boom'));
    expect(wrapped.code).toBe('ACCEL_ERR_INTERNAL');
    expect(wrapped.message).toBe('Internal error: boom.');
  });
});
