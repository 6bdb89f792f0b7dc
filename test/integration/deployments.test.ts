import { describe, expect, it } from 'vitest';
import { waitFor } from '../support/clients.ts';
import type { Caller } from '../support/accounts.ts';
import { approvalSetup, executionEnded, waitForState } from '../support/deployments.ts';

/** The system's audit event for a deployment (finish, expire): written by the workflow task right after its transition. */
const systemEvent = (owner: Caller, deploymentId: string, action: string) =>
  waitFor(`the ${action} of ${deploymentId} in the audit trail`, async () => {
    const events = (await owner('GET', '/audit?limit=100')).body.items as { action: string; actor: unknown; target?: { id: string }; outcome: string; reason?: string }[];
    const mine = events.filter((e) => e.target?.id === deploymentId && e.action === action);
    return mine.length ? mine : undefined;
  });

/** DESIGN §4, transition by transition, through the HTTP API, the workflow and DynamoDB. */
describe('deployment approval, transition by transition', () => {
  it('without approvals: starts InProgress and the deploy step takes it to Succeeded', async () => {
    const s = await approvalSetup({ enabled: false });
    const created = await s.deploy();
    expect(created.state).toBe('InProgress');
    await waitForState(s.a.owner, created.deploymentId, 'Succeeded');
    expect((await executionEnded(created.deploymentId)).status).toBe('SUCCEEDED');
  });

  it('PendingApproval --Approve--> PendingApproval until the count, then Approved; --Deploy--> InProgress --> Succeeded', async () => {
    const s = await approvalSetup({ requiredApprovals: 2 });
    const created = await s.deploy();
    expect(created.state).toBe('PendingApproval');

    const first = await s.a.approver.call('POST', `/deployments/${created.deploymentId}/approve`, { comment: 'looks good' });
    expect(first.status).toBe(200);
    expect(first.body.state).toBe('PendingApproval');
    expect(first.body.votes).toHaveLength(1);
    const twice = await s.a.approver.call('POST', `/deployments/${created.deploymentId}/approve`, {});
    expect(twice.status).toBe(409);

    const second = await s.extra[0]!.call('POST', `/deployments/${created.deploymentId}/approve`, {});
    expect(second.body.state).toBe('Approved');

    const deployed = await s.a.approver.call('POST', `/deployments/${created.deploymentId}/deploy`);
    expect(deployed.status).toBe(200);
    expect(deployed.body.state).toBe('InProgress');
    const done = await waitForState(s.a.owner, created.deploymentId, 'Succeeded');
    expect(done.history.map((t: { to: string }) => t.to)).toEqual(['PendingApproval', 'Approved', 'InProgress', 'Succeeded']);
  });

  it('PendingApproval --Approve and Deploy--> InProgress once the count is reached', async () => {
    const s = await approvalSetup({ requiredApprovals: 1 });
    const created = await s.deploy();
    const approved = await s.a.approver.call('POST', `/deployments/${created.deploymentId}/approve`, { deploy: true });
    expect(approved.body.state).toBe('InProgress');
    await waitForState(s.a.owner, created.deploymentId, 'Succeeded');
  });

  it('PendingApproval --Decline (message required)--> Declined, and the message is shown to everyone', async () => {
    const s = await approvalSetup();
    const created = await s.deploy();
    expect((await s.a.approver.call('POST', `/deployments/${created.deploymentId}/decline`, { message: '' })).status).toBe(400);
    const declined = await s.a.approver.call('POST', `/deployments/${created.deploymentId}/decline`, { message: 'Freeze until Monday' });
    expect(declined.body.state).toBe('Declined');
    const seen = (await s.a.deployer.call('GET', `/deployments/${created.deploymentId}`)).body;
    expect(seen.declined).toMatchObject({ userId: s.a.approver.user.userId, message: 'Freeze until Monday' });
    expect((await executionEnded(created.deploymentId)).status).toBe('SUCCEEDED');
    expect((await s.a.approver.call('POST', `/deployments/${created.deploymentId}/approve`, {})).status).toBe(409);
  });

  it('PendingApproval --Cancel by the deployer--> Canceled; an approver may not cancel it', async () => {
    const s = await approvalSetup();
    const created = await s.deploy();
    expect((await s.a.approver.call('POST', `/deployments/${created.deploymentId}/cancel`)).status).toBe(403);
    const canceled = await s.a.deployer.call('POST', `/deployments/${created.deploymentId}/cancel`);
    expect(canceled.body.state).toBe('Canceled');
    expect((await executionEnded(created.deploymentId)).status).toBe('SUCCEEDED');
  });

  it('Approved --Cancel by an approver--> Canceled', async () => {
    const s = await approvalSetup();
    const created = await s.deploy();
    await s.a.approver.call('POST', `/deployments/${created.deploymentId}/approve`, {});
    await waitForState(s.a.owner, created.deploymentId, 'Approved');
    const canceled = await s.extra[0]!.call('POST', `/deployments/${created.deploymentId}/cancel`);
    expect(canceled.body.state).toBe('Canceled');
    expect((await executionEnded(created.deploymentId)).status).toBe('SUCCEEDED');
  });

  it('PendingApproval --window passes--> Expired, and acting after it is refused', async () => {
    const s = await approvalSetup({ windowHours: 1 / 3600 });
    const created = await s.deploy();
    // Expiry is checked on read, so the API says Expired at once; the workflow then writes it.
    await waitForState(s.a.owner, created.deploymentId, 'Expired');
    const written = await waitFor('the workflow to write Expired', async () => {
      const current = (await s.a.owner('GET', `/deployments/${created.deploymentId}`)).body;
      return current.history.at(-1).to === 'Expired' ? current : undefined;
    });
    expect(written.history.at(-1)).toMatchObject({ from: 'PendingApproval', to: 'Expired', by: 'system' });
    expect((await s.a.approver.call('POST', `/deployments/${created.deploymentId}/approve`, {})).status).toBe(409);
    expect((await executionEnded(created.deploymentId)).status).toBe('SUCCEEDED');
    // The system's transition is audited, once, with the system as its actor.
    expect(await systemEvent(s.a.owner, created.deploymentId, 'deployments:expire')).toEqual([
      expect.objectContaining({ actor: null, outcome: 'succeeded', reason: `Expired while PendingApproval: its window ended at ${written.expiresAt}` }),
    ]);
  });

  it('Approved --window passes--> Expired', async () => {
    const s = await approvalSetup({ windowHours: 2 / 3600 });
    const created = await s.deploy();
    expect((await s.a.approver.call('POST', `/deployments/${created.deploymentId}/approve`, {})).body.state).toBe('Approved');
    await waitForState(s.a.owner, created.deploymentId, 'Expired');
  });

  it('InProgress --deploy step fails--> Failed, with the reason (here: no target is enrolled for the environment)', async () => {
    const s = await approvalSetup({ enabled: false, target: false });
    const created = await s.deploy();
    const failed = await waitForState(s.a.owner, created.deploymentId, 'Failed');
    expect(failed.outcome.reason).toBe(
      `Environment ${s.environment.name} has no enrolled target: nothing to deploy to (enrol one with \`latchkey enrolments create --role target --env ${s.environment.name}\`)`,
    );
    expect((await executionEnded(created.deploymentId)).status).toBe('SUCCEEDED');
    expect(await systemEvent(s.a.owner, created.deploymentId, 'deployments:finish')).toEqual([expect.objectContaining({ actor: null, reason: `Failed: ${failed.outcome.reason}` })]);
  });

  it('InProgress --every target reported--> Succeeded, and the target got exactly one request', async () => {
    const s = await approvalSetup({ enabled: false });
    const created = await s.deploy();
    const done = await waitForState(s.a.owner, created.deploymentId, 'Succeeded');
    expect(done.outcome.reason).toBe('Installed on 1 target');
    expect(s.target!.answered).toEqual([created.deploymentId]);
    expect(await systemEvent(s.a.owner, created.deploymentId, 'deployments:finish')).toEqual([expect.objectContaining({ actor: null, outcome: 'succeeded', reason: 'Succeeded: Installed on 1 target' })]);
  });

  it('preventSelfApproval: the deployer cannot approve their own deployment, even in the group', async () => {
    const s = await approvalSetup();
    const created = await s.deploy();
    const self = await s.a.deployer.call('POST', `/deployments/${created.deploymentId}/approve`, {});
    expect(self.status).toBe(403);
    expect(self.body.title).toMatch(/someone else/);
  });

  it('the owner can always approve; an approver outside the groups cannot; decisions and refusals are audited', async () => {
    const s = await approvalSetup();
    const created = await s.deploy();
    const outsider = await s.a.owner('POST', '/users', { name: 'Outsider', email: `out-${created.deploymentId}@example.com`, role: 'approver' });
    const { as } = await import('../support/accounts.ts');
    expect((await as(outsider.body.firstToken.secret)('POST', `/deployments/${created.deploymentId}/approve`, {})).status).toBe(403);
    expect((await s.a.owner('POST', `/deployments/${created.deploymentId}/approve`, {})).body.state).toBe('Approved');
    const audit = (await s.a.owner('GET', '/audit?limit=100')).body.items as { action: string; outcome: string; target?: { id: string } }[];
    const mine = audit.filter((e) => e.target?.id === created.deploymentId).map((e) => `${e.action}:${e.outcome}`);
    expect(mine).toEqual(['deployments:create:succeeded', 'deployments:approve:refused', 'deployments:approve:succeeded']);
  });

  it('eligibility is decided at each decision: an approver removed from the group can no longer approve and their vote stops counting; one added since can approve', async () => {
    // Prepare: two approvals required; the approver votes, then leaves the group; a newcomer joins it.
    const s = await approvalSetup({ requiredApprovals: 2 });
    const { deploymentId } = await s.deploy();
    expect((await s.a.approver.call('POST', `/deployments/${deploymentId}/approve`, {})).body.state).toBe('PendingApproval');
    expect((await s.a.owner('DELETE', `/groups/${s.group.groupId}/members/${s.a.approver.user.userId}`)).status).toBeLessThan(300);
    const newcomer = (await s.a.owner('POST', '/users', { name: 'Newcomer', email: `new-${deploymentId}@example.com`, role: 'approver' })).body;
    expect((await s.a.owner('PUT', `/groups/${s.group.groupId}/members/${newcomer.userId}`)).status).toBeLessThan(300);
    const { as } = await import('../support/accounts.ts');

    // Act and assess: the one who left cannot decide any more; the newcomer's vote counts, the old one does not.
    expect((await s.a.approver.call('POST', `/deployments/${deploymentId}/decline`, { message: 'no' })).status).toBe(403);
    expect((await as(newcomer.firstToken.secret)('POST', `/deployments/${deploymentId}/approve`, {})).body.state).toBe('PendingApproval');
    expect((await s.extra[0]!.call('POST', `/deployments/${deploymentId}/approve`, {})).body.state).toBe('Approved');
  });

  it('a deployer cannot deploy a release that is not complete, nor another account’s', async () => {
    const s = await approvalSetup();
    const pending = (await s.a.owner('POST', `/apps/${s.app.appId}/releases`, { version: '2', size: 5 })).body;
    const refused = await s.a.deployer.call('POST', '/deployments', { appId: s.app.appId, releaseId: pending.releaseId, environmentId: s.environment.environmentId });
    expect(refused.status).toBe(409);
    const other = await approvalSetup();
    const foreign = await other.a.owner('POST', '/deployments', { appId: s.app.appId, releaseId: s.release.releaseId, environmentId: other.environment.environmentId });
    expect(foreign.status).toBe(404);
    expect((await s.a.approver.call('POST', '/deployments', { appId: s.app.appId, releaseId: s.release.releaseId, environmentId: s.environment.environmentId })).status).toBe(403);
  });
});
