import { describe, expect, it } from 'vitest';
import type { AgentRequestRecord } from '#shared/domain/agents/model.ts';
import { makeDeploys, targetRequestId } from '#shared/domain/deploys/deploys.ts';
import { requestDigest } from '#agent/requests.ts';
import type { AgentReply, AgentRequest } from '#shared/protocol/agent-messages.ts';
import { memoryRuns } from './memory-runs.ts';

/**
 * Every task of the deploy step may run again with the same input: Step Functions and SQS
 * retry, and the local stack restarted with --data runs its executions again from the start,
 * with new task tokens. A repeat finds what the first run decided or received.
 */
const setup = (options: { encrypted: boolean; online?: string[] }) => {
  let online = options.online ?? ['k1', 'k2'];
  const sent: { queueUrl: string; body: { type: string; requestId: string } }[] = [];
  const records: AgentRequestRecord[] = [];
  const resumed: { token: string; output: Record<string, unknown> }[] = [];
  const agent = (agentId: string, role: 'keyserver' | 'target', environments: string[] = []) =>
    ({ accountId: 'acc', agentId, name: agentId.toUpperCase(), role, environments, queueUrl: `q-${agentId}`, encryptionKey: 'e', signingKey: 's', proof: {} }) as never;
  const runs = memoryRuns();
  let now = new Date('2026-11-30T12:00:00Z');
  const deploys = makeDeploys({
    deployments: {
      get: async () => ({ deploymentId: 'dep', appId: 'app', releaseId: 'rel', releaseVersion: '1.0.0', environmentId: 'env', encrypted: options.encrypted }),
      markDeployStarted: async () => true,
    },
    releases: { getRelease: async () => ({ version: '1.0.0', createdBy: 'usr', manifest: 'm'.repeat(20), objectKey: 'k', digest: 'd'.repeat(64) }) },
    directory: { getEnvironment: async () => ({ name: 'prod', variables: {} }), getUser: async () => ({ signingKey: { publicKey: 'p', vouch: {} } }) },
    keys: { getWrappedReleaseKey: async () => ({ version: 1, wrappedReleaseKey: 'w' }) },
    masterKeys: {
      onlineHolders: async () => online.map((agentId) => ({ agent: agent(agentId, 'keyserver'), wrap: {}, copy: async () => ({ wrappedMaster: `copy-${agentId}` }) })),
    },
    agents: {
      agentsWithRole: async (_a: string, role: string) => (role === 'target' ? [agent('t1', 'target', ['env']), agent('t2', 'target', ['env'])] : []),
      putRequest: async (record: AgentRequestRecord) => void records.push(record),
      closeRequest: async () => true,
      getAgent: async (_a: string, agentId: string) => agent(agentId, 'keyserver'),
      markUnresponsive: async () => {},
    },
    queues: { send: async (queueUrl: string, body: never) => void sent.push({ queueUrl, body }) },
    objects: { presignGet: async () => 'https://bucket/object?signed' },
    runs,
    workflow: { resume: async (token: string, output: Record<string, unknown>) => void resumed.push({ token, output }) },
    audit: { appendOnce: async () => undefined },
    clock: { now: () => now },
    settings: { grantTimeoutSeconds: 30, ackTimeoutSeconds: 5, targetTimeoutSeconds: 60 },
    // Checked by the evidence unit tests; here the deploy step's bookkeeping.
    evidence: { check: async () => ({ evidence: { intent: 'checked' } }) },
  } as never);
  const ref = { accountId: 'acc', deploymentId: 'dep' };
  const advance = (seconds: number) => (now = new Date(now.getTime() + seconds * 1000));
  /** The signed reply of `agentId` to a request it was sent (the consumer checked it). */
  const reply = (requestId: string, agentId: string, outcome: 'succeeded' | 'failed', result: Record<string, unknown> = {}) => {
    const record = records.find((r) => r.requestId === requestId)!;
    const message = (outcome === 'succeeded'
      ? { type: 'reply', requestId, accountId: 'acc', agentId, signature: 's', outcome, result }
      : { type: 'reply', requestId, accountId: 'acc', agentId, signature: 's', outcome, error: { code: 'NotHolder', message: 'no master key v1 here' } }) as AgentReply;
    return deploys.onDeployReply(record, message);
  };
  return { deploys, runs, sent, records, resumed, ref, reply, advance, goOffline: (ids: string[]) => (online = online.filter((id) => !ids.includes(id))) };
};

