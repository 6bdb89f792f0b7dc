import { randomBytes, randomUUID } from 'node:crypto';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { SQSRecord } from 'aws-lambda';
import { beforeAll, describe, expect, it } from 'vitest';
import { newAccount } from '../support/accounts.ts';
import { enrolAgent, registerOwnerKey } from '../support/agents.ts';
import { localClients } from '../support/clients.ts';

const { dynamo, env, endpoints } = localClients();

/**
 * SQS delivers at least once: Lambda hands the consumer the same message (same message id)
 * again when a delete is lost or a run outlives the visibility timeout. The queue cannot be made
 * to do that on demand, so the test is the event source: it runs the reply consumer in its own
 * process, configured as the local stack configures it, against the stack's tables.
 */
const replyConsumer = async () => {
  Object.assign(process.env, env, {
    AWS_REGION: endpoints.region,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodb,
    AWS_ENDPOINT_URL_SQS: endpoints.sqs,
    AWS_ENDPOINT_URL_SFN: endpoints.stepFunctions,
    POWERTOOLS_LOG_LEVEL: 'ERROR',
    POWERTOOLS_TRACE_ENABLED: 'false',
  });
  return (await import('../../functions/agents/consume-agent-replies.ts')).consumeAgentReply;
};

const record = (messageId: string, body: string): SQSRecord => ({
  messageId,
  receiptHandle: randomUUID(),
  body,
  attributes: { ApproximateReceiveCount: '1', SentTimestamp: String(Date.now()), SenderId: 'local', ApproximateFirstReceiveTimestamp: String(Date.now()) },
  messageAttributes: {},
  md5OfBody: '',
  eventSource: 'aws:sqs',
  eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:replies',
  awsRegion: endpoints.region,
});

const refusalsOf = async (accountId: string, messageId: string) => {
  const { Items = [] } = await dynamo.send(
    new QueryCommand({ TableName: env.DEPLOYMENTS_TABLE!, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': `AUDIT#${accountId}` }, ConsistentRead: true }),
  );
  return Items.filter((event) => event.action === 'agents:message-refused' && (event.target as { id: string }).id === messageId);
};

describe('a refused agent message delivered more than once', () => {
  let consume: Awaited<ReturnType<typeof replyConsumer>>;
  let account: Awaited<ReturnType<typeof newAccount>>;
  let agent: Awaited<ReturnType<typeof enrolAgent>>;

  beforeAll(async () => {
    consume = await replyConsumer();
    account = await newAccount();
    agent = await enrolAgent(account.owner, await registerOwnerKey(account.owner), 'keyserver');
  });

  /** A reply in the agent's name for a request nobody sent: refused, and attributable. */
  const refusedBody = () =>
    JSON.stringify(agent.sign({ type: 'reply', accountId: account.accountId, agentId: agent.agentId, requestId: `req_${randomBytes(16).toString('hex')}`, outcome: 'succeeded', result: {} }));

  it('is audited once, one delivery after the other', async () => {
    const delivery = record(randomUUID(), refusedBody());
    await consume(delivery);
    await consume({ ...delivery, receiptHandle: randomUUID(), attributes: { ...delivery.attributes, ApproximateReceiveCount: '2' } });
    const events = await refusalsOf(account.accountId, delivery.messageId);
    expect(events.map((event) => event.reason)).toEqual([expect.stringMatching(/^UnknownRequest: agent /)]);
    expect((await account.owner('GET', '/audit/verify')).body).toMatchObject({ valid: true });
  });

  it('is audited once when two deliveries run at the same time, and a new message is audited again', async () => {
    const body = refusedBody();
    const first = record(randomUUID(), body);
    await Promise.all([consume(first), consume({ ...first, receiptHandle: randomUUID() }), consume({ ...first, receiptHandle: randomUUID() })]);
    expect(await refusalsOf(account.accountId, first.messageId)).toHaveLength(1);
    // The same bytes sent again are a new message, with an id of their own: audited again.
    const resent = record(randomUUID(), body);
    await consume(resent);
    expect(await refusalsOf(account.accountId, resent.messageId)).toHaveLength(1);
  });
});
