import { randomBytes, randomUUID } from 'node:crypto';
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { CreateStateMachineCommand, DescribeExecutionCommand, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { beforeAll, describe, expect, it } from 'vitest';
import { localClients, waitFor } from '../support/clients.ts';

const { sfn, sqs, env } = localClients();
const replyQueueUrl = env.AGENT_REPLY_QUEUE_URL!;
const newId = (prefix: string) => `${prefix}_${randomBytes(16).toString('hex')}`;

/**
 * The agent round trip the design relies on: a workflow task hands a request with its task
 * token to an agent's queue; the agent answers on the shared reply queue; the reply consumer
 * (run by the local event source mapping) resumes the workflow.
 */
describe('agent replies resume waiting workflows', () => {
  let agentQueueUrl: string;
  let machineArn: string;

  beforeAll(async () => {
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
    return { executionArn: executionArn!, ...request };
  };

  const ended = (executionArn: string) =>
    waitFor('the execution to end', async () => {
      const described = await sfn.send(new DescribeExecutionCommand({ executionArn }));
      return described.status === 'RUNNING' ? undefined : described;
    });

  const reply = (body: unknown) => sqs.send(new SendMessageCommand({ QueueUrl: replyQueueUrl, MessageBody: typeof body === 'string' ? body : JSON.stringify(body) }));

  it('a success reply, delivered twice, completes the task once with its result', async () => {
    const { executionArn, requestId, taskToken } = await askAgent();
    const agentId = newId('agt');
    const message = { requestId, agentId, taskToken, outcome: 'succeeded', result: { wrapped: 'ok' } };

    await reply(message);
    await reply(message); // SQS delivers at least once; the duplicate must be harmless.

    const done = await ended(executionArn);
    expect(done.status).toBe('SUCCEEDED');
    expect(JSON.parse(done.output!)).toEqual({ requestId, agentId, result: { wrapped: 'ok' } });
  });

  it('a failure reply fails the task with the agent error', async () => {
    const { executionArn, requestId, taskToken } = await askAgent();

    await reply({ requestId, agentId: newId('agt'), taskToken, outcome: 'failed', error: { code: 'NotEnrolled', message: 'peer not signed by the owner' } });

    const done = await ended(executionArn);
    expect(done).toMatchObject({ status: 'FAILED', error: 'Agent.NotEnrolled' });
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
    await reply({ requestId, agentId: newId('agt'), taskToken, outcome: 'succeeded', result: {} });
    expect((await ended(executionArn)).status).toBe('SUCCEEDED');
  });
});
