import { describe, expect, it } from 'vitest';
import type { AgentRequestRecord } from '#shared/domain/agents/model.ts';
import { makeDeploys, targetRequestId } from '#shared/domain/deploys/deploys.ts';
import { makeAuditTrail } from '#shared/domain/audit/audit-trail.ts';
import type { AgentReply } from '#shared/protocol/agent-messages.ts';
import { memoryAuditLog } from '../../support/memory-audit-log.ts';
import { newId } from '../agent/fixtures.ts';
import { memoryRuns } from './memory-runs.ts';

describe('target reports', () => {
  const setup = async (targets: string[]) => {
    const runs = memoryRuns();
    const resumed: unknown[] = [];
    const log = memoryAuditLog();
    const clock = { now: () => new Date('2026-11-30T12:00:00Z') };
    const deploys = makeDeploys({
      runs,
      workflow: { resume: async (token: string, output: unknown) => void resumed.push({ token, output }) },
      audit: makeAuditTrail({ log, clock }),
      agents: { closeRequest: async () => true, getAgent: async () => undefined } as never,
      clock,
      settings: { grantTimeoutSeconds: 30, ackTimeoutSeconds: 5, targetTimeoutSeconds: 60 },
    // Checked by the evidence unit tests; here the deploy step's bookkeeping.
    evidence: { check: async () => ({ evidence: { intent: 'checked' } }) },
    } as never);
    const [accountId, deploymentId, releaseId] = [newId('acc'), newId('dep'), newId('rel')];
    await runs.start(accountId, deploymentId, { targets, expiresAt: '2026-11-30T12:01:00.000Z' }, 'token-1');
    for (const agentId of targets) await runs.putTargetRequest(accountId, targetRequestId(deploymentId, agentId), { deploymentId, agentId });
    const reply = (agentId: string, outcome: 'succeeded' | 'failed', extra: Record<string, unknown> = {}) => {
      const requestId = targetRequestId(deploymentId, agentId);
      const record = { accountId, requestId, type: 'deploy', agentId, version: 0, state: 'pending', createdAt: 'x' } as AgentRequestRecord;
      const message = (outcome === 'succeeded'
        ? { type: 'reply', requestId, accountId, agentId, signature: 's', outcome, result: { deploymentId, releaseId, current: 'r1', output: 'ok', ...extra } }
        : { type: 'reply', requestId, accountId, agentId, signature: 's', outcome, error: { code: 'ScriptFailed', message: 'install exited with 1' } }) as AgentReply;
      return deploys.onDeployReply(record, message);
    };
    // Every event the deploy step wrote, as the audit trail holds them (without the chain fields).
    const audited = () => log.events(accountId).map(({ action, actor, target, outcome, reason }) => ({ action, actor, target, outcome, reason }));
    return { deploys, runs, resumed, audited, log, reply, accountId, deploymentId, releaseId };
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
    expect(s.audited()).toEqual([expect.objectContaining({ action: 'deployments:target-refused', outcome: 'refused', reason: `${b}: ScriptFailed: install exited with 1` })]);
    expect(await s.deploys.settle({ accountId: s.accountId, deploymentId: s.deploymentId, execution: {} })).toMatchObject({ succeeded: false, reason: expect.stringContaining('Failed on 1 of 2 targets') });
  });

  it('a report after the deployment settled is refused and audited with ids only; the settled reports stay as they were', async () => {
    const [a, b] = [newId('agt'), newId('agt')];
    const s = await setup([a, b]);
    await s.reply(a, 'succeeded');
    const settled = await s.deploys.settle({ accountId: s.accountId, deploymentId: s.deploymentId, execution: {} });
    expect(settled.succeeded).toBe(false);
    const before = await s.runs.get(s.accountId, s.deploymentId);

    expect(await s.reply(b, 'succeeded')).toEqual({ recorded: false });
    expect(await s.reply(b, 'failed')).toEqual({ recorded: false });
    expect(await s.runs.get(s.accountId, s.deploymentId)).toEqual(before);
    expect(s.resumed).toEqual([]);
    const requestId = targetRequestId(s.deploymentId, b);
    expect(s.audited()).toEqual([
      expect.objectContaining({ action: 'deployments:late-report-refused', outcome: 'refused', target: { type: 'deployment', id: s.deploymentId }, reason: `${b}: request ${requestId} reported succeeded after the wait for reports ended` }),
      expect.objectContaining({ action: 'deployments:late-report-refused', reason: `${b}: request ${requestId} reported ScriptFailed after the wait for reports ended` }),
    ]);
    // A duplicate of a report recorded in time is not late: nothing is audited for it.
    expect(await s.reply(a, 'succeeded')).toEqual({ recorded: false });
    expect(s.audited()).toHaveLength(2);
    expect(await s.deploys.settle({ accountId: s.accountId, deploymentId: s.deploymentId, execution: {} })).toEqual(settled);
  });

  it('a report on a deployment no longer InProgress is refused as late, even before the wait was settled', async () => {
    const a = newId('agt');
    const s = await setup([a]);
    s.runs.setState(s.deploymentId, 'Failed');
    expect(await s.reply(a, 'succeeded')).toEqual({ recorded: false });
    expect((await s.runs.get(s.accountId, s.deploymentId))!.reports).toEqual({});
    expect(s.audited()).toEqual([expect.objectContaining({ action: 'deployments:late-report-refused' })]);
  });

  it('a target’s refusal is audited once: a redelivered reply, or one redelivered after the audit write failed, writes one event', async () => {
    const [a, b] = [newId('agt'), newId('agt')];
    const s = await setup([a, b]);
    s.log.failNextPut();
    await expect(s.reply(a, 'failed')).rejects.toThrow('the audit write failed');
    expect(s.audited()).toEqual([]);
    // SQS delivers the message again: the report is already kept, its refusal is audited now.
    expect(await s.reply(a, 'failed')).toEqual({ recorded: false });
    expect(await s.reply(a, 'failed')).toEqual({ recorded: false });
    expect(s.audited()).toEqual([{ action: 'deployments:target-refused', actor: null, target: { type: 'deployment', id: s.deploymentId }, outcome: 'refused', reason: `${a}: ScriptFailed: install exited with 1` }]);
    // A succeeded report kept is no refusal, whatever arrives after it.
    await s.reply(b, 'succeeded');
    await s.reply(b, 'failed');
    expect(s.audited()).toHaveLength(1);
  });

  it('keeps a target’s receipt with its report, as the target sent it', async () => {
    const a = newId('agt');
    const s = await setup([a]);
    const receipt = { receipt: { v: 1, kind: 'release-installed', accountId: s.accountId, agentId: a, deploymentId: s.deploymentId, releaseId: s.releaseId, environmentId: newId('env'), digest: 'd'.repeat(64), current: 'r1', installedAt: '2026-11-30T12:00:00.000Z' }, signature: 'x'.repeat(86) };
    await s.reply(a, 'succeeded', { receipt });
    expect((await s.runs.get(s.accountId, s.deploymentId))!.reports[a]).toEqual({ outcome: 'succeeded', at: '2026-11-30T12:00:00.000Z', current: 'r1', output: 'ok', receipt });
  });

  it('a key server’s refusal of the grant fails the grant and is audited once, however often its reply is delivered', async () => {
    const k = newId('agt');
    const s = await setup([]);
    const requestId = newId('req');
    await s.runs.putTargetRequest(s.accountId, requestId, { deploymentId: s.deploymentId, agentId: k, purpose: 'grant' });
    const record = { accountId: s.accountId, requestId, type: 'deploy', agentId: k, version: 1, state: 'pending', createdAt: 'x' } as AgentRequestRecord;
    const refusal = { type: 'reply', requestId, accountId: s.accountId, agentId: k, signature: 's', outcome: 'failed', error: { code: 'MissingEvidence', message: 'no approvals' } } as AgentReply;
    s.log.failNextPut();
    await expect(s.deploys.onDeployReply(record, refusal)).rejects.toThrow('the audit write failed');
    for (let i = 0; i < 2; i += 1) expect(await s.deploys.onDeployReply(record, refusal)).toEqual({ recorded: true });
    expect(s.audited()).toEqual([{ action: 'deployments:grant-refused', actor: null, target: { type: 'deployment', id: s.deploymentId }, outcome: 'refused', reason: `${k}: MissingEvidence: no approvals` }]);
    const kept = await s.runs.parkGrantWait(s.accountId, s.deploymentId, 'token-2');
    expect(kept.outcome).toEqual({ failed: `Key server ${k} refused the deployment grant: MissingEvidence: no approvals` });
  });

  it('ignores a reply from an agent the request was not for', async () => {
    const [a, b] = [newId('agt'), newId('agt')];
    const s = await setup([a]);
    const requestId = targetRequestId(s.deploymentId, a);
    const record = { accountId: s.accountId, requestId, type: 'deploy', agentId: b, version: 0, state: 'pending', createdAt: 'x' } as AgentRequestRecord;
    const forged = { type: 'reply', requestId, accountId: s.accountId, agentId: b, signature: 's', outcome: 'failed', error: { code: 'X', message: 'y' } } as AgentReply;
    expect(await s.deploys.onDeployReply(record, forged)).toEqual({ recorded: false });
  });
});

