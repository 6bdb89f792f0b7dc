/**
 * Regenerates vectors.json. Run only for a deliberate format change (and bump the version byte
 * of the format that changed): `npx tsx test/vectors/generate.ts`.
 */
import { writeFileSync } from 'node:fs';
import { computeVectors } from './compute.ts';

writeFileSync(new URL('./vectors.json', import.meta.url), JSON.stringify(await computeVectors(), null, 2) + '\n');
console.log('wrote test/vectors/vectors.json');
