import { randomBytes, randomUUID } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageBatchCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { CreateStateMachineCommand, DescribeExecutionCommand, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateRawKeyPair } from '#shared/crypto/index.ts';
import type { Refusal } from '#shared/domain/agents/refused-messages.ts';
import { targetRequestId } from '#shared/domain/deploys/deploys.ts';
import { MAX_REPLY_BYTES } from '#shared/protocol/agent-messages.ts';
import { agentIdFor, signAgentMessage, toB64 } from '#shared/protocol/trust.ts';
import { newAccount } from '../support/accounts.ts';
import { enrolAgent, registerOwnerKey } from '../support/agents.ts';
import { localClients, waitFor } from '../support/clients.ts';
import { consumerAnswersAnyStateMachine, useOwnStack } from '../support/own-stack.ts';

// The consumer answers this file's own state machine: a stack whose consumer may (see
// own-stack.ts), logging at DEBUG to a file of its own, which the refusals are read from.
const stackLog = path.join(tmpdir(), `latchkey-reply-fuzz-${process.pid}-${Date.now()}.log`);
let sfn: ReturnType<typeof localClients>['sfn'];
let sqs: ReturnType<typeof localClients>['sqs'];
let dynamo: ReturnType<typeof localClients>['dynamo'];
let env: ReturnType<typeof localClients>['env'];
let replyQueueUrl: string;
const hexId = (prefix: string) => `${prefix}_${randomBytes(16).toString('hex')}`;
const idArbitrary = (prefix: string) => fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => `${prefix}_${Buffer.from(b).toString('hex')}`);

type Agent = Awaited<ReturnType<typeof enrolAgent>>;
/** A message to put on the reply queue, with what the consumer must make of it. */
type Bad = { body: string; refusal: Refusal; audited: boolean };
type Refused = { messageId: string; refusal: Refusal; audited: boolean };

/** Reads the stack's log as it grows, keeping the consumer's refusals by SQS message id. */
const refusalLog = async () => {
  const file = await open(stackLog, 'r');
  let position = (await file.stat()).size;
  let partial = '';
  const refused = new Map<string, Refused[]>();
  const read = async () => {
    const { size } = await file.stat();
    if (size <= position) return;
    const chunk = Buffer.alloc(size - position);
    await file.read(chunk, 0, chunk.length, position);
    position = size;
    const lines = (partial + chunk.toString('utf8')).split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      if (!line.includes('agent message refused')) continue;
      const entry = JSON.parse(line) as Refused & { message: string };
      refused.set(entry.messageId, [...(refused.get(entry.messageId) ?? []), { messageId: entry.messageId, refusal: entry.refusal, audited: entry.audited }]);
    }
  };
  return { refused, read, close: () => file.close() };
};

/**
 * Messages derived from genuine signed replies and heartbeats by breaking one thing each: the
 * bytes, the size, the schema, the signature, or what they answer. Each is refused by the reply
 * consumer, audited in account A exactly when it names an agent on record there, and changes
 * no state: no request closed, no deployment report recorded, no agent marked seen.
 */