describe('the grant request and its fallback', () => {
  const setup = (online: string[]) => {
    const sent: { queueUrl: string; body: { type: string; requestId: string; targets: unknown[] } }[] = [];
    const resumed: unknown[] = [];
    const unresponsive: string[] = [];
    const heartbeats: string[] = [];
    const runs = memoryRuns();
    const agent = (agentId: string, role: 'keyserver' | 'target', environments: string[] = []) =>
      ({ accountId: 'acc', agentId, role, environments, queueUrl: `q-${agentId}`, encryptionKey: 'e', signingKey: 's', proof: {} }) as never;
    const deploys = makeDeploys({
      deployments: { get: async () => ({ deploymentId: 'dep', appId: 'app', releaseId: 'rel', environmentId: 'env', encrypted: true }) },
      releases: { getRelease: async () => ({ createdBy: 'usr', manifest: 'm'.repeat(20), objectKey: 'k' }) },
      directory: { getEnvironment: async () => ({ name: 'prod', variables: {} }), getUser: async () => ({ signingKey: { publicKey: 'p' } }) },
      keys: { getWrappedReleaseKey: async () => ({ version: 1, wrappedReleaseKey: 'w' }) },
      masterKeys: {
        onlineHolders: async () => online.map((agentId) => ({ agent: agent(agentId, 'keyserver'), wrap: {}, copy: async () => ({ wrappedMaster: `copy-${agentId}` }) })),
      },
      agents: {
        agentsWithRole: async (_a: string, role: string) => (role === 'target' ? [agent('t1', 'target', ['env']), agent('t2', 'target', ['other'])] : []),
        putRequest: async () => {},
        markUnresponsive: async (_a: string, agentId: string) => void unresponsive.push(agentId),
      },
      queues: { send: async (queueUrl: string, body: never) => void sent.push({ queueUrl, body }) },
      runs,
      workflow: {
        resume: async (token: string, output: unknown) => void resumed.push({ token, output }),
        heartbeat: async (token: string) => void heartbeats.push(token),
      },
      clock: { now: () => new Date('2026-11-30T12:00:00Z') },
      settings: { grantTimeoutSeconds: 30, ackTimeoutSeconds: 5, targetTimeoutSeconds: 60 },
    // Checked by the evidence unit tests; here the deploy step's bookkeeping.
    evidence: { check: async () => ({ evidence: { intent: 'checked' } }) },
    } as never);
    return { deploys, sent, resumed, unresponsive, heartbeats, runs };
  };
  const ref = { accountId: 'acc', deploymentId: 'dep', taskToken: 'tok', askNext: true };

  it('asks the key servers one after the other, one request each time, naming the environment’s targets only; one passed over counts as offline until its next heartbeat', async () => {
    const s = setup(['k1', 'k2']);
    expect(await s.deploys.requestGrant({ ...ref, keyServers: ['k1', 'k2'] })).toEqual({ asked: 'k1', attempt: 1 });
    expect(s.unresponsive).toEqual([]);
    expect(await s.deploys.requestGrant({ ...ref, keyServers: ['k1', 'k2'] })).toEqual({ asked: 'k2', attempt: 2 });
    expect(s.unresponsive).toEqual(['k1']);
    expect(s.sent.map((m) => [m.queueUrl, m.body.type, m.body.targets.length])).toEqual([
      ['q-k1', 'issue-deployment-grant', 1],
      ['q-k2', 'issue-deployment-grant', 1],
    ]);
  });

  it('an acknowledgement of the grant request sent last keeps the grant wait alive; one of an earlier request does not', async () => {
    const s = setup(['k1', 'k2']);
    await s.deploys.requestGrant({ ...ref, keyServers: ['k1', 'k2'] });
    const first = s.sent[0]!.body.requestId as string;
    await s.runs.putTargetRequest('acc', first, { deploymentId: 'dep', agentId: 'k1', purpose: 'grant' });
    const record = (requestId: string, agentId: string) => ({ accountId: 'acc', requestId, agentId, type: 'deploy', state: 'pending' }) as never;
    await s.deploys.onGrantAcknowledged(record(first, 'k1'));
    expect(s.heartbeats).toEqual(['tok']);
    await s.deploys.requestGrant({ ...ref, taskToken: 'tok2', keyServers: ['k1', 'k2'] });
    await s.deploys.onGrantAcknowledged(record(first, 'k1'));
    expect(s.heartbeats).toEqual(['tok']);
    const second = s.sent[1]!.body.requestId as string;
    await s.deploys.onGrantAcknowledged(record(second, 'k2'));
    expect(s.heartbeats).toEqual(['tok', 'tok2']);
  });

  it('skips a key server gone offline since the plan, and ends the wait saying so when none is left', async () => {
    const s = setup(['k2']);
    expect(await s.deploys.requestGrant({ ...ref, keyServers: ['k1', 'k2'] })).toEqual({ asked: 'k2', attempt: 2 });
    expect(await s.deploys.requestGrant({ ...ref, keyServers: ['k1', 'k2'] })).toEqual({ asked: undefined });
    expect(s.sent).toHaveLength(1);
    expect(s.resumed).toEqual([{ token: 'tok', output: { failed: 'No key server issued the deployment grant: each had 5 s to take the request and 30 s to answer (asked k1, k2)' } }]);
  });
});
