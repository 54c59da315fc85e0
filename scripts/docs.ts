// Regenerates docs derived from code: `npm run docs`.
import { writeFileSync } from 'node:fs';
import { renderErrorDocs } from '../packages/accel/src/errors-doc';

writeFileSync(new URL('../docs/errors.md', import.meta.url), renderErrorDocs());
console.log('wrote docs/errors.md');
