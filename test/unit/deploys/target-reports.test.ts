import { describe, expect, it } from 'vitest';
import type { AgentRequestRecord } from '#shared/domain/agents/model.ts';
import { makeDeploys, targetRequestId } from '#shared/domain/deploys/deploys.ts';
import type { DeployRuns, TargetReport } from '#shared/domain/deploys/ports.ts';
import type { AgentReply } from '#shared/protocol/agent-messages.ts';
import { newId } from '../agent/fixtures.ts';

/** The deploy bookkeeping in memory, with the same conditions as the DynamoDB adapter. */
const memoryRuns = () => {
  const items = new Map<string, { targets: string[]; reports: Record<string, TargetReport>; taskToken?: string }>();
  const refs = new Map<string, { deploymentId: string; agentId: string }>();
  const runs: DeployRuns = {
    start: async (_a, deploymentId, targets, taskToken) => {
      const item = items.get(deploymentId) ?? { targets, reports: {} };
      items.set(deploymentId, { ...item, taskToken });
      return item;
    },
    nextGrantAttempt: async () => 1,
    recordReport: async (_a, deploymentId, agentId, report) => {
      const item = items.get(deploymentId);
      if (!item || !item.targets.includes(agentId) || item.reports[agentId]) return undefined;
      item.reports[agentId] = report;
      return structuredClone(item);
    },
    get: async (_a, deploymentId) => items.get(deploymentId),
    putTargetRequest: async (_a, requestId, ref) => (refs.has(requestId) ? false : (refs.set(requestId, ref), true)),
    getTargetRequest: async (_a, requestId) => refs.get(requestId),
  };
  return runs;
};

describe('target reports', () => {
  const setup = async (targets: string[]) => {
    const runs = memoryRuns();
    const resumed: unknown[] = [];
    const audited: unknown[] = [];
    const deploys = makeDeploys({
      runs,
      workflow: { resume: async (token: string, output: unknown) => void resumed.push({ token, output }) },
      audit: { append: async (_a: string, entry: unknown) => (audited.push(entry), undefined as never) },
      agents: { closeRequest: async () => true, getAgent: async () => undefined } as never,
      clock: { now: () => new Date('2026-11-30T12:00:00Z') },
      settings: { grantTimeoutSeconds: 30, targetTimeoutSeconds: 60 },
    } as never);
    const [accountId, deploymentId] = [newId('acc'), newId('dep')];
    await runs.start(accountId, deploymentId, targets, 'token-1');
    for (const agentId of targets) await runs.putTargetRequest(accountId, targetRequestId(deploymentId, agentId), { deploymentId, agentId });
    const reply = (agentId: string, outcome: 'succeeded' | 'failed') => {
      const requestId = targetRequestId(deploymentId, agentId);
      const record = { accountId, requestId, type: 'deploy', agentId, version: 0, state: 'pending', createdAt: 'x' } as AgentRequestRecord;
      const message = (outcome === 'succeeded'
        ? { type: 'reply', requestId, accountId, agentId, signature: 's', outcome, result: { deploymentId, releaseId: newId('rel'), current: 'r1', output: 'ok' } }
        : { type: 'reply', requestId, accountId, agentId, signature: 's', outcome, error: { code: 'ScriptFailed', message: 'install exited with 1' } }) as AgentReply;
      return deploys.onTargetReply(record, message);
    };
    return { deploys, runs, resumed, audited, reply, accountId, deploymentId };
  };

  it('records each report once; a duplicate changes nothing; the last one ends the wait, once', async () => {
    const [a, b] = [newId('agt'), newId('agt')];
    const s = await setup([a, b]);
    expect(await s.reply(a, 'succeeded')).toEqual({ recorded: true });
    expect(s.resumed).toEqual([]);
    expect(await s.reply(a, 'failed')).toEqual({ recorded: false });
    expect(await s.reply(b, 'failed')).toEqual({ recorded: true });
    expect(await s.reply(b, 'failed')).toEqual({ recorded: false });
    expect(s.resumed).toEqual([{ token: 'token-1', output: { reported: 2 } }]);
    expect((await s.runs.get(s.accountId, s.deploymentId))!.reports[a]).toMatchObject({ outcome: 'succeeded' });
    expect(s.audited).toEqual([expect.objectContaining({ action: 'deployments:target-refused', outcome: 'refused', reason: `${b}: ScriptFailed: install exited with 1` })]);
    expect(await s.deploys.settle({ accountId: s.accountId, deploymentId: s.deploymentId, execution: {} })).toMatchObject({ succeeded: false, reason: expect.stringContaining('Failed on 1 of 2 targets') });
  });

  it('ignores a reply from an agent the request was not for', async () => {
    const [a, b] = [newId('agt'), newId('agt')];
    const s = await setup([a]);
    const requestId = targetRequestId(s.deploymentId, a);
    const record = { accountId: s.accountId, requestId, type: 'deploy', agentId: b, version: 0, state: 'pending', createdAt: 'x' } as AgentRequestRecord;
    const forged = { type: 'reply', requestId, accountId: s.accountId, agentId: b, signature: 's', outcome: 'failed', error: { code: 'X', message: 'y' } } as AgentReply;
    expect(await s.deploys.onTargetReply(record, forged)).toEqual({ recorded: false });
  });
});