describe('PlanDeploy run again', () => {
  it('returns the plan the first run kept, even when what it was made from has changed since', async () => {
    const s = setup({ encrypted: true });
    const first = await s.deploys.prepare(s.ref);
    expect(first).toEqual({ action: 'grant', keyServers: ['k1', 'k2'], grantTimeoutSeconds: 30, ackTimeoutSeconds: 5, targetTimeoutSeconds: 60 });
    s.goOffline(['k1', 'k2']);
    expect(await s.deploys.prepare(s.ref)).toEqual(first);
  });

  it('keeps a failing plan too: a repeat fails the same way', async () => {
    const s = setup({ encrypted: true, online: [] });
    const failed = await s.deploys.prepare(s.ref);
    expect(failed).toEqual({ action: 'fail', reason: 'No online key server holds master key version 1' });
    expect(await s.deploys.prepare(s.ref)).toEqual(failed);
  });
});

describe('RequestGrant run again', () => {
  const keyServers = ['k1', 'k2'];
  const grant = { version: 1, keyList: 'kl' };

  it('with the grant already kept: asks no key server and ends the new wait with that grant', async () => {
    const s = setup({ encrypted: true });
    expect(await s.deploys.requestGrant({ ...s.ref, keyServers, taskToken: 'old', askNext: false })).toEqual({ asked: 'k1', attempt: 1 });
    const requestId = s.sent[0]!.body.requestId;
    await s.reply(requestId, 'k1', 'succeeded', grant);
    expect(s.resumed).toEqual([{ token: 'old', output: { requestId, agentId: 'k1', result: grant } }]);

    expect(await s.deploys.requestGrant({ ...s.ref, keyServers, taskToken: 'new', askNext: false })).toEqual({ asked: undefined, reused: true });
    expect(s.sent).toHaveLength(1);
    expect(s.resumed[1]).toEqual({ token: 'new', output: { requestId, agentId: 'k1', result: grant } });
  });

  it('with the request still out: asks no one, and the reply to the first request ends the NEW wait', async () => {
    const s = setup({ encrypted: true });
    await s.deploys.requestGrant({ ...s.ref, keyServers, taskToken: 'old', askNext: false });
    expect(await s.deploys.requestGrant({ ...s.ref, keyServers, taskToken: 'new', askNext: false })).toEqual({ asked: undefined, waiting: true });
    expect(s.sent).toHaveLength(1);
    // The key server answers the request it was sent, which carried the old token.
    expect(s.records[0]).not.toHaveProperty('taskToken');
    expect(await s.reply(s.sent[0]!.body.requestId, 'k1', 'succeeded', grant)).toEqual({ recorded: true });
    expect(s.resumed).toEqual([{ token: 'new', output: { requestId: s.sent[0]!.body.requestId, agentId: 'k1', result: grant } }]);
  });

  it('asks the next key server only when the last one did not answer in time; a late first answer and the second both end the wait with the first', async () => {
    const s = setup({ encrypted: true });
    await s.deploys.requestGrant({ ...s.ref, keyServers, taskToken: 't1', askNext: false });
    expect(await s.deploys.requestGrant({ ...s.ref, keyServers, taskToken: 't2', askNext: true })).toEqual({ asked: 'k2', attempt: 2 });
    const [first, second] = s.sent.map((m) => m.body.requestId);
    await s.reply(first!, 'k1', 'succeeded', { ...grant, keyList: 'from-k1' });
    await s.reply(second!, 'k2', 'succeeded', { ...grant, keyList: 'from-k2' });
    expect(s.resumed.map((r) => [r.token, (r.output.result as { keyList: string }).keyList])).toEqual([
      ['t2', 'from-k1'],
      ['t2', 'from-k1'],
    ]);
  });

  it('a key server’s refusal is kept as the failure, with its name, and a repeat ends its wait with it', async () => {
    const s = setup({ encrypted: true });
    await s.deploys.requestGrant({ ...s.ref, keyServers, taskToken: 'old', askNext: false });
    await s.reply(s.sent[0]!.body.requestId, 'k1', 'failed');
    const failed = { failed: 'Key server K1 (k1) refused the deployment grant: NotHolder: no master key v1 here' };
    expect(s.resumed).toEqual([{ token: 'old', output: failed }]);
    await s.deploys.requestGrant({ ...s.ref, keyServers, taskToken: 'new', askNext: false });
    expect(s.resumed[1]).toEqual({ token: 'new', output: failed });
    expect(await s.deploys.settle({ ...s.ref, execution: { grant: failed } })).toEqual({ succeeded: false, reason: failed.failed });
    expect(s.sent).toHaveLength(1);
  });

  it('the grant task’s own failure reaches the outcome as such', async () => {
    const s = setup({ encrypted: true });
    const grantError = { Error: 'Error', Cause: JSON.stringify({ errorType: 'Error', errorMessage: 'Release rel has no sealed key' }) };
    expect(await s.deploys.settle({ ...s.ref, execution: { grantError } })).toEqual({
      succeeded: false,
      reason: 'The deployment grant could not be requested: Error: Release rel has no sealed key',
    });
  });

  it('none left: the failure is kept, and a repeat asks no one', async () => {
    const s = setup({ encrypted: true });
    await s.deploys.requestGrant({ ...s.ref, keyServers, taskToken: 't1', askNext: false });
    await s.deploys.requestGrant({ ...s.ref, keyServers, taskToken: 't2', askNext: true });
    expect(await s.deploys.requestGrant({ ...s.ref, keyServers, taskToken: 't3', askNext: true })).toEqual({ asked: undefined });
    expect(await s.deploys.requestGrant({ ...s.ref, keyServers, taskToken: 't4', askNext: false })).toEqual({ asked: undefined, reused: true });
    expect(s.sent).toHaveLength(2);
    expect(s.resumed.map((r) => r.token)).toEqual(['t3', 't4']);
    expect(s.resumed[1]!.output).toEqual({ failed: 'No key server issued the deployment grant: each had 5 s to take the request and 30 s to answer (asked k1, k2)' });
  });
});

