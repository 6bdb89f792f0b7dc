import fc from 'fast-check';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import type { Caller } from '../support/accounts.ts';
import { localClients, waitFor } from '../support/clients.ts';
import { approvalSetup } from '../support/deployments.ts';

const { dynamo, env } = localClients();
const terminal = new Set(['Succeeded', 'Failed', 'Declined', 'Canceled', 'Expired']);
const REQUIRED = 2;

type Move = { deployment: number; actor: number; action: 'approve' | 'approve-deploy' | 'decline' | 'cancel' | 'deploy' };

const send = (call: Caller, id: string, action: Move['action']) => {
  switch (action) {
    case 'approve':
      return call('POST', `/deployments/${id}/approve`, {});
    case 'approve-deploy':
      return call('POST', `/deployments/${id}/approve`, { deploy: true });
    case 'decline':
      return call('POST', `/deployments/${id}/decline`, { message: 'no' });
    default:
      return call('POST', `/deployments/${id}/${action}`);
  }
};

describe('concurrent decisions (property-based, against the local stack)', () => {
  it('never moves a deployment twice, never leaves a quorum waiting, runs each deploy step at most once', async () => {
    const s = await approvalSetup({ requiredApprovals: REQUIRED, extraApprovers: 2 });
    const actors: Caller[] = [s.a.owner, s.a.deployer.call, s.a.approver.call, ...s.extra.map((e) => e.call)];
    const move = fc.record({
      deployment: fc.nat({ max: 3 }),
      actor: fc.nat({ max: actors.length - 1 }),
      action: fc.constantFrom<Move['action']>('approve', 'approve', 'approve-deploy', 'decline', 'cancel', 'deploy'),
    });

    await fc.assert(
      fc.asyncProperty(fc.array(move, { minLength: 8, maxLength: 30 }), async (moves) => {
        // Prepare: four deployments waiting for two approvals each.
        const ids: string[] = [];
        for (let i = 0; i < 4; i += 1) ids.push((await s.deploy()).deploymentId);

        // Act: every move at once.
        const responses = await Promise.all(moves.map((m) => send(actors[m.actor]!, ids[m.deployment]!, m.action)));
        expect(responses.every((r) => r.status < 500)).toBe(true);

        // Assess, once every started deploy step has finished.
        for (const [index, id] of ids.entries()) {
          const final = await waitFor(`deployment ${id} to settle`, async () => {
            const current = (await s.a.owner('GET', `/deployments/${id}`)).body;
            return current.state === 'InProgress' ? undefined : current;
          });
          const states = final.history.map((t: { to: string }) => t.to) as string[];
          // A terminal state, once reached, is the last state.
          const firstTerminal = states.findIndex((state) => terminal.has(state));
          if (firstTerminal >= 0) expect(firstTerminal).toBe(states.length - 1);
          // Every successful decision reported a state the deployment really passed through.
          for (const [i, m] of moves.entries()) {
            if (m.deployment === index && responses[i]!.status === 200) expect(states).toContain(responses[i]!.body.state);
          }
          // One vote per person; no quorum left waiting; InProgress only with a quorum.
          const voters = final.votes.map((v: { userId: string }) => v.userId);
          expect(new Set(voters).size).toBe(voters.length);
          if (final.state === 'PendingApproval') expect(final.votes.length).toBeLessThan(REQUIRED);
          if (final.state === 'Approved') expect(final.votes.length).toBeGreaterThanOrEqual(REQUIRED);
          if (states.includes('InProgress')) {
            expect(final.votes.length).toBeGreaterThanOrEqual(REQUIRED);
            // The deploy step ran once: a second run would have failed the deployment saying so.
            expect(final.state).toBe('Succeeded');
            const { Item } = await dynamo.send(
              new GetCommand({ TableName: env.DEPLOYMENTS_TABLE!, Key: { pk: `ACCOUNT#${s.a.accountId}`, sk: `DEPLOYMENT#${id}` } }),
            );
            expect(Item?.deployStartedAt).toEqual(expect.any(String));
          }
        }
      }),
      { numRuns: 6 },
    );
  });
});
