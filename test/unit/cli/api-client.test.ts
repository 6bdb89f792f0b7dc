import { describe, expect, it } from 'vitest';
import { createApiClient, prepareRequest } from '#cli/api-client.ts';
import { ApiProblem, ApiUnreachable, ExitCode, UsageError } from '#cli/errors.ts';
import { ENDPOINT, fakeApi, hex, iso, problem, TOKEN } from './fake-api.ts';

const options = { endpoint: ENDPOINT, token: TOKEN };
const thrown = (fn: () => unknown): unknown => {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
};
const user = (n: number) => ({ userId: `usr_${hex(n)}`, name: `P${n}`, email: `p${n}@example.com`, role: 'deployer', createdAt: iso });

describe('prepareRequest', () => {
  it('fills path parameters under the endpoint\'s stage path and sends the bearer token', () => {
    const request = prepareRequest(options, 'PUT /groups/{id}/members/{userId}', { params: { id: `grp_${hex(1)}`, userId: `usr_${hex(2)}` } });
    expect(request).toMatchObject({
      method: 'PUT',
      url: `${ENDPOINT}/groups/grp_${hex(1)}/members/usr_${hex(2)}`,
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(request.body).toBeUndefined();
  });

  it('sends the body as parsed by the route\'s own schema (defaults applied)', () => {
    const request = prepareRequest(options, 'POST /tokens', { body: { label: ' ci ' } });
    expect(request.headers['content-type']).toBe('application/json');
    expect(JSON.parse(request.body!)).toEqual({ label: 'ci', expiresInDays: 90 });
  });

  it('adds the query, leaving out what is undefined', () => {
    const request = prepareRequest(options, 'GET /users', { query: { limit: 10, cursor: undefined } });
    expect(request.url).toBe(`${ENDPOINT}/users?limit=10`);
  });

  it('refuses bad input before sending, naming the field as the API would', () => {
    const attempt = () => prepareRequest(options, 'POST /users', { body: { name: 'G', email: 'nope', role: 'approver' } });
    expect(attempt).toThrow(UsageError);
    expect(thrown(attempt)).toMatchObject({ message: expect.stringMatching(/^email: /), field: 'email', exitCode: ExitCode.usage });
    expect(() => prepareRequest(options, 'DELETE /tokens/{id}', { params: { id: 'not-an-id' } })).toThrow(/^id: must be a tok_ id/);
  });

  it('needs a token for authenticated routes only', () => {
    expect(() => prepareRequest({ endpoint: ENDPOINT }, 'GET /me', {})).toThrow(/Not logged in/);
    const signup = prepareRequest({ endpoint: ENDPOINT }, 'POST /accounts', { body: { accountName: 'Acme', owner: { name: 'Ada', email: 'a@example.com' } } });
    expect(signup.headers.authorization).toBeUndefined();
  });
});

describe('call', () => {
  it('turns problem+json into an ApiProblem: 4xx exits 1, 5xx exits 3', async () => {
    const api = fakeApi({
      'GET /me': () => problem(401, 'The token is not valid'),
      'GET /apps': () => problem(503, 'Unavailable'),
    });
    const client = createApiClient({ ...options, fetch: api.fetch });

    const refused = await client.call('GET /me').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ApiProblem);
    expect(refused).toMatchObject({ message: 'The token is not valid', exitCode: ExitCode.refused, hint: expect.stringContaining('latchkey login') });

    const failed = await client.call('GET /apps', { query: { limit: 1 } }).catch((e: unknown) => e);
    expect(failed).toMatchObject({ exitCode: ExitCode.unavailable });
  });

  it('reads API Gateway\'s own {message} errors too', async () => {
    const api = fakeApi({ 'GET /me': () => ({ status: 500, body: { message: 'Internal Server Error' }, contentType: 'application/json' }) });
    const error = await createApiClient({ ...options, fetch: api.fetch }).call('GET /me').catch((e: unknown) => e);
    expect(error).toMatchObject({ message: 'Internal Server Error', exitCode: ExitCode.unavailable });
  });

  it('reports a network failure as unreachable (exit 3) without the token', async () => {
    const fetch = (async () => {
      throw new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) });
    }) as unknown as typeof globalThis.fetch;
    const error = (await createApiClient({ ...options, fetch }).call('GET /me').catch((e: unknown) => e)) as ApiUnreachable;
    expect(error).toBeInstanceOf(ApiUnreachable);
    expect(error.exitCode).toBe(ExitCode.unavailable);
    expect(error.message).toContain('ECONNREFUSED');
    expect(error.message).not.toContain(TOKEN);
  });
});

describe('list', () => {
  const paged = (total: number) =>
    fakeApi({
      'GET /users': ({ query }) => {
        const start = Number(query.cursor ?? 0);
        const end = Math.min(total, start + Number(query.limit));
        return { body: { items: Array.from({ length: end - start }, (_, i) => user(start + i)), ...(end < total ? { nextCursor: String(end) } : {}) } };
      },
    });

  it('follows cursors to the end, asking for full pages', async () => {
    const api = paged(230);
    const { items, more } = await createApiClient({ ...options, fetch: api.fetch }).list('GET /users');
    expect(items).toHaveLength(230);
    expect(more).toBe(false);
    expect(api.requests.map((r) => r.query)).toEqual([{ limit: '100' }, { limit: '100', cursor: '100' }, { limit: '100', cursor: '200' }]);
  });

  it('stops at the limit and says there is more', async () => {
    const api = paged(230);
    const { items, more } = await createApiClient({ ...options, fetch: api.fetch }).list('GET /users', { limit: 120 });
    expect(items.map((u) => u.userId)).toEqual(Array.from({ length: 120 }, (_, i) => `usr_${hex(i)}`));
    expect(more).toBe(true);
    expect(api.requests.map((r) => r.query.limit)).toEqual(['100', '20']);
  });

  it('stops instead of looping when a server repeats a cursor', async () => {
    const api = fakeApi({ 'GET /users': () => ({ body: { items: [user(1)], nextCursor: 'same' } }) });
    await expect(createApiClient({ ...options, fetch: api.fetch }).list('GET /users')).rejects.toThrow(/same page cursor/);
  });
});
