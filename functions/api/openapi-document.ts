import { z } from 'zod';
import { routes, type Route } from './routes.ts';

type JsonSchema = Record<string, unknown> & { properties?: Record<string, unknown>; required?: string[] };

const schemaOf = (schema: z.ZodType, io: 'input' | 'output'): JsonSchema => {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonSchema;
  return rest;
};

const parametersOf = (schema: z.ZodType | undefined, location: 'path' | 'query') => {
  if (!schema) return [];
  const json = schemaOf(schema, 'input');
  return Object.entries(json.properties ?? {}).map(([name, property]) => ({
    name,
    in: location,
    required: location === 'path' || (json.required ?? []).includes(name),
    schema: property,
  }));
};

const problem = {
  type: 'object',
  required: ['type', 'title', 'status'],
  properties: {
    type: { type: 'string', format: 'uri' },
    title: { type: 'string' },
    status: { type: 'integer' },
    field: { type: 'string', description: 'The request field at fault, when one is' },
  },
};

const problemResponse = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
});

const operationOf = (route: Route) => {
  const secured = route.auth === 'token';
  return {
    operationId: route.function,
    summary: route.summary,
    ...(secured ? { security: [{ bearer: [] }] } : { security: [] }),
    parameters: [...parametersOf(route.params, 'path'), ...parametersOf(route.query, 'query')],
    ...(route.body
      ? { requestBody: { required: true, content: { 'application/json': { schema: schemaOf(route.body, 'input') } } } }
      : {}),
    responses: {
      [route.response.status]: {
        description: 'Success',
        content: { [route.response.contentType ?? 'application/json']: { schema: route.response.schema ? schemaOf(route.response.schema, 'output') : {} } },
      },
      ...(route.body || route.params || route.query ? { 400: problemResponse('The request is malformed or invalid') } : {}),
      ...(secured
        ? {
            401: problemResponse('No valid API token'),
            403: problemResponse('The token’s role may not do this'),
            404: problemResponse('No such resource in this account'),
          }
        : {}),
      ...(route.body ? { 409: problemResponse('Conflicts with the current state'), 413: problemResponse('Body too large'), 415: problemResponse('Body is not JSON') } : {}),
    },
  };
};

/** OpenAPI 3.1, generated from the route table and the zod schemas the handlers validate with. */
export const openApiDocument = () => {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes as readonly Route[]) {
    (paths[route.path] ??= {})[route.method.toLowerCase()] = operationOf(route);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Latchkey API',
      version: '1',
      description: 'Secure deployments: approvals by the right people, releases encrypted until they reach the target server.',
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'A personal API token, lk_…' } },
      schemas: { Problem: problem },
    },
  };
};
