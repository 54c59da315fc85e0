import { toAccelError } from '../errors';

/** The body of every control-plane error answer: the catalogue code and its message. */
export function errorBody(err: unknown): { status: number; body: { error: { code: string; message: string } } } {
  const e = toAccelError(err);
  return { status: e.httpStatus, body: { error: { code: e.code, message: e.message } } };
}
