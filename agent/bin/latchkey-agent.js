#!/usr/bin/env node
// Plain JS on purpose: Node cannot run the TypeScript sources by itself, so this entry registers
// tsx's ESM loader first. The tsconfig is named by path because tsx would otherwise look for one
// in the caller's working directory, and `latchkey-agent` is run from anywhere.
import { fileURLToPath, URL } from 'node:url';
import { register } from 'tsx/esm/api';

register({ tsconfig: fileURLToPath(new URL('../../tsconfig.json', import.meta.url)) });
await import('../main.ts');
