import { apiHandler } from '../http/api-route.ts';
import { openApiDocument } from './openapi-document.ts';

// Built once per cold start: the route table does not change while the function lives.
const document = openApiDocument();

export const openapi = async () => document;

export const handler = apiHandler('GET /openapi.json', openapi);
