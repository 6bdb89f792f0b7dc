/**
 * Writes functions/api/openapi.json, the document GET /openapi.json serves, from the route
 * table: `npx tsx functions/api/openapi-generate.ts`. Generated before bundling rather than when
 * the function starts, because building it means building every route's zod schemas and
 * converting them, which made the openapi function's cold start the slowest of the API's.
 * test/unit/openapi.test.ts fails while the committed file differs from the route table.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openApiDocument } from './openapi-document.ts';

export const openApiFile = new URL('./openapi.json', import.meta.url);

export const openApiJson = (): string => `${JSON.stringify(openApiDocument(), null, 2)}\n`;

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) writeFileSync(openApiFile, openApiJson());
