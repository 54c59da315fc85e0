import { ERRORS, grpcStatusName } from './errors';

/** docs/errors.md, derived from the catalogue (a test keeps the committed file in step). */
export function renderErrorDocs(): string {
  const rows = Object.entries(ERRORS).map(
    ([code, e]) => `| \`${code}\` | ${grpcStatusName(e.grpc)} | ${e.http} | ${e.message.replace(/\|/g, '\\|')} |`,
  );
  return [
    '# Error catalogue',
    '',
    'Every error Accel reports has one of these codes. gRPC answers carry the code in the `accel-error-code` trailer;',
    'REST answers carry it as `code` beside `error` in the JSON body; the CLI prints it with `-o json`.',
    'Generated from `packages/accel/src/errors.ts` by `npm run docs`; do not edit by hand.',
    '',
    '| code | gRPC status | HTTP status | message |',
    '|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}
