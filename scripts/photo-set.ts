// Builds (or reuses) the calibration/evaluation photo set and prints it as JSON:
// `npx tsx scripts/photo-set.ts`. Progress goes to stderr, so stdout stays plain JSON.
import { ensurePhotoSet } from '../packages/accel/src/quantize/photo-set';

const set = await ensurePhotoSet({ log: (line) => console.error(line) });
console.log(JSON.stringify(set, null, 2));
