import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DeleteMessageCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it, onTestFinished } from 'vitest';
import { loadAgentKeys } from '#shared/crypto/index.ts';
import { signedAck, signedHeartbeat } from '#agent/replies.ts';
import { agentCli, enrolThroughCli, untilAgents } from '../support/agents.ts';
import { localClients, waitFor } from '../support/clients.ts';
import { cliSession } from './cli/run-cli.ts';

const { sqs, dynamo, env } = localClients();

type Agent = Awaited<ReturnType<typeof enrolThroughCli>>;
type Deployment = { deploymentId: string; state: string; outcome?: { reason?: string }; history: { to: string }[] };
type AuditEvent = { action: string; outcome: string; target?: { type: string; id: string } };
type JournalEntry = { requestId: string; type: string; outcome: string; result?: Record<string, unknown> };

const queueDepth = async (queueUrl: string) => {
  const { Attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
  );
  return Number(Attributes.ApproximateNumberOfMessages) + Number(Attributes.ApproximateNumberOfMessagesNotVisible);
};

/**
 * SQS delivering a request twice: the test takes the backend's request off the agent's queue and
 * puts the same body back twice, before the agent has seen it. `taken` stands for the agent's
 * acknowledgement as it receives a key-server request (queue-loop.ts): the agent here runs only
 * when the test drains it, later than the backend waits for a key server to take a request.
 */
const deliverTwice = async (agents: Agent[], type: string, taken?: (agent: Agent, request: { requestId: string; taskToken?: string }) => Promise<void>) => {
  const { agent, body } = await waitFor(
    `a ${type} request on the queue of one of ${agents.map((a) => a.name).join(', ')}`,
    async () => {
      for (const agent of agents) {
        const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: agent.queueUrl, WaitTimeSeconds: 0, MaxNumberOfMessages: 1 }));
        const message = Messages[0];
        if (!message) continue;
        await sqs.send(new DeleteMessageCommand({ QueueUrl: agent.queueUrl, ReceiptHandle: message.ReceiptHandle! }));
        return { agent, body: message.Body! };
      }
      return undefined;
    },
    20_000,
  );
  const request = JSON.parse(body) as { type: string; requestId: string; taskToken?: string };
  expect(request.type).toBe(type);
  await taken?.(agent, request);
  for (let i = 0; i < 2; i++) await sqs.send(new SendMessageCommand({ QueueUrl: agent.queueUrl, MessageBody: body }));
  return { agent, requestId: request.requestId };
};

/** Runs the real agent (`run --once`) until it has taken every message off its queue. */
const drain = async (agent: Agent) => {
  const outputs: string[] = [];
  await waitFor(
    `${agent.name} to answer everything on its queue`,
    async () => {
      if ((await queueDepth(agent.queueUrl)) === 0) return true;
      outputs.push((await agentCli(['run', '--state', agent.state, '--once'])).stderr);
      return undefined;
    },
    60_000,
  );
  return outputs.join('');
};