describe('agent reply fuzz: malformed and forged messages on the real reply queue', () => {
  useOwnStack({ POWERTOOLS_LOG_LEVEL: 'DEBUG' }, { logPath: stackLog, assembly: consumerAnswersAnyStateMachine });
  afterAll(() => rm(stackLog, { force: true }));
  let accountA: Awaited<ReturnType<typeof newAccount>>;
  let accountB: Awaited<ReturnType<typeof newAccount>>;
  let target: Agent; // the agent the genuine messages come from
  let peer: Agent; // another target of account A
  let removed: Agent; // a target of account A, removed
  let outsider: Agent; // a target of account B
  const deployments = { mine: hexId('dep'), peers: hexId('dep') };
  const releaseId = hexId('rel');
  let requests: { mine: string; peers: string };
  let executionArn: string;
  let taskToken: string;

  /** Every item of the accounts' partitions (the audit logs live apart, under AUDIT#). */
  const snapshot = async () => {
    const items: string[] = [];
    for (const table of [env.DIRECTORY_TABLE!, env.DEPLOYMENTS_TABLE!, env.WRAPPED_KEYS_TABLE!]) {
      for (const accountId of [accountA.accountId, accountB.accountId]) {
        let start: Record<string, unknown> | undefined;
        do {
          const page = await dynamo.send(
            new QueryCommand({ TableName: table, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': `ACCOUNT#${accountId}` }, ConsistentRead: true, ...(start ? { ExclusiveStartKey: start } : {}) }),
          );
          items.push(...(page.Items ?? []).map((item) => JSON.stringify(item)));
          start = page.LastEvaluatedKey;
        } while (start);
      }
    }
    return items.sort();
  };

  /** The audit events of an account that name a queue message, by its id. */
  const auditedMessages = async (accountId: string) => {
    const events = new Map<string, string[]>();
    let start: Record<string, unknown> | undefined;
    do {
      const page = await dynamo.send(
        new QueryCommand({ TableName: env.DEPLOYMENTS_TABLE!, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': `AUDIT#${accountId}` }, ConsistentRead: true, ...(start ? { ExclusiveStartKey: start } : {}) }),
      );
      for (const event of page.Items ?? []) {
        if (event.action !== 'agents:message-refused') continue;
        const id = (event.target as { id: string }).id;
        events.set(id, [...(events.get(id) ?? []), event.reason as string]);
      }
      start = page.LastEvaluatedKey;
    } while (start);
    return events;
  };

  const putItem = (table: string, item: Record<string, unknown>) => dynamo.send(new PutCommand({ TableName: table, Item: item }));

  beforeAll(async () => {
    ({ sfn, sqs, dynamo, env } = localClients());
    replyQueueUrl = env.AGENT_REPLY_QUEUE_URL!;
    [accountA, accountB] = await Promise.all([newAccount(), newAccount()]);
    const environmentOf = async (account: typeof accountA) => {
      const created = await account.owner('POST', '/environments', { name: `fuzz-${randomUUID().slice(0, 8)}` });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      return created.body.environmentId as string;
    };
    const [keyA, keyB, envA, envB] = await Promise.all([registerOwnerKey(accountA.owner), registerOwnerKey(accountB.owner), environmentOf(accountA), environmentOf(accountB)]);
    [target, peer, removed, outsider] = await Promise.all([
      enrolAgent(accountA.owner, keyA, 'target', [envA]),
      enrolAgent(accountA.owner, keyA, 'target', [envA]),
      enrolAgent(accountA.owner, keyA, 'target', [envA]),
      enrolAgent(accountB.owner, keyB, 'target', [envB]),
    ]);
    // The owner's signed removal first, as `latchkey agents remove` records it.
    await removed.confirm({ status: 'removed', version: 2 });
    expect((await accountA.owner('DELETE', `/agents/${removed.agentId}`)).status).toBe(200);

    // A workflow waiting on the target's report, as the deploy step leaves one: the test stands
    // in for the dispatcher and records the requests it sent, one to the target, one to its peer.
    const { QueueUrl: askQueueUrl } = (await sqs.send(new CreateQueueCommand({ QueueName: `fuzz-${randomUUID()}` }))) as { QueueUrl: string };
    const { stateMachineArn } = await sfn.send(
      new CreateStateMachineCommand({
        name: `fuzz-${randomUUID()}`,
        roleArn: 'arn:aws:iam::000000000000:role/x',
        definition: JSON.stringify({
          StartAt: 'Ask',
          States: {
            Ask: { Type: 'Task', Resource: 'arn:aws:states:::sqs:sendMessage.waitForTaskToken', Parameters: { QueueUrl: askQueueUrl, MessageBody: { 'taskToken.$': '$$.Task.Token' } }, TimeoutSeconds: 600, End: true },
          },
        }),
      }),
    );
    ({ executionArn } = (await sfn.send(new StartExecutionCommand({ stateMachineArn, input: '{}' }))) as { executionArn: string });
    taskToken = await waitFor('the task token on the ask queue', async () => {
      const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: askQueueUrl, WaitTimeSeconds: 1 }));
      return Messages[0] ? (JSON.parse(Messages[0].Body!) as { taskToken: string }).taskToken : undefined;
    });
    requests = { mine: targetRequestId(deployments.mine, target.agentId), peers: targetRequestId(deployments.peers, peer.agentId) };
    const accountId = accountA.accountId;
    for (const [agent, deploymentId, requestId] of [[target, deployments.mine, requests.mine], [peer, deployments.peers, requests.peers]] as const) {
      await putItem(env.DEPLOYMENTS_TABLE!, { pk: `ACCOUNT#${accountId}`, sk: `DEPLOYMENT#${deploymentId}`, accountId, deploymentId, releaseId, state: 'InProgress', deployTargets: [agent.agentId], targetReports: {} });
      await putItem(env.DEPLOYMENTS_TABLE!, { pk: `ACCOUNT#${accountId}`, sk: `DEPLOYREQ#${requestId}`, kind: 'deploy-request', deploymentId, agentId: agent.agentId });
      await putItem(env.DIRECTORY_TABLE!, {
        pk: `ACCOUNT#${accountId}`, sk: `REQUEST#${requestId}`, kind: 'agent-request', accountId, requestId, type: 'deploy', agentId: agent.agentId,
        releaseId, version: 1, state: 'pending', createdAt: new Date().toISOString(), ...(agent === target ? { taskToken } : {}),
      });
    }
  });

  /** The target's genuine report on its own request: the source every bad message is derived from. */
  const genuine = (overrides: Record<string, unknown> = {}) => ({
    type: 'reply',
    accountId: accountA.accountId,
    agentId: target.agentId,
    requestId: requests.mine,
    taskToken,
    outcome: 'succeeded',
    result: { deploymentId: deployments.mine, releaseId, current: 'releases/1', output: 'installed' },
    ...overrides,
  });
  const json = (message: unknown) => JSON.stringify(message);

  const badMessages = (): fc.Arbitrary<Bad> => {
    const notJson = fc.oneof(
      fc.string({ minLength: 1, maxLength: 200 }).filter((s) => s.trim().length > 0),
      fc.nat().map((n) => {
        const body = json(target.sign(genuine()));
        return body.slice(0, n % (body.length - 1)) || '{';
      }),
    ).map((body): Bad => {
      try {
        JSON.parse(body);
        return { body, refusal: 'Malformed', audited: false };
      } catch {
        return { body, refusal: 'NotJson', audited: false };
      }
    });

    // Signed by the very agent it names, but over the limit: refused before it is read.
    const tooLarge = fc.tuple(fc.integer({ min: 1, max: 20_000 }), fc.boolean()).map(([excess, inside]): Bad => {
      const signed = target.sign(genuine());
      const body = inside
        ? json(target.sign(genuine({ result: { ...(signed.result as object), output: 'x'.repeat(MAX_REPLY_BYTES + excess) } })))
        : `${json(signed)}${' '.repeat(MAX_REPLY_BYTES + excess - json(signed).length)}`;
      return { body, refusal: 'TooLarge', audited: false };
    });

    const fields = ['type', 'accountId', 'agentId', 'requestId', 'outcome', 'result', 'signature', 'taskToken'] as const;
    const unattributable = (field: string) => field === 'accountId' || field === 'agentId';
    const wrongSchema = fc.oneof(
      fc.record({ field: fc.constantFrom(...fields.filter((f) => f !== 'taskToken')), resign: fc.boolean() }).map(({ field, resign }): Bad => {
        const { [field]: _dropped, ...rest } = target.sign(genuine()) as Record<string, unknown>;
        const { signature: _signature, ...unsigned } = rest;
        const body = json(resign && field !== 'signature' ? target.sign(unsigned) : rest);
        return { body, refusal: 'Malformed', audited: !unattributable(field) };
      }),
      fc.record({ field: fc.constantFrom(...fields), value: fc.constantFrom<unknown>(null, 42, true, [], 'bogus', '') }).map(({ field, value }): Bad => {
        // `{}` would still be a result, and 'bogus' is a task token: leave those two out.
        const wrong = field === 'taskToken' && value === 'bogus' ? 7 : value;
        const body = json({ ...target.sign(genuine()), [field]: wrong });
        return { body, refusal: 'Malformed', audited: !unattributable(field) };
      }),
      fc.record({ key: fc.constantFrom('extra', 'error', 'at', 'constructor'), value: fc.jsonValue() }).map(({ key, value }): Bad => ({
        body: json(target.sign({ ...genuine(), [key]: value })),
        refusal: 'Malformed',
        audited: true,
      })),
    );

    const forged = fc.oneof(
      // Signed by another enrolled agent: of this account, of another, or removed.
      fc.record({ signer: fc.constantFrom('peer', 'outsider', 'removed'), requestId: fc.constantFrom('mine', 'peers') }).map(({ signer, requestId }): Bad => {
        const by = { peer, outsider, removed }[signer];
        return { body: json(by.sign(genuine({ requestId: requests[requestId] }))), refusal: 'BadSignature', audited: true };
      }),
      // Signed by nobody: any 64 bytes.
      fc.uint8Array({ minLength: 64, maxLength: 64 }).map((bytes): Bad => ({ body: json({ ...genuine(), signature: toB64(bytes) }), refusal: 'BadSignature', audited: true })),
      // A genuine signature over something else: one field changed after signing.
      fc.constantFrom('requestId', 'output', 'outcome', 'taskToken').chain((field) =>
        idArbitrary('req').map((otherRequest): Bad => {
          const { signature } = target.sign(genuine());
          const changed = {
            requestId: { requestId: otherRequest },
            output: { result: { ...genuine().result, output: 'installed twice' } },
            outcome: { outcome: 'failed', result: undefined, error: { code: 'Refused', message: 'no' } },
            taskToken: { taskToken: `${taskToken}x` },
          }[field];
          return { body: json({ ...genuine(changed), signature }), refusal: 'BadSignature', audited: true };
        }),
      ),
    );

    const misdirected = fc.oneof(
      idArbitrary('req').map((requestId): Bad => ({ body: json(target.sign(genuine({ requestId }))), refusal: 'UnknownRequest', audited: true })),
      fc.boolean().map((failed): Bad => {
        const toPeer = genuine({ requestId: requests.peers, result: { ...genuine().result, deploymentId: deployments.peers } });
        const message = failed ? { ...toPeer, result: undefined, outcome: 'failed', error: { code: 'InstallFailed', message: 'x' } } : toPeer;
        return { body: json(target.sign(JSON.parse(json(message)) as Record<string, unknown>)), refusal: 'NotThisAgentsRequest', audited: true };
      }),
      fc.oneof(fc.constant(deployments.peers), idArbitrary('dep')).map((deploymentId): Bad => ({
        body: json(target.sign(genuine({ result: { ...genuine().result, deploymentId } }))),
        refusal: 'ReportForAnotherDeployment',
        audited: true,
      })),
    );

    const heartbeats = fc.oneof(
      fc.constant(null).map((): Bad => {
        // A key nobody enrolled, naming its own agent id.
        const key = generateRawKeyPair('ed25519');
        const message = { type: 'heartbeat', accountId: accountA.accountId, agentId: agentIdFor(key.publicKey), at: new Date().toISOString() };
        return { body: json({ ...message, signature: signAgentMessage(key.privateKey, message) }), refusal: 'UnknownAgent', audited: false };
      }),
      // The target's own heartbeat, naming an account it is not enrolled in.
      fc.constant(null).map((): Bad => ({
        body: json(target.sign({ type: 'heartbeat', accountId: accountB.accountId, agentId: target.agentId, at: new Date().toISOString() })),
        refusal: 'UnknownAgent',
        audited: false,
      })),
      fc.constant(null).map((): Bad => ({ body: json(removed.heartbeat()), refusal: 'RemovedAgent', audited: true })),
    );

    return fc.oneof(notJson, tooLarge, wrongSchema, forged, misdirected, heartbeats);
  };

  it('refuses each one, audits it where it names an agent on record, writes nothing, and keeps consuming', async () => {
    const log = await refusalLog();
    const before = await snapshot();
    const sent: (Bad & { messageId: string })[] = [];
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(badMessages(), { minLength: 1, maxLength: 6 }), async (burst) => {
          // One by one: a batch request may carry 256 KiB in all, and some of these are large.
          const batch = await Promise.all(
            burst.map(async (bad) => ({ ...bad, messageId: (await sqs.send(new SendMessageCommand({ QueueUrl: replyQueueUrl, MessageBody: bad.body }))).MessageId! })),
          );
          sent.push(...batch);

          await waitFor(`the consumer to refuse ${batch.length} messages`, async () => {
            await log.read();
            return batch.every((m) => log.refused.has(m.messageId)) ? true : undefined;
          });
          const audit = await auditedMessages(accountA.accountId);
          for (const m of batch) {
            const what = `${m.refusal}: ${m.body.slice(0, 200)}`;
            expect(log.refused.get(m.messageId)![0], what).toEqual({ messageId: m.messageId, refusal: m.refusal, audited: m.audited });
            if (m.audited) expect(audit.get(m.messageId)?.[0], what).toMatch(new RegExp(`^${m.refusal}: agent agt_[0-9a-f]{32}`));
            else expect(audit.has(m.messageId), what).toBe(false);
          }
          expect(await snapshot()).toEqual(before);
        }),
        // Each run is a round trip through the stack: report the first counterexample rather than shrink it.
        { numRuns: 40, endOnFailure: true },
      );
    } finally {
      await log.close();
    }
    // The run is only worth something if every kind of refusal came up.
    const kinds: Refusal[] = ['TooLarge', 'NotJson', 'Malformed', 'UnknownAgent', 'BadSignature', 'RemovedAgent', 'UnknownRequest', 'NotThisAgentsRequest', 'ReportForAnotherDeployment'];
    expect(new Set(sent.map((m) => m.refusal))).toEqual(new Set(kinds));
    // Refusals name no payload: what an audit event says is the refusal and ids.
    const auditA = await auditedMessages(accountA.accountId);
    for (const reasons of auditA.values()) for (const reason of reasons) expect(reason).toMatch(/^[A-Za-z]+: agent agt_[0-9a-f]{32}(, request req_[0-9a-f]{32})?$/);
    // Nothing was audited in the account of the agents that signed forgeries in A's name.
    const auditB = await auditedMessages(accountB.accountId);
    expect(sent.filter((m) => auditB.has(m.messageId))).toEqual([]);
    const verified = await accountA.owner('GET', '/audit/verify');
    expect(verified.body).toMatchObject({ valid: true });

    // None was handed back for a retry: the queue is empty, nothing in flight.
    await waitFor('the reply queue to drain', async () => {
      const { Attributes = {} } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: replyQueueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }));
      return Attributes.ApproximateNumberOfMessages === '0' && Attributes.ApproximateNumberOfMessagesNotVisible === '0' ? true : undefined;
    });
    expect((await sfn.send(new DescribeExecutionCommand({ executionArn }))).status).toBe('RUNNING');

    // After the bursts, the genuine report is taken promptly: recorded and the wait resumed.
    const started = Date.now();
    await sqs.send(new SendMessageCommand({ QueueUrl: replyQueueUrl, MessageBody: json(target.sign(genuine())) }));
    const done = await waitFor('the genuine report to resume the workflow', async () => {
      const described = await sfn.send(new DescribeExecutionCommand({ executionArn }));
      return described.status === 'RUNNING' ? undefined : described;
    });
    expect(done.status).toBe('SUCCEEDED');
    expect(Date.now() - started).toBeLessThan(10_000);
    const { Item } = await dynamo.send(new GetCommand({ TableName: env.DEPLOYMENTS_TABLE!, Key: { pk: `ACCOUNT#${accountA.accountId}`, sk: `DEPLOYMENT#${deployments.mine}` }, ConsistentRead: true }));
    expect(Item?.targetReports).toMatchObject({ [target.agentId]: { outcome: 'succeeded', current: 'releases/1' } });
  });

  it('a burst of forged messages in one account\'s name is refused and audited in full, and a heartbeat sent behind it is still taken', async () => {
    const log = await refusalLog();
    const BURST = 100;
    // Half forged in the target's name (each audited in account A: the appends contend for the
    // chain's head), half not JSON; sent ten to a request, as fast as the queue takes them.
    const bodies = Array.from({ length: BURST }, (_, i) => (i % 2 ? json(peer.sign(genuine({ requestId: hexId('req') }))) : `not json ${i}`));
    const messageIds: string[] = [];
    try {
      const burstAt = Date.now();
      for (let i = 0; i < bodies.length; i += 10) {
        const { Successful = [] } = await sqs.send(
          new SendMessageBatchCommand({ QueueUrl: replyQueueUrl, Entries: bodies.slice(i, i + 10).map((body, j) => ({ Id: String(j), MessageBody: body })) }),
        );
        messageIds.push(...Successful.sort((x, y) => Number(x.Id) - Number(y.Id)).map((s) => s.MessageId!));
      }
      expect(messageIds).toHaveLength(BURST);
      const sentAt = Date.now();
      const heartbeat = target.heartbeat();
      await sqs.send(new SendMessageCommand({ QueueUrl: replyQueueUrl, MessageBody: json(heartbeat) }));
      await waitFor(
        'the heartbeat sent behind the burst to be recorded',
        async () => {
          const { Item } = await dynamo.send(new GetCommand({ TableName: env.DIRECTORY_TABLE!, Key: { pk: `ACCOUNT#${accountA.accountId}`, sk: `AGENT#${target.agentId}` }, ConsistentRead: true }));
          return Item?.lastHeartbeatAt === heartbeat.at ? true : undefined;
        },
        30_000,
      );
      // Promptly: behind the burst, the heartbeat waits about as long as the burst takes to refuse.
      const waitedMs = Date.now() - sentAt;
      expect(waitedMs, `the heartbeat taken ${waitedMs} ms after it was sent (the burst took ${sentAt - burstAt} ms to send)`).toBeLessThan(15_000);
      await waitFor(`the consumer to refuse all ${BURST}`, async () => {
        await log.read();
        return messageIds.every((id) => log.refused.has(id)) ? true : undefined;
      });
      const audit = await auditedMessages(accountA.accountId);
      messageIds.forEach((id, i) => {
        expect(log.refused.get(id)![0]).toEqual({ messageId: id, refusal: i % 2 ? 'BadSignature' : 'NotJson', audited: i % 2 === 1 });
        expect(audit.has(id)).toBe(i % 2 === 1);
      });
      expect((await accountA.owner('GET', '/audit/verify')).body).toMatchObject({ valid: true });
    } finally {
      await log.close();
    }
  });
});
