import { z } from 'zod';
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

/**
 * A string checked by one of the workspace's own checks (names, tag pairs, model refs), so the
 * API accepts exactly what the CLI accepts; the check's message becomes the zod issue.
 */
export function checked<T>(check: (value: string) => T) {
  return z.string().transform((value, ctx) => {
    try {
      return check(value);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
  });
}
