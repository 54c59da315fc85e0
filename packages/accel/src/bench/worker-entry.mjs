// Worker threads do not inherit the main thread's module hooks: register tsx here, then load the
// TypeScript worker. tsx is resolved from this file, whatever the working directory.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
