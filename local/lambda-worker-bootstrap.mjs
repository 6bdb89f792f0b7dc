// The entry of a function instance's worker thread (local/lambda-runtime.ts): loader hooks that
// a process registers with `--import` do not reach a worker's own entry on Node 20, so the
// worker registers tsx itself before loading the TypeScript worker.
import { register } from 'tsx/esm/api';

register();
await import('./lambda-worker.ts');
