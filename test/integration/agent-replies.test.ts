import { randomBytes, randomUUID } from 'node:crypto';
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { CreateStateMachineCommand, DescribeExecutionCommand, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { beforeAll, describe, expect, it } from 'vitest';
import { newAccount } from '../support/accounts.ts';
import { enrolAgent, registerOwnerKey } from '../support/agents.ts';
import { localClients, waitFor } from '../support/clients.ts';
import { consumerAnswersAnyStateMachine, useOwnStack } from '../support/own-stack.ts';

const newId = (prefix: string) => `${prefix}_${randomBytes(16).toString('hex')}`;

/**
 * The agent round trip the design relies on: a workflow task hands a request with its task
 * token to an agent's queue; the agent answers on the shared reply queue; the reply consumer
 * (run by the local event source mapping) resumes the workflow.
 */
describe('agent replies resume waiting workflows', () => {
  // The consumer answers this file's own state machines: a stack whose consumer may (see own-stack.ts).
  useOwnStack({}, { assembly: consumerAnswersAnyStateMachine });
  let sfn: ReturnType<typeof localClients>['sfn'];
  let sqs: ReturnType<typeof localClients>['sqs'];
  let env: ReturnType<typeof localClients>['env'];
  let replyQueueUrl: string;
  let agentQueueUrl: string;
  let machineArn: string;
  let agent: Awaited<ReturnType<typeof enrolAgent>>;
  let impostor: Awaited<ReturnType<typeof enrolAgent>>;

  beforeAll(async () => {
    ({ sfn, sqs, env } = localClients());
    replyQueueUrl = env.AGENT_REPLY_QUEUE_URL!;
    const a = await newAccount();
    const ownerKey = await registerOwnerKey(a.owner);
    agent = await enrolAgent(a.owner, ownerKey);
    const b = await newAccount();
    impostor = await enrolAgent(b.owner, await registerOwnerKey(b.owner));
    ({ QueueUrl: agentQueueUrl } = (await sqs.send(new CreateQueueCommand({ QueueName: `agent-${randomUUID()}` }))) as { QueueUrl: string });
    const definition = {
      StartAt: 'AskAgent',
      States: {
        AskAgent: {
          Type: 'Task',
          Resource: 'arn:aws:states:::sqs:sendMessage.waitForTaskToken',
          Parameters: { QueueUrl: agentQueueUrl, MessageBody: { 'requestId.$': '$.requestId', 'taskToken.$': '$$.Task.Token' } },
          TimeoutSeconds: 30,
          End: true,
        },
      },
    };
    ({ stateMachineArn: machineArn } = (await sfn.send(
      new CreateStateMachineCommand({ name: `agent-${randomUUID()}`, definition: JSON.stringify(definition), roleArn: 'arn:aws:iam::000000000000:role/x' }),
    )) as { stateMachineArn: string });
  });

  const askAgent = async () => {
    const requestId = newId('req');
    const { executionArn } = await sfn.send(new StartExecutionCommand({ stateMachineArn: machineArn, input: JSON.stringify({ requestId }) }));
    const request = await waitFor('the request on the agent queue', async () => {
      const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: agentQueueUrl, WaitTimeSeconds: 1, MaxNumberOfMessages: 10 }));
      return Messages.map((m) => JSON.parse(m.Body!) as { requestId: string; taskToken: string }).find((m) => m.requestId === requestId);
    });
    // The backend records every request it sends; here the test stands in for the dispatcher.
    const { PutCommand } = await import('@aws-sdk/lib-dynamodb');
    await localClients().dynamo.send(
      new PutCommand({
        TableName: env.DIRECTORY_TABLE!,
        Item: {
          pk: `ACCOUNT#${agent.accountId}`, sk: `REQUEST#${requestId}`, accountId: agent.accountId, requestId, type: 'deploy',
          agentId: agent.agentId, taskToken: request.taskToken, version: 1, state: 'pending', createdAt: new Date().toISOString(),
        },
      }),
    );
    return { executionArn: executionArn!, ...request };
  };

  const ended = (executionArn: string) =>
    waitFor('the execution to end', async () => {
      const described = await sfn.send(new DescribeExecutionCommand({ executionArn }));
      return described.status === 'RUNNING' ? undefined : described;
    });

  const reply = (body: unknown) => sqs.send(new SendMessageCommand({ QueueUrl: replyQueueUrl, MessageBody: typeof body === 'string' ? body : JSON.stringify(body) }));
  const signed = (message: Record<string, unknown>) => agent.sign({ type: 'reply', accountId: agent.accountId, agentId: agent.agentId, ...message });

  it('a success reply, delivered twice, completes the task once with its result', async () => {
    const { executionArn, requestId, taskToken } = await askAgent();
    const agentId = agent.agentId;
    const message = signed({ requestId, taskToken, outcome: 'succeeded', result: { wrapped: 'ok' } });

    await reply(message);
    await reply(message); // SQS delivers at least once; the duplicate must be harmless.

    const done = await ended(executionArn);
    expect(done.status).toBe('SUCCEEDED');
    expect(JSON.parse(done.output!)).toEqual({ requestId, agentId, result: { wrapped: 'ok' } });
  });

  it('a failure reply fails the task with the agent error', async () => {
    const { executionArn, requestId, taskToken } = await askAgent();

    await reply(signed({ requestId, taskToken, outcome: 'failed', error: { code: 'NotEnrolled', message: 'peer not signed by the owner' } }));

    const done = await ended(executionArn);
    expect(done).toMatchObject({ status: 'FAILED', error: 'Agent.NotEnrolled' });
  });

  it('ignores a reply that is not signed by the agent it names, even from another enrolled agent', async () => {
    const { executionArn, requestId, taskToken } = await askAgent();
    const forged = { type: 'reply', accountId: agent.accountId, agentId: agent.agentId, requestId, taskToken, outcome: 'succeeded', result: {} };
    await reply(impostor.sign(forged)); // signed, but by another agent's key
    await reply(signed({ requestId: newId('req'), taskToken, outcome: 'succeeded', result: {} })); // its own key, another request
    await reply({ ...forged, signature: 'A'.repeat(86) });
    await reply(impostor.sign({ ...forged, accountId: impostor.accountId, agentId: impostor.agentId })); // a real agent of another account
    // Still waiting: only the genuine reply ends it.
    expect((await sfn.send(new DescribeExecutionCommand({ executionArn }))).status).toBe('RUNNING');
    await reply(signed({ requestId, taskToken, outcome: 'succeeded', result: { genuine: true } }));
    expect(JSON.parse((await ended(executionArn)).output!).result).toEqual({ genuine: true });
  });

  it('marks the agent seen on a signed heartbeat', async () => {
    await reply(agent.heartbeat());
    const { dynamo } = localClients();
    const { GetCommand } = await import('@aws-sdk/lib-dynamodb');
    await waitFor('the heartbeat to be recorded', async () => {
      const { Item } = await dynamo.send(new GetCommand({ TableName: env.DIRECTORY_TABLE!, Key: { pk: `ACCOUNT#${agent.accountId}`, sk: `AGENT#${agent.agentId}` }, ConsistentRead: true }));
      return Item?.lastSeenAt ? true : undefined;
    });
  });

  it('drops malformed replies without retrying them or stopping the consumer', async () => {
    const attributes = async () =>
      (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: replyQueueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }))).Attributes!;

    await reply('not json at all');
    await reply({ requestId: 'nope', outcome: 'succeeded' });
    await reply({ requestId: newId('req'), agentId: newId('agt'), outcome: 'succeeded', result: {}, extra: 'field' });

    await waitFor('the reply queue to drain', async () => {
      const a = await attributes();
      return a.ApproximateNumberOfMessages === '0' && a.ApproximateNumberOfMessagesNotVisible === '0' ? true : undefined;
    });
    // The consumer still works afterwards.
    const { executionArn, requestId, taskToken } = await askAgent();
    await reply(signed({ requestId, taskToken, outcome: 'succeeded', result: {} }));
    expect((await ended(executionArn)).status).toBe('SUCCEEDED');
  });
});
