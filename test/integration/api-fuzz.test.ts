import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { newAccount } from '../support/accounts.ts';
import { localClients } from '../support/clients.ts';

const { dynamo, env } = localClients();

type Operation = { method: string; path: string; params: string[] };

/** Every item of both tables except audit events (refusals are audited by design). */
const snapshot = async () => {
  const items: string[] = [];
  for (const table of [env.DIRECTORY_TABLE!, env.DEPLOYMENTS_TABLE!]) {
    let start: Record<string, unknown> | undefined;
    do {
      const page = await dynamo.send(new ScanCommand({ TableName: table, ...(start ? { ExclusiveStartKey: start } : {}) }));
      for (const item of page.Items ?? []) if (!String(item.pk).startsWith('AUDIT#')) items.push(JSON.stringify(item));
      start = page.LastEvaluatedKey;
    } while (start);
  }
  return items.sort();
};

const segment = fc.oneof(
  fc.constantFrom('acc_', 'usr_0', `grp_${'0'.repeat(32)}`, `env_${'f'.repeat(32)}`, '..', '%2F', '%00', "'", '{id}', 'ünïcödé'),
  fc.string({ minLength: 1, maxLength: 40 }).map(encodeURIComponent),
  fc.stringMatching(/^[0-9a-f]{32}$/).chain((hex) => fc.constantFrom(`tok_${hex}`, `app_${hex}`, `usr_${hex}`, `grp_${hex}`, `env_${hex}`)),
);

const body = fc.oneof(
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 200 }),
  fc.constantFrom('', '{', '[]', 'null', '{"name":"x"}', '{"label":"x","expiresInDays":0}', '{"secure":true}', '{"role":"keyserver","environments":["x"]}', '{"name":"a","email":"b"}'),
  fc.dictionary(fc.constantFrom('name', 'email', 'role', 'label', 'secure', 'approval', 'variables', 'environments', '__proto__', 'constructor'), fc.jsonValue()).map((v) => JSON.stringify(v)),
);

const query = fc.oneof(
  fc.constant(''),
  fc.constantFrom('?limit=0', '?limit=-1', '?limit=1e9', '?limit=abc', '?cursor=%%%', '?cursor=eyJwayI6MX0', '?limit=1&limit=2', '?x=1'),
  fc.string({ maxLength: 30 }).map((s) => `?${encodeURIComponent(s)}=${encodeURIComponent(s)}`),
);

describe('API fuzz: random malformed requests to every route of the OpenAPI document', () => {
  let operations: Operation[];
  let ownerToken: string;

  beforeAll(async () => {
    const account = await newAccount();
    ownerToken = account.ownerToken;
    const document = (await (await fetch(`${inject('endpoints').api}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    operations = Object.entries(document.paths as Record<string, Record<string, unknown>>).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => ({ method: method.toUpperCase(), path, params: [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!) })),
    );
    expect(operations.length).toBeGreaterThan(20);
  });

  it('never answers 5xx, and a rejected request writes nothing', async () => {
    const statuses = new Map<number, number>();
    // Mostly the owner's valid token and JSON, so most requests get past the door and reach
    // validation and the use cases; the rest probe the door itself.
    const authorization = fc.oneof(
      { arbitrary: fc.constant<string | undefined>('OWNER'), weight: 7 },
      { arbitrary: fc.constantFrom<string | undefined>(undefined, 'Bearer lk_x', 'Bearer', 'Basic Zm9vOmJhcg==', `Bearer ${'a'.repeat(5000)}`), weight: 3 },
    );
    const contentType = fc.oneof(
      { arbitrary: fc.constant<string | undefined>('application/json'), weight: 7 },
      { arbitrary: fc.constantFrom<string | undefined>(undefined, 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'application/octet-stream'), weight: 3 },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.nat(),
        fc.array(segment, { minLength: 2, maxLength: 2 }),
        query,
        body,
        authorization,
        contentType,
        async (pick, segments, queryString, payload, auth, type) => {
          const operation = operations[pick % operations.length]!;
          const path = operation.params.reduce((p, name, i) => p.replace(`{${name}}`, segments[i]!), operation.path);
          const headers: Record<string, string> = {};
          if (auth) headers.authorization = auth === 'OWNER' ? `Bearer ${ownerToken}` : auth;
          if (type) headers['content-type'] = type;
          const before = await snapshot();
          const response = await fetch(`${inject('endpoints').api}${path}${queryString}`, {
            method: operation.method,
            headers,
            ...(operation.method === 'GET' ? {} : { body: payload }),
          });
          const text = await response.text();
          statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
          expect(response.status, `${operation.method} ${path}${queryString} -> ${text}`).toBeLessThan(500);
          if (response.status >= 400) {
            // The approval page answers people, in HTML; everything else answers programs.
            expect(response.headers.get('content-type')).toMatch(/^\/approvals\/[^/]/.test(new URL(response.url).pathname) ? /text\/html/ : /json/);
            expect(await snapshot(), `${operation.method} ${path} wrote despite ${response.status}`).toEqual(before);
          }
        },
      ),
      { numRuns: 300 },
    );
    // The run is only worth something if most requests reached the handlers' validation.
    const unauthenticated = statuses.get(401) ?? 0;
    expect(unauthenticated).toBeLessThan(150);
    expect(statuses.get(400) ?? 0).toBeGreaterThan(30);
  });
});
