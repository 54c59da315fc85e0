import type { z } from 'zod';
import { AccelError } from './errors';

/**
 * Parses a request part (`body`, `query`, `params`) or a job's inputs with its zod schema; a bad
 * value becomes ACCEL_ERR_BAD_REQUEST (HTTP 400) naming each offending field.
 */
export function parse<S extends z.ZodType>(schema: S, value: unknown, where: string): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const reason = result.error.issues
    .map((i) => `${where}${i.path.length ? `.${i.path.join('.')}` : ''}: ${i.message}`)
    .join('; ');
  throw new AccelError('ACCEL_ERR_BAD_REQUEST', { reason });
}
