import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { routes } from '#functions/api/routes.ts';
import { generateRawKeyPair } from '#shared/crypto/index.ts';
import { signingKeyStatementOf } from '#shared/protocol/signing-keys.ts';
import { toB64 } from '#shared/protocol/trust.ts';
import { as, type Caller } from '../support/accounts.ts';
import { approvalSetup } from '../support/deployments.ts';

type Role = 'owner' | 'deployer' | 'approver';
type Fixture = Awaited<ReturnType<typeof setUp>>;

const setUp = async () => {
  // The account's deployer and approver are both in the environment's approver group.
  const { a, environment, app: readyApp, release: readyRelease } = await approvalSetup({ extraApprovers: 0 });
  // A group of its own for the membership routes, so they do not change who may approve.
  const group = (await a.owner('POST', '/groups', { name: 'others' })).body;
  const app = (await a.owner('POST', '/apps', { name: 'web' })).body;
  // The deployer's own push: the owner and its pusher may complete, renew and seal it.
  const release = (await a.deployer.call('POST', `/apps/${app.appId}/releases`, { version: '0.1.0', size: 10 })).body;
  /** A fresh deployment by the deployer, waiting for approval (or approved by the owner). */
  const pending = async (approved = false) => {
    const created = (await a.deployer.call('POST', '/deployments', { appId: readyApp.appId, releaseId: readyRelease.releaseId, environmentId: environment.environmentId })).body;
    if (approved) await a.owner('POST', `/deployments/${created.deploymentId}/approve`, {});
    return created.deploymentId as string;
  };
  const enrolment = async () =>
    (await a.owner('POST', '/enrolments', { role: 'keyserver', tokenPublicKey: toB64(generateRawKeyPair('ed25519').publicKey) })).body.enrolmentId as string;
  const deployRequest = { appId: readyApp.appId, releaseId: readyRelease.releaseId, environmentId: environment.environmentId };
  const person = async () => (await a.owner('POST', '/users', { name: 'Someone', email: `${randomUUID()}@example.com`, role: 'approver' })).body as { userId: string };
  return { a, group, environment, app, release, pending, deployRequest, enrolment, person };
};

/**
 * The expected answer of every token route for every role, written out by hand as the
 * oracle for the policy module. `request` builds a valid request; allowed means neither 401
 * nor 403 (a 409 for state is still "allowed").
 */
