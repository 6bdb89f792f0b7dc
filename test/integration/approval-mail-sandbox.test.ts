import { describe, expect, it } from 'vitest';
import { waitFor } from '../support/clients.ts';
import { approvalSetup, waitForState } from '../support/deployments.ts';
import { useOwnStack } from '../support/own-stack.ts';

/**
 * Issue 18, breakage 2: a new AWS account's SES is in the sandbox, so approval mail to anyone
 * but a verified identity is refused (MessageRejected). The local stack emulates the sandbox
 * (LATCHKEY_LOCAL_SES_SANDBOX): only the sender's domain is verified, the approvers are not.
 */
describe('approval mail refused by the SES sandbox', () => {
  useOwnStack({ LATCHKEY_LOCAL_SES_SANDBOX: 'true' });

  it('does not strand the deployment: the failure is on the deployment and in the audit, and approvers act through the API', async () => {
    // Prepare
    const s = await approvalSetup();

    // Act: start it; the notify step tries to mail every approver.
    const created = await s.deploy();
    const noticed = await waitFor('the approval mail outcome on the deployment', async () => {
      const seen = (await s.a.owner('GET', `/deployments/${created.deploymentId}`)).body;
      return seen.approvalMail ? seen : undefined;
    });

    // Assess: nobody was mailed, each failure says why, and the deployment still waits.
    expect(noticed.state).toBe('PendingApproval');
    expect(noticed.approvalMail.sent).toBe(0);
    expect(noticed.approvalMail.failed.length).toBeGreaterThanOrEqual(2);
    for (const failure of noticed.approvalMail.failed) expect(failure.reason).toMatch(/^MessageRejected: Email address is not verified/);
    const audit = (await s.a.owner('GET', '/audit?limit=100')).body.items as { action: string; outcome: string; reason?: string; target?: { id: string } }[];
    const mailEvents = audit.filter((e) => e.action === 'deployments:notify' && e.target?.id === created.deploymentId);
    expect(mailEvents).toHaveLength(noticed.approvalMail.failed.length);
    expect(mailEvents[0]).toMatchObject({ outcome: 'refused', reason: expect.stringMatching(/could not be sent \(MessageRejected: .+\); they can approve with the CLI$/) });

    // …and an approver who never got the mail approves through the API; it deploys.
    const approved = await s.a.approver.call('POST', `/deployments/${created.deploymentId}/approve`, { deploy: true });
    expect(approved.status).toBe(200);
    await waitForState(s.a.owner, created.deploymentId, 'Succeeded', 30_000);
  }, 60_000);
});
