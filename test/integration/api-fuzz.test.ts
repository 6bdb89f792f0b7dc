import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { routeKey, routes, type HttpMethod } from '../../functions/api/routes.ts';
import { enrolAgent, signedEnrolment } from '../support/agents.ts';
import { localClients } from '../support/clients.ts';
import { approvalSetup, executionEnded } from '../support/deployments.ts';
import { useOwnStack } from '../support/own-stack.ts';

// Every rejected request is checked against a snapshot of whole tables: on a stack of this file's
// own they hold only this file's data, so the check stays complete and its cost does not grow
// with every file that ran before.
useOwnStack();

type Operation = { method: HttpMethod; path: string; params: string[] };

/** Requests per route: every route gets its share, whatever order the document lists them in. */
const RUNS_PER_ROUTE = 7;

/** Every item of both tables except audit events (refusals are audited by design). */
let clients: ReturnType<typeof localClients> | undefined;
const snapshot = async () => {
  // Made on first use: the own stack's endpoints are known only once beforeAll has run.
  const { dynamo, env } = (clients ??= localClients());
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
  fc.stringMatching(/^[0-9a-f]{32}$/).chain((hex) => fc.constantFrom(...['tok', 'app', 'usr', 'grp', 'env', 'rel', 'dep', 'enr', 'agt', 'req'].map((prefix) => `${prefix}_${hex}`))),
);

const body = fc.oneof(
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 200 }),
  fc.constantFrom('', '{', '[]', 'null', '{"name":"x"}', '{"label":"x","expiresInDays":0}', '{"secure":true}', '{"role":"keyserver","environments":["x"]}', '{"name":"a","email":"b"}', '{}', '{"deploy":true}', '{"message":"no"}', `{"digest":"${'0'.repeat(64)}"}`, '{"version":"9.9.9","size":1}'),
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
  /** Ids that exist in the fuzzed account, so requests also reach the handlers past "not found". */
  let realIds: Record<string, string>;

  beforeAll(async () => {
    const { a, group, environment, app, release, deploy, ownerKey } = await approvalSetup({ target: false });
    ownerToken = a.ownerToken;
    // A deployment that has ended: its actions reach their state checks, and no workflow of it
    // writes in the background while the fuzz compares tables.
    const deployment = await deploy();
    expect((await a.owner('POST', `/deployments/${deployment.deploymentId}/cancel`)).status).toBe(200);
    await executionEnded(deployment.deploymentId);
    const spareToken = await a.owner('POST', '/tokens', { label: 'spare' });
    expect(spareToken.status, JSON.stringify(spareToken.body)).toBe(201);
    const enrolment = await signedEnrolment(a.owner, ownerKey, 'target', [environment.environmentId]);
    const agent = await enrolAgent(a.owner, ownerKey, 'target', [environment.environmentId]);
    // A passkey registration link that is open, so its routes reach their use cases too.
    const passkeyLink = await a.owner('POST', `/users/${a.approver.user.userId}/passkey-links`);
    expect(passkeyLink.status, JSON.stringify(passkeyLink.body)).toBe(201);
    realIds = {
      tokens: spareToken.body.tokenId,
      groups: group.groupId,
      environments: environment.environmentId,
      apps: app.appId,
      deployments: deployment.deploymentId,
      enrolments: enrolment.enrolmentId,
      agents: agent.agentId,
      userId: a.approver.user.userId,
      releaseId: release.releaseId,
      token: (passkeyLink.body.url as string).split('/').at(-1)!,
    };
    const document = (await (await fetch(`${inject('endpoints').api}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    operations = Object.entries(document.paths as Record<string, Record<string, unknown>>).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => ({ method: method.toUpperCase() as HttpMethod, path, params: [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!) })),
    );
  });

  it('the document the fuzz reads lists every route of the route table, and nothing else', () => {
    expect(operations.map(routeKey).sort()).toEqual(routes.map(routeKey).sort());
  });

  it('never answers 5xx, and a rejected request writes nothing', async () => {
    const statuses = new Map<number, number>();
    const fuzzed = new Set<string>();
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
    // A path parameter is the id of something that exists (the `id` of /apps/{id} an app, and
    // so on) or a random segment.
    const parameter = (operation: Operation, name: string) => {
      const real = realIds[name === 'id' ? operation.path.split('/')[1]! : name];
      return real ? fc.oneof(fc.constant(real), segment) : segment;
    };
    for (const operation of operations) {
      await fc.assert(
        fc.asyncProperty(
          fc.tuple(...operation.params.map((name) => parameter(operation, name))),
          query,
          body,
          authorization,
          contentType,
          async (segments, queryString, payload, auth, type) => {
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
            fuzzed.add(routeKey(operation));
            expect(response.status, `${operation.method} ${path}${queryString} -> ${text}`).toBeLessThan(500);
            if (response.status >= 400) {
              // The approval and passkey pages answer people, in HTML; everything else (their JSON
              // routes beside them too) answers programs.
              const pathname = new URL(response.url).pathname;
              const page = /^\/approvals\/[^/]+$/.test(pathname) || (operation.method === 'GET' && /^\/passkeys\/[^/]+$/.test(pathname));
              expect(response.headers.get('content-type')).toMatch(page ? /text\/html/ : /json/);
              expect(await snapshot(), `${operation.method} ${path} wrote despite ${response.status}`).toEqual(before);
            }
          },
        ),
        { numRuns: RUNS_PER_ROUTE },
      );
    }
    // Every route of the route table was fuzzed, not only the ones a random pick happened to hit.
    expect([...fuzzed].sort()).toEqual(routes.map(routeKey).sort());
    // The run is only worth something if most requests reached the handlers' validation.
    const total = [...statuses.values()].reduce((sum, n) => sum + n, 0);
    expect(statuses.get(401) ?? 0).toBeLessThan(total / 2);
    expect(statuses.get(400) ?? 0).toBeGreaterThan(total / 10);
  });
});