describe('DispatchToTargets run again', () => {
  const dispatch = (s: ReturnType<typeof setup>, taskToken: string) => s.deploys.dispatch({ ...s.ref, grant: null, targetTimeoutSeconds: 60, taskToken });
  const report = { deploymentId: 'dep', releaseId: 'rel', current: 'r1', output: 'ok' };

  it('sends the same request again only to targets that have not reported, records each request once, and the last report ends the NEW wait', async () => {
    const s = setup({ encrypted: false });
    await dispatch(s, 'old');
    await s.reply(targetRequestId('dep', 't1'), 't1', 'succeeded', report);
    expect(s.resumed).toEqual([]);

    expect(await dispatch(s, 'new')).toEqual({ targets: 2 });
    expect(s.sent.map((m) => [m.queueUrl, m.body.requestId])).toEqual([
      ['q-t1', targetRequestId('dep', 't1')],
      ['q-t2', targetRequestId('dep', 't2')],
      ['q-t2', targetRequestId('dep', 't2')],
    ]);
    expect(s.records.map((r) => r.agentId)).toEqual(['t1', 't2']);
    await s.reply(targetRequestId('dep', 't2'), 't2', 'succeeded', report);
    expect(s.resumed).toEqual([{ token: 'new', output: { reported: 2 } }]);
  });

  it('a repeat later resends the first expiry: the target sees the same request, not another one under a reused id', async () => {
    const s = setup({ encrypted: false });
    await dispatch(s, 'old');
    s.advance(45);
    await dispatch(s, 'new');
    const t2 = s.sent.filter((m) => m.queueUrl === 'q-t2').map((m) => m.body as unknown as AgentRequest);
    expect(t2.map((r) => (r as { expiresAt: string }).expiresAt)).toEqual(['2026-11-30T12:01:00.000Z', '2026-11-30T12:01:00.000Z']);
    expect(t2.map((r) => r.sentAt)).toEqual(['2026-11-30T12:00:00.000Z', '2026-11-30T12:00:45.000Z']);
    expect(requestDigest(t2[1]!)).toBe(requestDigest(t2[0]!));
  });

  it('every target reported before the repeat: it sends nothing and ends its wait at once', async () => {
    const s = setup({ encrypted: false });
    await dispatch(s, 'old');
    for (const t of ['t1', 't2']) await s.reply(targetRequestId('dep', t), t, 'succeeded', report);
    expect(await dispatch(s, 'new')).toEqual({ targets: 2 });
    expect(s.sent).toHaveLength(2);
    expect(s.resumed).toEqual([
      { token: 'old', output: { reported: 2 } },
      { token: 'new', output: { reported: 2 } },
    ]);
  });
});
