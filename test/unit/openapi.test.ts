import { Validator } from '@seriousme/openapi-schema-validator';
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { openApiDocument } from '#functions/api/openapi-document.ts';
import { openApiFile, openApiJson } from '#functions/api/openapi-generate.ts';
import { handler, openapi } from '#functions/api/openapi.ts';
import { routes } from '#functions/api/routes.ts';

describe('GET /openapi.json', () => {
  const document = openApiDocument();

  it('is a valid OpenAPI 3.1 document', async () => {
    const result = await new Validator().validate(structuredClone(document) as never);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(document.openapi).toBe('3.1.0');
  });

  it('covers every route of the route table, with its schemas and security', () => {
    for (const route of routes) {
      const operation = (document.paths[route.path] as Record<string, any>)?.[route.method.toLowerCase()];
      expect(operation, `${route.method} ${route.path}`).toBeDefined();
      expect(operation.security).toEqual(route.auth === 'token' ? [{ bearer: [] }] : []);
      expect(Boolean(operation.requestBody)).toBe('body' in route);
      expect(operation.responses[route.response.status]).toBeDefined();
    }
    const operations = Object.values(document.paths).flatMap((methods) => Object.keys(methods));
    expect(operations).toHaveLength(routes.length);
  });

  it('describes request bodies from the same zod schemas the handlers validate with', () => {
    const createEnvironment = (document.paths['/environments'] as any).post.requestBody.content['application/json'].schema;
    expect(createEnvironment.required).toEqual(['name']);
    expect(createEnvironment.additionalProperties).toBe(false);
    expect(createEnvironment.properties.name.pattern).toBe('^[a-z0-9][a-z0-9-]*$');
  });

  it('is served as generated from the current route table (run npx tsx functions/api/openapi-generate.ts after changing a route or schema)', async () => {
    expect(readFileSync(openApiFile, 'utf8')).toBe(openApiJson());
    expect(await openapi()).toEqual(JSON.parse(openApiJson()));
  });

  it('is what the function answers GET /openapi.json with', async () => {
    const response = (await handler({ rawPath: '/openapi.json', headers: {}, requestContext: { http: { method: 'GET' } } } as never, {} as never)) as { statusCode: number; body: string };
    expect(response.statusCode).toBe(200);
    expect(JSON.parse(response.body)).toEqual(document);
  });
});
