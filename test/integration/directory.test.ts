import { randomUUID } from 'node:crypto';
import { PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateRawKeyPair } from '#shared/crypto/index.ts';
import { toB64 } from '#shared/protocol/trust.ts';
import { as, newAccount } from '../support/accounts.ts';
import { localClients } from '../support/clients.ts';

const { dynamo, env } = localClients();
type Account = Awaited<ReturnType<typeof newAccount>>;

describe('directory routes, as the owner', () => {
  let a: Account;
  beforeAll(async () => {
    a = await newAccount();
  });

  it('GET /me says who the token belongs to', async () => {
    const me = await a.owner('GET', '/me');
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ accountId: a.accountId, user: { userId: a.ownerId, role: 'owner' } });
  });

  it('users: add, list with paging, email unique', async () => {
    const added = await a.owner('POST', '/users', { name: 'Pat', email: `Pat-${randomUUID()}@Example.com`, role: 'approver' });
    expect(added.status).toBe(201);
    expect(added.body.email).toBe(added.body.email.toLowerCase());
    expect(added.body.firstToken.secret).toMatch(/^lk_/);
    const again = await a.owner('POST', '/users', { name: 'Pat 2', email: added.body.email, role: 'deployer' });
    expect(again.status).toBe(409);

    const first = await a.owner('GET', '/users?limit=2');
    expect(first.status).toBe(200);
    expect(first.body.items).toHaveLength(2);
    expect(first.body.nextCursor).toEqual(expect.any(String));
    const rest = await a.owner('GET', `/users?limit=2&cursor=${first.body.nextCursor}`);
    const ids = [...first.body.items, ...rest.body.items].map((u: { userId: string }) => u.userId);
    expect(new Set(ids).size).toBe(4); // owner, deployer, approver, Pat
    expect(ids).toContain(added.body.userId);
  });

  it('paging refuses a forged or foreign cursor with 400', async () => {
    const b = await newAccount();
    const foreign = (await b.owner('GET', '/users?limit=1')).body.nextCursor;
    for (const cursor of [foreign, 'bm90LWpzb24', Buffer.from('{"pk":"x","sk":"y"}').toString('base64url')]) {
      const response = await a.owner('GET', `/users?cursor=${cursor}`);
      expect(response.status).toBe(400);
      expect(response.body.field).toBe('cursor');
    }
  });

  it('tokens: create (secret once), list, use, revoke, then refused', async () => {
    const created = await a.owner('POST', '/tokens', { label: 'laptop', expiresInDays: 30 });
    expect(created.status).toBe(201);
    const { tokenId, secret } = created.body;
    expect((await as(secret)('GET', '/me')).status).toBe(200);
    const listed = await a.owner('GET', '/tokens?limit=100');
    expect(listed.body.items.map((t: { tokenId: string }) => t.tokenId)).toContain(tokenId);
    expect(JSON.stringify(listed.body)).not.toContain(secret);

    const revoked = await a.owner('DELETE', `/tokens/${tokenId}`);
    expect(revoked.status).toBe(200);
    expect(revoked.body.revokedAt).toEqual(expect.any(String));
    expect((await as(secret)('GET', '/me')).status).toBe(401);
    expect((await a.owner('DELETE', `/tokens/${tokenId}`)).status).toBe(200); // idempotent
  });

  it('an expired token is refused like a missing one', async () => {
    const created = (await a.owner('POST', '/tokens', { label: 'short', expiresInDays: 1 })).body;
    const hash = (await dynamo.send(new QueryCommand({
      TableName: env.DIRECTORY_TABLE!, IndexName: 'gsi1', KeyConditionExpression: 'gsi1pk = :p AND gsi1sk = :s',
      ExpressionAttributeValues: { ':p': `ACCOUNT#${a.accountId}`, ':s': `TOKEN#${created.tokenId}` },
    }))).Items![0]!.pk;
    await dynamo.send(new UpdateCommand({ TableName: env.DIRECTORY_TABLE!, Key: { pk: hash, sk: 'TOKEN' }, UpdateExpression: 'SET expiresAt = :past', ExpressionAttributeValues: { ':past': '2020-01-01T00:00:00.000Z' } }));
    const response = await as(created.secret)('GET', '/me');
    expect(response.status).toBe(401);
    expect(response.body.title).toMatch(/valid API token/);
  });

  it('groups: create, unique names, add and remove members', async () => {
    const name = `approvers-${randomUUID().slice(0, 8)}`;
    const group = await a.owner('POST', '/groups', { name });
    expect(group.status).toBe(201);
    expect((await a.owner('POST', '/groups', { name })).status).toBe(409);
    const { groupId } = group.body;
    const added = await a.owner('PUT', `/groups/${groupId}/members/${a.approver.user.userId}`);
    expect(added.body.members).toEqual([a.approver.user.userId]);
    expect((await a.owner('PUT', `/groups/${groupId}/members/${a.approver.user.userId}`)).body.members).toHaveLength(1);
    const removed = await a.owner('DELETE', `/groups/${groupId}/members/${a.approver.user.userId}`);
    expect(removed.body.members).toEqual([]);
    expect((await a.owner('PUT', `/groups/${groupId}/members/usr_${'0'.repeat(32)}`)).status).toBe(404);
    expect((await a.owner('GET', '/groups')).body.items.map((g: { name: string }) => g.name)).toContain(name);
  });

  it('environments: defaults, policy with groups, variables, update with version check', async () => {
    const group = (await a.owner('POST', '/groups', { name: `prod-approvers-${randomUUID().slice(0, 8)}` })).body;
    const name = `prod-${randomUUID().slice(0, 8)}`;
    const created = await a.owner('POST', '/environments', {
      name,
      approval: { enabled: true, approverGroups: [group.groupId], requiredApprovals: 2 },
      variables: { SECRET_FILE: 'secret.cred.prod', DESTINATION_FILE: '/etc/app/secret' },
    });
    expect(created.status).toBe(201);
    // Signed approvals unless the owner opts out (issue #20).
    expect(created.body.approval).toEqual({ enabled: true, approverGroups: [group.groupId], requiredApprovals: 2, preventSelfApproval: true, windowHours: 72, signed: true });
    const id = created.body.environmentId;

    const updated = await a.owner('PATCH', `/environments/${id}`, { approval: { windowHours: 4 }, variables: { SECRET_FILE: 'x' } });
    expect(updated.status).toBe(200);
    expect(updated.body.approval).toMatchObject({ windowHours: 4, requiredApprovals: 2, signed: true });
    expect(updated.body.variables).toEqual({ SECRET_FILE: 'x' });

    expect((await a.owner('POST', '/environments', { name })).status).toBe(409);
    const optedOut = await a.owner('POST', '/environments', { name: `dev-${randomUUID().slice(0, 8)}`, approval: { signed: false } });
    expect(optedOut.status).toBe(201);
    expect(optedOut.body.approval).toMatchObject({ enabled: false, signed: false });
    expect((await a.owner('GET', '/environments')).body.items.find((e: { environmentId: string }) => e.environmentId === optedOut.body.environmentId).approval.signed).toBe(false);
    expect((await a.owner('PATCH', `/environments/${id}`, { approval: { approverGroups: [`grp_${'0'.repeat(32)}`] } })).body.field).toBe('approval.approverGroups');
    expect((await a.owner('PATCH', `/environments/${id}`, { variables: { 'bad name': 'x' } })).status).toBe(400);
    expect((await a.owner('PATCH', `/environments/${id}`, {})).status).toBe(400);
  });

  it('apps: create, and secure refused with 409 and the count while fewer than two key servers are online', async () => {
    const app = await a.owner('POST', '/apps', { name: `web-${randomUUID().slice(0, 8)}` });
    expect(app.status).toBe(201);
    expect(app.body.secure).toBe(false);
    const refused = await a.owner('PATCH', `/apps/${app.body.appId}`, { secure: true });
    expect(refused.status).toBe(409);
    expect(refused.body.title).toMatch(/at least 2 key servers.*0 are online/);

    // Two key servers seen just now, as the agents' heartbeats record them (the agent issue
    // writes these; their layout is the directory adapter's): they count once the owner confirmed
    // them (an active agent statement on the agent).
    const keyServers = async (confirmed: boolean) => {
      for (const n of [1, 2]) {
        await dynamo.send(new PutCommand({
          TableName: env.DIRECTORY_TABLE!,
          Item: {
            pk: `ACCOUNT#${a.accountId}`,
            sk: `AGENT#agt_${String(n).repeat(32)}`,
            role: 'keyserver',
            lastSeenAt: new Date().toISOString(),
            ...(confirmed ? { statement: { statement: { status: 'active' } } } : {}),
          },
        }));
      }
    };
    await keyServers(false);
    expect((await a.owner('PATCH', `/apps/${app.body.appId}`, { secure: true })).body.title).toMatch(/0 are online/);
    await keyServers(true);
    const secured = await a.owner('PATCH', `/apps/${app.body.appId}`, { secure: true });
    expect(secured.status).toBe(200);
    expect(secured.body.secure).toBe(true);
    expect((await a.owner('PATCH', `/apps/${app.body.appId}`, { secure: false })).status).toBe(400);
  });

  it('enrolments: environments checked; a key server may serve some; a target at least one', async () => {
    const envId = (await a.owner('POST', '/environments', { name: `stage-${randomUUID().slice(0, 8)}` })).body.environmentId;
    const tokenPublicKey = toB64(generateRawKeyPair('ed25519').publicKey);
    const target = await a.owner('POST', '/enrolments', { role: 'target', environments: [envId], expiresInHours: 2, tokenPublicKey });
    expect(target.status).toBe(201);
    expect(target.body).toMatchObject({ role: 'target', environments: [envId], signed: false, statement: { accountId: a.accountId, role: 'target', environments: [envId], tokenPublicKey } });
    expect((await a.owner('POST', '/enrolments', { role: 'target', tokenPublicKey })).body.field).toBe('environments');
    const both = await a.owner('POST', '/enrolments', { role: 'keyserver', environments: [envId], tokenPublicKey });
    expect(both.status).toBe(201);
    expect(both.body).toMatchObject({ role: 'keyserver', environments: [envId], statement: { role: 'keyserver', environments: [envId] } });
    expect((await a.owner('POST', '/enrolments', { role: 'keyserver', environments: [`env_${'0'.repeat(32)}`], tokenPublicKey })).body.field).toBe('environments');
    expect((await a.owner('POST', '/enrolments', { role: 'target', environments: [`env_${'0'.repeat(32)}`], tokenPublicKey })).status).toBe(400);
    expect((await a.owner('POST', '/enrolments', { role: 'keyserver' })).body.field).toBe('tokenPublicKey');
    expect((await a.owner('POST', '/enrolments', { role: 'keyserver', tokenPublicKey })).status).toBe(201);
  });
});

