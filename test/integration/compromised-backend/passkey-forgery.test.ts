import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { newRequestId } from '../../support/agents.ts';
import { deployReleaseRequest, grantRequest, sendToAgent, statementOf, type DeployReleaseRequest, type GrantRequest } from '../../support/backend-writes.ts';
import { waitFor } from '../../support/clients.ts';
import { journalOf, startKeyServers, startTarget, type Deployment } from '../../support/deploy-agents.ts';
import { push } from '../../support/deploy-release.ts';
import { sourceDir } from '../../support/fault-stack.ts';
import { ownerOf, vouchPasskeys } from '../../support/passkeys.ts';
import { softAuthenticator } from '../../support/soft-authenticator.ts';
import { intentHash, passkeyChallenge, type ApprovalStatement, type PasskeyApproval } from '#shared/protocol/deployment-evidence.ts';
import { webOriginOf } from '#shared/protocol/passkeys.ts';
import { cliSession } from '../cli/run-cli.ts';

describe('a compromised backend forges approvals made with a passkey', () => {
  it('an assertion by an unvouched credential, for another deployment, from another origin, without user verification, replayed from another deployment, or with a lower counter: the key server and the target each refuse it, naming why, and audit it', { timeout: 600_000 }, async () => {
    // Prepare: prod needs one signed approval; the approver's passkey is vouched for by the owner.
    // A secure application (for the key server's grant) and a plain one (for the target's install),
    // each with a deployment waiting for approval; key servers and a target on prod.
    const cli = await cliSession();
    const { accountId } = await cli.signup();
    const approverEmail = `approver-${randomUUID()}@example.com`;
    await cli.json(['users', 'add', '--name', 'Ann Approver', '--email', approverEmail, '--role', 'approver']);
    const approver = (await cli.json<{ userId: string; email: string }[]>(['users', 'list'])).find((u) => u.email === approverEmail)!;
    await cli.json(['groups', 'create', 'approvers']);
    await cli.json(['groups', 'add-member', 'approvers', approverEmail]);
    await cli.json(['envs', 'create', 'prod', '--approval', '--approvers', 'approvers', '--required', '1', '--signed-approvals']);
    const [k1] = await startKeyServers(cli);
    const target = await startTarget(cli, 't1', ['prod']);
    await cli.json(['apps', 'create', 'vault']);
    await cli.json(['apps', 'secure', 'vault']);
    await cli.json(['apps', 'create', 'site']);
    const files = { 'index.html': '<h1>site</h1>\n', 'latchkey.yml': 'install: echo installed\n' };
    await push(cli, 'vault', await sourceDir(files), '1.0.0');
    await push(cli, 'site', await sourceDir(files), '1.0.0');
    const web = webOriginOf(cli.endpoint);
    const passkey = softAuthenticator(-7);
    const credential = passkey.credential(web);
    await vouchPasskeys(await ownerOf(cli, accountId), approver.userId, [credential]);
    const pending = async (app: string) => {
      const d = await cli.json<Deployment>(['deploy', app, '1.0.0', 'prod']);
      expect(d.state).toBe('PendingApproval');
      return d.deploymentId;
    };
    const [secureA, secureB, plainA, plainB] = [await pending('vault'), await pending('vault'), await pending('site'), await pending('site')];
    const grants = { [secureA]: await grantRequest(accountId, secureA, k1!.agentId, [target.agentId]), [secureB]: await grantRequest(accountId, secureB, k1!.agentId, [target.agentId]) };
    const installs = { [plainA]: await deployReleaseRequest(accountId, plainA, target.agentId), [plainB]: await deployReleaseRequest(accountId, plainB, target.agentId) };

    /** The approval statement of a decision on `deploymentId`, as the approval page would ask the passkey to sign it. */
    const statementFor = (request: GrantRequest | DeployReleaseRequest, decision: ApprovalStatement['decision'] = 'approve-and-deploy'): ApprovalStatement => ({
      v: 1,
      accountId,
      deploymentId: request.deploymentId,
      intentHash: intentHash(request.evidence.intent.intent),
      decision,
      approverId: approver.userId,
      at: new Date().toISOString(),
    });
    const signed = (approval: ApprovalStatement, options: Partial<Parameters<typeof passkey.assert>[0]> = {}, by = passkey): PasskeyApproval => ({
      approval,
      assertion: by.assert({ challenge: passkeyChallenge(approval), ...web, ...options }),
    });

    // The approver's statement naming the passkey, as the evidence of a deployment they voted on carries it.
    const approverStatement = (await statementOf(accountId, 'person', approver.userId))!;
    expect(approverStatement.statement.passkeys).toHaveLength(1);

    /** Sends the request with these passkey approvals (a fresh request id) and waits for the agent's journal to answer it. */
    const answerTo = async (agent: { agentId: string; state: string }, request: GrantRequest | DeployReleaseRequest, passkeyApprovals: PasskeyApproval[]) => {
      const sent = { ...request, requestId: newRequestId(), evidence: { ...request.evidence, people: [...request.evidence.people, approverStatement], approvals: [], passkeyApprovals } };
      await sendToAgent(accountId, agent.agentId, sent);
      return waitFor(`${agent.agentId} to answer ${sent.requestId}`, async () => (await journalOf(agent.state)).find((e) => e.requestId === sent.requestId), 120_000);
    };
    const atBoth = [[k1!, grants[secureA]!], [target, installs[plainA]!]] as const;
    /** Each forgery at the key server and at the target (sent at once: each agent answers them one by one). */
    const refusedByBoth = async (forgeries: [string, (request: GrantRequest | DeployReleaseRequest) => PasskeyApproval, RegExp][]) => {
      const answers = await Promise.all(forgeries.flatMap(([name, make, why]) => atBoth.map(async ([agent, request]) => ({ name, why, agent, answer: await answerTo(agent, request, [make(request)]) }))));
      for (const { name, why, agent, answer } of answers) {
        expect(answer, `${name} at ${agent.agentId}`).toMatchObject({ outcome: 'failed', error: { code: 'NotEnoughApprovals' } });
        expect(answer.error!.message, `${name} at ${agent.agentId}`).toMatch(why);
      }
    };

    // Act and assess: each forgery, at the key server and at the target.
    await refusedByBoth([
      ['an unvouched credential', (r) => signed(statementFor(r), {}, softAuthenticator(-7)), /passkey .* is not one the owner vouched for/],
      ['for another deployment', (r) => signed({ ...statementFor(r), deploymentId: r === grants[secureA] ? secureB : plainB }), /another deployment or intent/],
      ['from another origin', (r) => signed(statementFor(r), { origin: 'https://latchkey-approvals.example.net' }), /origin/],
      ['without user verification', (r) => signed(statementFor(r), { userVerified: false }), /User verification required/],
      ['replayed from another deployment', (r) => ({ approval: statementFor(r), assertion: signed(statementFor(r === grants[secureA] ? grants[secureB]! : installs[plainB]!)).assertion }), /challenge/],
    ]);

    // A genuine approval with counter 5 counts (the key server grants, the target installs)…
    const genuine = await Promise.all(([[k1!, grants[secureB]!], [target, installs[plainB]!]] as const).map(([agent, request]) => answerTo(agent, request, [signed(statementFor(request), { counter: 5 })])));
    for (const answer of genuine) expect(answer).toMatchObject({ outcome: 'succeeded' });
    // …after which an assertion with counter 3 (a cloned authenticator, or one kept back) does not.
    await refusedByBoth([['with a lower counter', (r) => signed(statementFor(r), { counter: 3 }), /sign counter 3 is not above 5/]]);

    // Each refusal is in the agents' audit log, with its code.
    for (const agent of [k1!, target]) {
      const audited = agent.process!.log.filter((l) => l.msg === 'audit: deployment refused, its evidence is incomplete' && l.code === 'NotEnoughApprovals');
      expect(audited.length, agent.agentId).toBe(6);
    }
  });
});
