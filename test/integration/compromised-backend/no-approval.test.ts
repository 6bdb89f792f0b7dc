import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { deploymentsItem, grantRequest, putDeploymentsItem, sendToAgent, startWorkflow } from '../../support/backend-writes.ts';
import { waitFor } from '../../support/clients.ts';
import { journalOf, startKeyServers, startTarget, untilEnded, type Deployment } from '../../support/deploy-agents.ts';
import { push } from '../../support/deploy-release.ts';
import { cliSession } from '../cli/run-cli.ts';

describe('a deployment the backend starts without the approvals its environment requires', () => {
  it('is refused by the key server (NotEnoughApprovals): no grant, nothing installed on the target, and `latchkey status` says why', { timeout: 300_000 }, async () => {
    // Prepare: prod needs one signed approval from the approvers group (owner-signed by the CLI);
    // a secure application, two key servers, a target on prod; the owner starts a deployment,
    // which waits for approval (PendingApproval, with the owner's signed intent).
    const cli = await cliSession();
    const { accountId } = await cli.signup();
    const approverEmail = `approver-${randomUUID()}@example.com`;
    await cli.json(['users', 'add', '--name', 'Ann Approver', '--email', approverEmail, '--role', 'approver']);
    await cli.json(['groups', 'create', 'approvers']);
    await cli.json(['groups', 'add-member', 'approvers', approverEmail]);
    await cli.json(['envs', 'create', 'prod', '--approval', '--approvers', 'approvers', '--required', '1', '--signed-approvals']);
    const [k1] = await startKeyServers(cli);
    const target = await startTarget(cli, 't1', ['prod']);
    await cli.json(['apps', 'create', 'vault']);
    await cli.json(['apps', 'secure', 'vault']);
    const source = await mkdtemp(path.join(tmpdir(), 'latchkey-no-approval-src-'));
    onTestFinished(() => rm(source, { recursive: true, force: true }));
    await writeFile(path.join(source, 'secret.txt'), 'attack at dawn\n');
    await writeFile(path.join(source, 'latchkey.yml'), 'install: echo installed\n');
    const release = await push(cli, 'vault', source, '1.0.0');
    expect(release).toMatchObject({ encrypted: true, state: 'ready' });
    const pending = await cli.json<Deployment>(['deploy', 'vault', '1.0.0', 'prod']);
    expect(pending.state).toBe('PendingApproval');
    const { deploymentId } = pending;
    const sk = `DEPLOYMENT#${deploymentId}`;
    const genuine = (await deploymentsItem(accountId, sk))!;
    expect(genuine.votes).toEqual([]);

    // Act 1: the backend moves the deployment straight to InProgress (no vote), with a plan that
    // asks key server k1, and sends k1 the grant request itself (its own functions, which check
    // the evidence first, would not).
    const at = new Date().toISOString();
    await putDeploymentsItem({
      ...genuine,
      state: 'InProgress',
      updatedAt: at,
      version: (genuine.version as number) + 1,
      history: [...(genuine.history as unknown[]), { at, from: 'PendingApproval', to: 'InProgress', by: 'system' }],
      deployPlan: { action: 'grant', keyServers: [k1!.agentId], grantTimeoutSeconds: 30, ackTimeoutSeconds: 10, targetTimeoutSeconds: 120 },
    });
    await sendToAgent(accountId, k1!.agentId, await grantRequest(accountId, deploymentId, k1!.agentId, [target.agentId]));
    const kept = await waitFor(
      'the key server’s answer to be kept on the deployment',
      async () => (await deploymentsItem(accountId, sk))?.grantOutcome as { failed?: string; agentId?: string } | undefined,
      60_000,
    );

    // Act 2: the backend runs the deploy step as if no approval were required.
    await startWorkflow({ accountId, deploymentId, approvalRequired: false, approvalWindowSeconds: 3600 }, `forced-${deploymentId}`);
    const ended = await untilEnded(cli, deploymentId, 120_000);

    // Assess: k1 refused, naming the missing approval; no grant was made; the deployment failed
    // with k1's refusal, which `latchkey status` shows; the target was never asked and installed nothing.
    const refusal = (await journalOf(k1!.state)).find((entry) => entry.type === 'issue-deployment-grant');
    expect(refusal).toMatchObject({ outcome: 'failed', error: { code: 'NotEnoughApprovals' } });
    expect(refusal!.error!.message).toMatch(/prod needs 1 signed approval .*; the evidence has 0/);
    expect(kept.failed).toMatch(new RegExp(`^Key server k1 \\(${k1!.agentId}\\) refused the deployment grant: NotEnoughApprovals: `));
    expect(ended.state).toBe('Failed');
    expect(ended.outcome?.reason).toContain(`refused the deployment grant: NotEnoughApprovals: prod needs 1 signed approval`);
    const shown = await cli.run(['status', deploymentId]);
    expect(shown.stdout).toMatch(/state\s+Failed/);
    expect(shown.stdout).toContain('NotEnoughApprovals');
    expect(await stat(path.join(target.state, 'journal.jsonl')).then(async () => (await journalOf(target.state)).filter((e) => e.type === 'deploy-release'), () => [])).toEqual([]);
    await expect(stat(target.appDir(release.appId))).rejects.toThrow();
  });
});
