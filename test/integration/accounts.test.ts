import { GetCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { localClients } from '../support/clients.ts';
import { api } from '../support/http.ts';

const { dynamo, env } = localClients();
const directory = env.DIRECTORY_TABLE!;
const validBody = { accountName: 'Acme', owner: { name: 'Ada Lovelace', email: 'Ada@Example.com' } };

// Test-only full read: the request path never scans.
const countItems = async () => (await dynamo.send(new ScanCommand({ TableName: directory, Select: 'COUNT' }))).Count ?? 0;

describe('GET /health', () => {
  it('answers ok', async () => {
    const response = await api('GET', '/health');
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ status: 'ok' });
  });
});

describe('POST /accounts', () => {
  it('creates the account and owner and returns the owner token once, storing only its hash', async () => {
    // Prepare / Act
    const response = await api('POST', '/accounts', { json: validBody });

    // Assess
    expect(response.status).toBe(201);
    const { accountId, ownerId, token } = response.body;
    expect(accountId).toMatch(/^acc_[0-9a-f]{32}$/);
    expect(token.secret).toMatch(/^lk_[A-Za-z0-9_-]{43}$/);
    const hash = createHash('sha256').update(token.secret).digest('hex');
    const { Item: stored } = await dynamo.send(new GetCommand({ TableName: directory, Key: { pk: `TOKEN#${hash}`, sk: 'TOKEN' } }));
    expect(stored).toMatchObject({ accountId, userId: ownerId, tokenId: token.id, secretHash: hash });
    expect(JSON.stringify(stored)).not.toContain(token.secret);
    const { Item: owner } = await dynamo.send(new GetCommand({ TableName: directory, Key: { pk: `ACCOUNT#${accountId}`, sk: `USER#${ownerId}` } }));
    expect(owner).toMatchObject({ role: 'owner', email: 'ada@example.com', name: 'Ada Lovelace' });
  });

  const malformed: [string, Parameters<typeof api>[2], number, string?][] = [
    ['not JSON', { body: '{"accountName":', headers: { 'content-type': 'application/json' } }, 400],
    ['no body', { headers: { 'content-type': 'application/json' } }, 400],
    ['not a JSON content type', { body: JSON.stringify(validBody), headers: { 'content-type': 'text/plain' } }, 415],
    ['a JSON array', { json: [validBody] }, 400],
    ['a wrong type', { json: { ...validBody, accountName: 42 } }, 400, 'accountName'],
    ['a missing field', { json: { accountName: 'Acme' } }, 400, 'owner'],
    ['a bad email', { json: { ...validBody, owner: { name: 'Ada', email: 'not-an-email' } } }, 400, 'owner.email'],
    ['an unknown field', { json: { ...validBody, admin: true } }, 400],
    ['an empty name', { json: { ...validBody, accountName: '   ' } }, 400, 'accountName'],
    ['control characters', { json: { ...validBody, accountName: 'Ac\u0000me' } }, 400, 'accountName'],
    ['a 1 MB body', { json: { ...validBody, accountName: 'x'.repeat(1024 * 1024) } }, 413],
  ];

  it.each(malformed)('refuses %s with a problem and writes nothing', async (_name, init, status, field) => {
    const before = await countItems();
    const response = await api('POST', '/accounts', init);
    expect(response.status).toBe(status);
    expect(response.contentType).toBe('application/problem+json');
    expect(response.body).toMatchObject({ status, type: expect.stringMatching(/^https:\/\/latchkey\.dev\/problems\//), title: expect.any(String) });
    if (field) expect(response.body.field).toBe(field);
    expect(await countItems()).toBe(before);
  });

  it('answers an unknown route or method with 404 problem+json', async () => {
    for (const [method, path] of [['GET', '/nope'], ['DELETE', '/accounts']] as const) {
      const response = await api(method, path);
      expect(response.status).toBe(404);
      expect(response.contentType).toBe('application/problem+json');
    }
  });
});