const matrix: Record<string, { allowed: Role[]; request: (f: Fixture, role: Role, call: Caller) => Promise<{ status: number }> }> = {
  'GET /me': { allowed: ['owner', 'deployer', 'approver'], request: (_f, _r, call) => call('GET', '/me') },
  'POST /users': { allowed: ['owner'], request: (_f, _r, call) => call('POST', '/users', { name: 'New', email: `${randomUUID()}@example.com`, role: 'approver' }) },
  'GET /users': { allowed: ['owner', 'deployer', 'approver'], request: (_f, _r, call) => call('GET', '/users') },
  'POST /tokens': { allowed: ['owner', 'deployer', 'approver'], request: (_f, _r, call) => call('POST', '/tokens', { label: 'cli' }) },
  'GET /tokens': { allowed: ['owner', 'deployer', 'approver'], request: (_f, _r, call) => call('GET', '/tokens') },
  'DELETE /tokens/{id}': {
    // Everyone may revoke their own token; revoking another person's is tested below.
    allowed: ['owner', 'deployer', 'approver'],
    request: async (_f, _r, call) => call('DELETE', `/tokens/${(await call('POST', '/tokens', { label: 'doomed' })).body.tokenId}`),
  },
  'POST /groups': { allowed: ['owner'], request: (_f, _r, call) => call('POST', '/groups', { name: `g-${randomUUID().slice(0, 8)}` }) },
  'GET /groups': { allowed: ['owner', 'deployer', 'approver'], request: (_f, _r, call) => call('GET', '/groups') },
  'PUT /groups/{id}/members/{userId}': { allowed: ['owner'], request: (f, _r, call) => call('PUT', `/groups/${f.group.groupId}/members/${f.a.approver.user.userId}`) },
  'DELETE /groups/{id}/members/{userId}': { allowed: ['owner'], request: (f, _r, call) => call('DELETE', `/groups/${f.group.groupId}/members/${f.a.approver.user.userId}`) },
  'POST /environments': { allowed: ['owner'], request: (_f, _r, call) => call('POST', '/environments', { name: `e-${randomUUID().slice(0, 8)}` }) },
  'GET /environments': { allowed: ['owner', 'deployer', 'approver'], request: (_f, _r, call) => call('GET', '/environments') },
  'PATCH /environments/{id}': { allowed: ['owner'], request: (f, _r, call) => call('PATCH', `/environments/${f.environment.environmentId}`, { variables: { A: '1' } }) },
  'POST /apps': { allowed: ['owner'], request: (_f, _r, call) => call('POST', '/apps', { name: `a-${randomUUID().slice(0, 8)}` }) },
  'GET /apps': { allowed: ['owner', 'deployer', 'approver'], request: (_f, _r, call) => call('GET', '/apps') },
  'PATCH /apps/{id}': { allowed: ['owner'], request: (f, _r, call) => call('PATCH', `/apps/${f.app.appId}`, { secure: true }) },
  'POST /apps/{id}/releases': { allowed: ['owner', 'deployer'], request: (f, role, call) => call('POST', `/apps/${f.app.appId}/releases`, { version: `1.0.0-${role}`, size: 10 }) },
  'POST /apps/{id}/releases/{releaseId}/complete': {
    // Allowed means it gets past the policy: that manifest does not verify, a 400.
    allowed: ['owner', 'deployer'],
    request: async (f, _r, call) => call('POST', `/apps/${f.app.appId}/releases/${f.release.releaseId}/complete`, { manifest: 'AAAA' }),
  },
  'POST /apps/{id}/releases/{releaseId}/upload': {
    allowed: ['owner', 'deployer'],
    request: (f, _r, call) => call('POST', `/apps/${f.app.appId}/releases/${f.release.releaseId}/upload`, {}),
  },
  'GET /apps/{id}/releases': { allowed: ['owner', 'deployer', 'approver'], request: (f, _r, call) => call('GET', `/apps/${f.app.appId}/releases`) },
  'POST /deployments': { allowed: ['owner', 'deployer'], request: (f, _r, call) => call('POST', '/deployments', f.deployRequest) },
  'GET /deployments': { allowed: ['owner', 'deployer', 'approver'], request: (_f, _r, call) => call('GET', '/deployments') },
  'GET /deployments/{id}': { allowed: ['owner', 'deployer', 'approver'], request: async (f, _r, call) => call('GET', `/deployments/${await f.pending()}`) },
  // The deployer started these deployments: preventSelfApproval refuses their vote.
  'POST /deployments/{id}/approve': { allowed: ['owner', 'approver'], request: async (f, _r, call) => call('POST', `/deployments/${await f.pending()}/approve`, {}) },
  'POST /deployments/{id}/decline': { allowed: ['owner', 'approver'], request: async (f, _r, call) => call('POST', `/deployments/${await f.pending()}/decline`, { message: 'no' }) },
  'POST /deployments/{id}/deploy': { allowed: ['owner', 'deployer', 'approver'], request: async (f, _r, call) => call('POST', `/deployments/${await f.pending(true)}/deploy`) },
  // Waiting for approval, only the deployer who started it or the owner may cancel.
  'POST /deployments/{id}/cancel': { allowed: ['owner', 'deployer'], request: async (f, _r, call) => call('POST', `/deployments/${await f.pending()}/cancel`) },
  'POST /enrolments': { allowed: ['owner'], request: (_f, _r, call) => call('POST', '/enrolments', { role: 'keyserver', tokenPublicKey: toB64(generateRawKeyPair('ed25519').publicKey) }) },
  'PUT /enrolments/{id}/signature': {
    // Allowed means past the policy: the signature does not verify (no owner key yet), a 400/409.
    allowed: ['owner'],
    request: async (f, _r, call) => call('PUT', `/enrolments/${await f.enrolment()}/signature`, { signature: 'A'.repeat(86) }),
  },
  'PUT /account/owner-key': { allowed: ['owner'], request: (_f, _r, call) => call('PUT', '/account/owner-key', { publicKey: toB64(generateRawKeyPair('ed25519').publicKey) }) },
  'PUT /me/signing-key': { allowed: ['owner', 'deployer', 'approver'], request: (_f, _r, call) => call('PUT', '/me/signing-key', { publicKey: toB64(generateRawKeyPair('ed25519').publicKey) }) },
  'PUT /users/{id}/signing-key/vouch': {
    // A well-formed statement the owner key did not sign: past the policy, the owner gets a 4xx for it.
    allowed: ['owner'],
    request: (f, _r, call) =>
      call('PUT', `/users/${f.a.approver.user.userId}/signing-key/vouch`, {
        statement: signingKeyStatementOf({ accountId: f.a.accountId, userId: f.a.approver.user.userId }, toB64(generateRawKeyPair('ed25519').publicKey), new Date().toISOString()),
        ownerSignature: 'A'.repeat(86),
      }),
  },
  'GET /agents': { allowed: ['owner', 'deployer', 'approver'], request: (_f, _r, call) => call('GET', '/agents') },
  'GET /master-key': { allowed: ['owner', 'deployer', 'approver'], request: (_f, _r, call) => call('GET', '/master-key') },
  'PUT /statements': {
    // A well-formed statement not signed by the owner key: past the policy, the owner gets a 4xx for it.
    allowed: ['owner'],
    request: (f, _r, call) =>
      call('PUT', '/statements', { statement: { v: 1, kind: 'application', accountId: f.a.accountId, appId: f.app.appId, name: 'web', secure: false, version: 1, issuedAt: new Date().toISOString() }, signature: 'A'.repeat(86) }),
  },
  'GET /statements': { allowed: ['owner', 'deployer', 'approver'], request: (_f, _r, call) => call('GET', '/statements') },
  'DELETE /agents/{id}': { allowed: ['owner'], request: (_f, _r, call) => call('DELETE', `/agents/agt_${'0'.repeat(32)}`) },
  'POST /apps/{id}/releases/{releaseId}/seal': {
    allowed: ['owner', 'deployer'],
    request: (f, _r, call) => call('POST', `/apps/${f.app.appId}/releases/${f.release.releaseId}/seal`, { agentId: `agt_${'0'.repeat(32)}`, wrappedReleaseKey: 'A'.repeat(40) }),
  },
  'GET /apps/{id}/releases/{releaseId}': { allowed: ['owner', 'deployer', 'approver'], request: (f, _r, call) => call('GET', `/apps/${f.app.appId}/releases/${f.release.releaseId}`) },
  // A person of their own for each call: disabling changes what the fixture's people may do.
  'PUT /users/{id}/status': { allowed: ['owner'], request: async (f, _r, call) => call('PUT', `/users/${(await f.person()).userId}/status`, { status: 'disabled' }) },
  'DELETE /users/{id}/tokens': { allowed: ['owner'], request: async (f, _r, call) => call('DELETE', `/users/${(await f.person()).userId}/tokens`) },
  // Only the owner sends a person a passkey registration link, and reads what they registered.
  'POST /users/{id}/passkey-links': { allowed: ['owner'], request: async (f, _r, call) => call('POST', `/users/${(await f.person()).userId}/passkey-links`) },
  'GET /users/{id}/passkeys': { allowed: ['owner'], request: (f, _r, call) => call('GET', `/users/${f.a.approver.user.userId}/passkeys`) },
  'GET /audit': { allowed: ['owner'], request: (_f, _r, call) => call('GET', '/audit') },
  'GET /audit/verify': { allowed: ['owner'], request: (_f, _r, call) => call('GET', '/audit/verify') },
};

