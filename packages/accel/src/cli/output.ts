import YAML from 'yaml';
import { AccelError, toAccelError } from '../errors';

export type OutputFormat = 'table' | 'json' | 'yaml';

export const OUTPUT_FORMATS: readonly OutputFormat[] = ['table', 'json', 'yaml'];

/** Exit codes of every command. */
export const EXIT = { OK: 0, ERROR: 1, USAGE: 2 } as const;

export function parseOutputFormat(value: string): OutputFormat {
  if (!OUTPUT_FORMATS.includes(value as OutputFormat)) {
    throw new AccelError('ACCEL_ERR_USAGE', { reason: `-o must be one of ${OUTPUT_FORMATS.join(', ')}, got "${value}"` });
  }
  return value as OutputFormat;
}

/** Prints a result: JSON/YAML as data, tables via the command's own renderer. */
export function emit(format: OutputFormat, data: unknown, table: () => string): void {
  if (format === 'json') process.stdout.write(JSON.stringify(data, null, 2) + '\n');
  else if (format === 'yaml') process.stdout.write(YAML.stringify(data));
  else process.stdout.write(table() + '\n');
}

/** Left-aligned columns with a header row. */
export function renderTable(headers: string[], rows: Array<Array<string | number>>): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n');
}

/** Prints an error the way the chosen format wants it and returns the exit code. */
export function reportError(format: OutputFormat, err: unknown): number {
  // Errors from a server (the client's PredictionError) keep their own status name.
  const remote = err instanceof Error && !(err instanceof AccelError) && 'codeName' in err ? String(err.codeName) : undefined;
  const e = toAccelError(err);
  const code = remote ?? e.code;
  const message = remote ? (err as Error).message : e.message;
  if (format === 'table') process.stderr.write(`error: ${message}\n`);
  else process.stderr.write(JSON.stringify({ error: { code, message } }) + '\n');
  return e.code === 'ACCEL_ERR_USAGE' ? EXIT.USAGE : EXIT.ERROR;
}
