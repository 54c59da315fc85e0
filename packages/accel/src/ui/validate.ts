import type { z } from 'zod';
import { AccelError, toAccelError } from '../errors';

/**
 * Parses a request part (`body`, `query`, `params`) with its zod schema; a bad value becomes
 * ACCEL_ERR_BAD_REQUEST (HTTP 400) naming each offending field.
 */
export function parse<S extends z.ZodType>(schema: S, value: unknown, where: string): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const reason = result.error.issues
    .map((i) => `${where}${i.path.length ? `.${i.path.join('.')}` : ''}: ${i.message}`)
    .join('; ');
  throw new AccelError('ACCEL_ERR_BAD_REQUEST', { reason });
}

/** The body of every control-plane error answer: the catalogue code and its message. */
export function errorBody(err: unknown): { status: number; body: { error: { code: string; message: string } } } {
  const e = toAccelError(err);
  return { status: e.httpStatus, body: { error: { code: e.code, message: e.message } } };
}