const tokenRoutes = routes.filter((r) => r.auth === 'token').map((r) => `${r.method} ${r.path}`);

describe('authorization matrix: every token route × every role', () => {
  let f: Fixture;
  beforeAll(async () => {
    f = await setUp();
  });

  it('covers every token route of the route table', () => {
    expect(Object.keys(matrix).sort()).toEqual([...tokenRoutes].sort());
  });

  const callerOf = (role: Role): Caller => (role === 'owner' ? f.a.owner : f.a[role].call);

  for (const key of tokenRoutes) {
    for (const role of ['owner', 'deployer', 'approver'] as const) {
      const allowed = matrix[key]!.allowed.includes(role);
      it(`${key} as ${role}: ${allowed ? 'allowed' : 'denied'}`, async () => {
        const response = await matrix[key]!.request(f, role, callerOf(role));
        if (allowed) {
          // Some allowed requests end in a 4xx about state or input, past the policy (the owner
          // registered a signing key in the fixture, so another is a 409).
          const stateful = ['PATCH /apps/{id}', 'PUT /account/owner-key', 'PUT /enrolments/{id}/signature', 'DELETE /agents/{id}', 'PUT /users/{id}/signing-key/vouch', 'PUT /me/signing-key', 'PUT /statements'].includes(key) || key.endsWith('/complete') || key.endsWith('/seal');
          expect(response.status, JSON.stringify(response)).toBeLessThan(stateful ? 410 : 400);
          expect([401, 403]).not.toContain(response.status);
        } else {
          expect(response.status).toBe(403);
        }
      });
    }
    it(`${key} without a token: 401`, async () => {
      const response = await matrix[key]!.request(f, 'owner', as(undefined));
      expect(response.status).toBe(401);
    });
  }

  it('only the owner revokes another person’s token', async () => {
    const deployerToken = (await f.a.deployer.call('POST', '/tokens', { label: 'mine' })).body.tokenId;
    expect((await f.a.approver.call('DELETE', `/tokens/${deployerToken}`)).status).toBe(403);
    expect((await f.a.owner('DELETE', `/tokens/${deployerToken}`)).status).toBe(200);
  });

  it('a non-owner lists only their own tokens', async () => {
    const listed = (await f.a.deployer.call('GET', '/tokens?limit=100')).body.items as { userId: string }[];
    expect(listed.length).toBeGreaterThan(0);
    expect(new Set(listed.map((t) => t.userId))).toEqual(new Set([f.a.deployer.user.userId]));
  });

  it('every refusal is in the audit trail with who, what and why', async () => {
    await f.a.deployer.call('POST', '/apps', { name: 'sneaky' });
    const events = (await f.a.owner('GET', '/audit?limit=100')).body;
    let all = events.items;
    let cursor = events.nextCursor;
    while (cursor) {
      const next = (await f.a.owner('GET', `/audit?limit=100&cursor=${cursor}`)).body;
      all = [...all, ...next.items];
      cursor = next.nextCursor;
    }
    expect(all).toContainEqual(
      expect.objectContaining({
        action: 'apps:create',
        outcome: 'refused',
        actor: { userId: f.a.deployer.user.userId, tokenId: expect.stringMatching(/^tok_/) },
        reason: expect.stringMatching(/deployer may not/),
      }),
    );
  });
});