describe('cross-account isolation', () => {
  it('every id of another account is a 404, never a hint', async () => {
    const [a, b] = await Promise.all([newAccount(), newAccount()]);
    const group = (await a.owner('POST', '/groups', { name: 'g' })).body;
    const environment = (await a.owner('POST', '/environments', { name: 'e' })).body;
    const app = (await a.owner('POST', '/apps', { name: 'x' })).body;
    const token = (await a.owner('POST', '/tokens', { label: 't' })).body;

    const attempts: [string, string, unknown?][] = [
      ['PUT', `/groups/${group.groupId}/members/${b.approver.user.userId}`],
      ['PUT', `/groups/${(await b.owner('POST', '/groups', { name: 'g' })).body.groupId}/members/${a.approver.user.userId}`],
      ['DELETE', `/groups/${group.groupId}/members/${a.approver.user.userId}`],
      ['PATCH', `/environments/${environment.environmentId}`, { variables: {} }],
      ['PATCH', `/apps/${app.appId}`, { secure: true }],
      ['DELETE', `/tokens/${token.tokenId}`],
    ];
    for (const [method, path, body] of attempts) {
      const response = await b.owner(method, path, body);
      expect(response.status, `${method} ${path}`).toBe(404);
    }
    expect((await b.owner('POST', '/environments', { name: 'x', approval: { approverGroups: [group.groupId] } })).status).toBe(400);
    // Lists show only the caller's own.
    expect((await b.owner('GET', '/apps')).body.items).toHaveLength(0);
    expect((await as(token.secret)('GET', '/me')).status).toBe(200); // untouched
  });
});