const journalOf = async (agent: Agent) =>
  (await readFile(path.join(agent.state, 'journal.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as JournalEntry);

/**
 * An account whose agents the test runs itself (`run --once`, see `drain`) and keeps online in
 * between with heartbeats signed by their own keys.
 */
const accountWithManualAgents = async () => {
  const cli = await cliSession();
  const account = await cli.signup();
  const enrol = async (name: string, role: 'keyserver' | 'target' = 'keyserver', environments: string[] = []) => {
    const agent = await enrolThroughCli(cli, name, role, environments);
    online.set(agent.agentId, (await loadAgentKeys(path.join(agent.state, 'agent.key'))).signing.privateKey);
    return agent;
  };
  const online = new Map<string, Uint8Array>();
  const beat = async () => {
    for (const [agentId, signingSeed] of online) {
      const message = signedHeartbeat({ accountId: account.accountId, agentId, signingSeed }, new Date());
      await sqs.send(new SendMessageCommand({ QueueUrl: env.AGENT_REPLY_QUEUE_URL!, MessageBody: message }));
    }
  };
  const heartbeats = setInterval(() => void beat(), 1000);
  // Acknowledged at once and every 2 s until the agent has answered it (as the agent does while it works).
  const taken = async (agent: Agent, request: { requestId: string; taskToken?: string }) => {
    const message = signedAck({ accountId: account.accountId, agentId: agent.agentId, signingSeed: online.get(agent.agentId)! }, request);
    const ack = () => sqs.send(new SendMessageCommand({ QueueUrl: env.AGENT_REPLY_QUEUE_URL!, MessageBody: message }));
    await ack();
    const timer = setInterval(() => {
      void journalOf(agent)
        .catch(() => [])
        .then((entries) => {
          if (entries.some((e) => e.requestId === request.requestId)) clearInterval(timer);
          else void ack();
        });
    }, 2000);
    onTestFinished(() => clearInterval(timer));
  };
  /** The request delivered twice, taken (acknowledged) by the agent it reached. */
  const twice = (agents: Agent[], type: string) => deliverTwice(agents, type, type === 'deploy-release' ? undefined : taken);
  onTestFinished(() => clearInterval(heartbeats));
  /** Waits for the audit events about a request (`latchkey audit list`, looked at in-process until there: cli.until). */
  const auditFor = (requestId: string) =>
    cli.until(`the audit event of ${requestId}`, ['audit', 'list', '--limit', '500'], (events: AuditEvent[]) => {
      const found = events.filter((event) => event.target?.id === requestId);
      return found.length ? found : undefined;
    }, 10_000);
  const items = async (prefix: string) =>
    (
      await dynamo.send(
        new QueryCommand({
          TableName: env.WRAPPED_KEYS_TABLE!,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':pk': `ACCOUNT#${account.accountId}`, ':prefix': prefix },
          ConsistentRead: true,
        }),
      )
    ).Items ?? [];
  /** Two key servers holding master key v1, the request that created it delivered twice. */
  const keyServers = async () => {
    const a = await enrol('a');
    const b = await enrol('b');
    // The backend asks one of them (online, at random) to make it.
    const created = await twice([a, b], 'create-master-key');
    const log = await drain(created.agent);
    return { a, b, created, log };
  };
  const source = await mkdtemp(path.join(tmpdir(), 'latchkey-twice-src-'));
  onTestFinished(() => rm(source, { recursive: true, force: true }));
  await writeFile(path.join(source, 'app.txt'), 'twice\n');
  /** A secure push whose rewrap request reaches one of `agents` twice. */
  const securePush = async (agents: Agent[]) => {
    await cli.json(['apps', 'create', 'vault']);
    await cli.json(['apps', 'secure', 'vault']);
    const pushing = cli.run(['push', 'vault', source, '--version', '1.0.0', '--json', '--seal-timeout', '60']);
    const rewrapped = await twice(agents, 'rewrap-release-key');
    const log = await drain(rewrapped.agent);
    return { rewrapped, log, pushed: await pushing };
  };
  return { cli, account, enrol, auditFor, items, keyServers, securePush, twice };
};

describe('every agent request delivered twice has one effect', () => {
  it('create-master-key, share-master-key and rewrap-release-key: one answer per request id, one stored wrap, one audit event', { timeout: 240_000 }, async () => {
    // Prepare and act 1: two key servers; the create-master-key request, twice on its key server's queue.
    const { cli, enrol, auditFor, items, keyServers, securePush, twice } = await accountWithManualAgents();
    const { a, b, created, log: createLog } = await keyServers();

    // Assess 1: answered twice from one journal entry; two copies stored (A, B); one audit event.
    expect(createLog.match(/"msg":"request answered"[^\n]*"type":"create-master-key"/g)).toHaveLength(2);
    expect(createLog).toContain('request already answered; sending the same answer');
    const createEntries = (await journalOf(created.agent)).filter((entry) => entry.requestId === created.requestId);
    expect(createEntries).toHaveLength(1);
    await auditFor(created.requestId);
    const v1 = await items('MASTER#');
    expect(v1.map((item) => item.agentId).sort()).toEqual([a.agentId, b.agentId].sort());
    const minted = createEntries[0]!.result as { wraps: { agentId: string; wrappedMaster: string }[] };
    for (const item of v1) expect(item.wrappedMaster).toBe(minted.wraps.find((w) => w.agentId === item.agentId)!.wrappedMaster);

    // Act 2: C enrols; the share request goes to A or B (whichever the backend picked), twice.
    const c = await enrol('c');
    const shared = await twice([a, b], 'share-master-key');
    const shareLog = await drain(shared.agent);

    // Assess 2
    expect(shareLog.match(/"msg":"request answered"[^\n]*"type":"share-master-key"/g)).toHaveLength(2);
    expect((await journalOf(shared.agent)).filter((entry) => entry.requestId === shared.requestId)).toHaveLength(1);
    await untilAgents(cli, 'c to hold v1', (l) => !!l.c?.masterVersions.includes(1));
    expect((await items('MASTER#')).filter((item) => item.agentId === c.agentId)).toHaveLength(1);

    // Act 3: a push to a secure app; its rewrap request, twice, on whichever key server it went to.
    const { rewrapped, log: rewrapLog, pushed } = await securePush([a, b, c]);

    // Assess 3
    expect(pushed.code, pushed.stderr).toBe(0);
    const release = JSON.parse(pushed.stdout) as { releaseId: string; state: string };
    expect(release.state).toBe('ready');
    expect(rewrapLog.match(/"msg":"request answered"[^\n]*"type":"rewrap-release-key"/g)).toHaveLength(2);
    const rewrapEntries = (await journalOf(rewrapped.agent)).filter((entry) => entry.requestId === rewrapped.requestId);
    expect(rewrapEntries).toHaveLength(1);
    const sealed = await items('RELEASE#');
    expect(sealed).toHaveLength(1);
    expect(sealed[0]!.wrappedReleaseKey).toBe((rewrapEntries[0]!.result as { wrappedReleaseKey: string }).wrappedReleaseKey);

    // Assess, for all three: each request closed once, with one audit event, and no reply was
    // left over or sent to the dead-letter queue.
    for (const { requestId } of [created, shared, rewrapped]) {
      const events = await auditFor(requestId);
      expect(events).toEqual([expect.objectContaining({ outcome: 'succeeded', target: { type: 'agent-request', id: requestId } })]);
    }
    await waitFor('the reply queue to be empty', async () => ((await queueDepth(env.AGENT_REPLY_QUEUE_URL!)) === 0 ? true : undefined));
  });

  it('issue-deployment-grant and deploy-release: one grant request, one install, and the deployment succeeds once', { timeout: 240_000 }, async () => {
    // Prepare: two key servers, a target for production, a sealed secure release.
    const { cli, account, enrol, keyServers, securePush, twice } = await accountWithManualAgents();
    await cli.json(['envs', 'create', 'production']);
    const { a, b } = await keyServers();
    const target = await enrol('web-1', 'target', ['production']);
    const { pushed } = await securePush([a, b]);
    expect(pushed.code, pushed.stderr).toBe(0);

    // Act: deploy; the grant request, then the deploy request, each reaches its agent twice.
    const started = await cli.json<Deployment>(['deploy', 'vault', '1.0.0', 'production']);
    const granted = await twice([a, b], 'issue-deployment-grant');
    const grantLog = await drain(granted.agent);
    const installed = await twice([target], 'deploy-release');
    const installLog = await drain(target);
    const ended = await cli.until('the deployment to end', ['status', started.deploymentId], (d: Deployment) => (['Succeeded', 'Failed'].includes(d.state) ? d : undefined), 60_000);

    // Assess: each agent answered twice from one journal entry; the backend sent one request of
    // each kind; the deployment succeeded, once.
    expect(ended.state, ended.outcome?.reason).toBe('Succeeded');
    expect(ended.history.filter((h) => h.to === 'Succeeded')).toHaveLength(1);
    for (const [log, type] of [[grantLog, 'issue-deployment-grant'], [installLog, 'deploy-release']] as const) {
      expect(log.match(new RegExp(`"msg":"request answered"[^\\n]*"type":"${type}"`, 'g'))).toHaveLength(2);
      expect(log).toContain('request already answered; sending the same answer');
    }
    expect((await journalOf(granted.agent)).filter((entry) => entry.requestId === granted.requestId)).toHaveLength(1);
    expect((await journalOf(target)).filter((entry) => entry.requestId === installed.requestId)).toHaveLength(1);
    const { Items: requests = [] } = await dynamo.send(
      new QueryCommand({
        TableName: env.DIRECTORY_TABLE!,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': `ACCOUNT#${account.accountId}`, ':prefix': 'REQUEST#' },
        ConsistentRead: true,
      }),
    );
    // Both deploy requests are recorded as `deploy` requests.
    expect(requests.filter((r) => r.type === 'deploy').map((r) => r.requestId).sort()).toEqual([granted.requestId, installed.requestId].sort());
  });
});
