import { describe, expect, it } from 'vitest';
import { as } from '../support/accounts.ts';
import { approvalLinkFor, submitForm } from '../support/approval-mail.ts';
import { newAccount } from '../support/accounts.ts';
import { approvalSetup, stateOf } from '../support/deployments.ts';

type AuditEvent = { action: string; outcome: string; reason?: string; actor: { userId: string } | null };

const auditOf = async (owner: ReturnType<typeof as>) => {
  const events: AuditEvent[] = [];
  for (let cursor: string | undefined, first = true; first || cursor; first = false) {
    const page = (await owner('GET', `/audit?limit=100${cursor ? `&cursor=${cursor}` : ''}`)).body;
    events.push(...page.items);
    cursor = page.nextCursor;
  }
  return events;
};

describe('a person the owner removes can no longer approve', () => {
  it('their emailed link and their token fail, their vote on a deployment still waiting stops counting, and they cannot be made an approver again', { timeout: 60_000 }, async () => {
    // Prepare: prod needs 2 approvals; Rita approves, then the owner removes her and Alice,
    // whose approval link is in her mailbox.
    const { a, extra, group, deploy } = await approvalSetup({ requiredApprovals: 2, extraApprovers: 1 });
    const rita = extra[0]!;
    const deployment = await deploy();
    expect((await rita.call('POST', `/deployments/${deployment.deploymentId}/approve`, {})).status).toBe(200);
    const link = await approvalLinkFor(a.approver.user.email);
    for (const person of [rita.user, a.approver.user]) {
      const removed = await a.owner('PUT', `/users/${person.userId}/status`, { status: 'removed' });
      expect(removed.status, JSON.stringify(removed.body)).toBe(200);
      expect(removed.body).toMatchObject({ status: 'removed', revokedTokens: [person.firstToken.tokenId] });
    }

    // Act: Alice uses her link and her token; the owner approves.
    const byLink = await submitForm(link.url, { action: 'approve' });
    const byToken = await a.approver.call('POST', `/deployments/${deployment.deploymentId}/approve`, {});
    const byOwner = await a.owner('POST', `/deployments/${deployment.deploymentId}/approve`, {});

    // Assess: the link is dead (and says nothing more), the token too; Rita's vote no longer
    // counts, so the owner's approval is the only one counted and the deployment still waits.
    expect(byLink.status).toBe(404);
    expect(byToken.status).toBe(401);
    expect(byOwner.status, JSON.stringify(byOwner.body)).toBe(200);
    expect(byOwner.body.votes.map((v: { userId: string }) => v.userId)).toEqual([rita.user.userId, a.ownerId]);
    expect(await stateOf(a.owner, deployment.deploymentId)).toBe('PendingApproval');
    const refusal = (await auditOf(a.owner)).find((e) => e.action === 'deployments:approve' && e.actor?.userId === a.approver.user.userId && e.outcome === 'refused');
    expect(refusal?.reason).toBe('The approver was removed: their links no longer work');
    expect((await a.owner('PUT', `/groups/${group.groupId}/members/${a.approver.user.userId}`)).status).toBe(409);
    expect((await a.owner('PUT', `/users/${a.approver.user.userId}/status`, { status: 'active' })).status).toBe(409);
  });

  it('a disabled person is enabled again with a first token of their own; their old tokens stay revoked', async () => {
    const a = await newAccount();
    const made = (await a.approver.call('POST', '/tokens', { label: 'laptop' })).body;
    const disabled = await a.owner('PUT', `/users/${a.approver.user.userId}/status`, { status: 'disabled' });
    expect(disabled.body.revokedTokens.sort()).toEqual([a.approver.user.firstToken.tokenId, made.tokenId].sort());
    expect((await as(made.secret)('GET', '/me')).status).toBe(401);
    const enabled = await a.owner('PUT', `/users/${a.approver.user.userId}/status`, { status: 'active' });
    expect(enabled.body).toMatchObject({ status: 'active', firstToken: { secret: expect.stringMatching(/^lk_/) } });
    expect((await as(enabled.body.firstToken.secret)('GET', '/me')).status).toBe(200);
    expect((await a.approver.call('GET', '/me')).status).toBe(401);
    expect((await a.owner('PUT', `/users/${a.ownerId}/status`, { status: 'disabled' })).status).toBe(409);
  });
});

describe('a token never outlives the token that made it', () => {
  it('a token made from a stolen token expires no later than it, and dies with it, as does every token made from that one', async () => {
    // Prepare: a deployer's first token (a week) is stolen; the thief makes a year-long token with
    // it, and another with that one.
    const a = await newAccount();
    const stolen = (await a.deployer.call('GET', '/tokens')).body.items[0] as { tokenId: string; expiresAt: string };
    const child = await a.deployer.call('POST', '/tokens', { label: 'persistence', expiresInDays: 365 });
    const grandchild = await as(child.body.secret)('POST', '/tokens', { label: 'more persistence', expiresInDays: 365 });
    const sibling = await a.owner('POST', '/tokens', { label: 'the owner’s own' });

    // Act: the owner revokes the stolen token.
    const revoked = await a.owner('DELETE', `/tokens/${stolen.tokenId}`);

    // Assess
    expect(child.status).toBe(201);
    expect(child.body).toMatchObject({ parentTokenId: stolen.tokenId, expiresAt: stolen.expiresAt });
    expect(grandchild.body).toMatchObject({ parentTokenId: child.body.tokenId, expiresAt: stolen.expiresAt });
    expect(revoked.status).toBe(200);
    expect(revoked.body.alsoRevoked.sort()).toEqual([child.body.tokenId, grandchild.body.tokenId].sort());
    for (const secret of [child.body.secret, grandchild.body.secret]) expect((await as(secret)('GET', '/me')).status).toBe(401);
    expect((await as(sibling.body.secret)('GET', '/me')).status).toBe(200);
  });

  it('the owner revokes every token of a person at once', async () => {
    const a = await newAccount();
    const laptop = (await a.deployer.call('POST', '/tokens', { label: 'laptop' })).body;
    const ci = (await as(laptop.secret)('POST', '/tokens', { label: 'ci' })).body;
    expect((await a.deployer.call('DELETE', `/users/${a.deployer.user.userId}/tokens`)).status).toBe(403);

    const revoked = await a.owner('DELETE', `/users/${a.deployer.user.userId}/tokens`);

    expect(revoked.status).toBe(200);
    expect(revoked.body.revoked.sort()).toEqual([a.deployer.user.firstToken.tokenId, laptop.tokenId, ci.tokenId].sort());
    for (const secret of [a.deployer.token, laptop.secret, ci.secret]) expect((await as(secret)('GET', '/me')).status).toBe(401);
    expect((await a.approver.call('GET', '/me')).status).toBe(200);
  });
});
