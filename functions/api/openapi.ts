import { apiHandler } from '../http/api-route.ts';
// Generated from the route table before bundling (openapi-generate.ts), so no cold start pays
// for converting every route's schemas; test/unit/openapi.test.ts keeps it current.
import document from './openapi.json' with { type: 'json' };

export const openapi = async () => document;

export const handler = apiHandler('GET /openapi.json', openapi);
