import { randomUUID } from 'node:crypto';
import { CreateQueueCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import {
  CreateStateMachineCommand,
  DescribeExecutionCommand,
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  StartExecutionCommand,
  StopExecutionCommand,
  TaskTimedOut,
  InvalidToken,
  type DescribeExecutionCommandOutput,
} from '@aws-sdk/client-sfn';
import { beforeAll, describe, expect, it } from 'vitest';
import { localClients, waitFor } from '../support/clients.ts';

// The deployment workflow itself (functions/workflow/deployment.asl.json) is exercised end to
// end by deployments.test.ts; here, the local Step Functions server's own behaviour.
const { sfn, sqs } = localClients();

const settled = (executionArn: string, timeoutMs = 10_000) =>
  waitFor<DescribeExecutionCommandOutput>(
    `execution ${executionArn} to end`,
    async () => {
      const described = await sfn.send(new DescribeExecutionCommand({ executionArn }));
      return described.status === 'RUNNING' ? undefined : described;
    },
    timeoutMs,
  );

/** A trivial machine: hand a task token to a queue, wait for someone to answer it. */
const tokenOnQueue = (queueUrl: string, timeoutSeconds: number) =>
  JSON.stringify({
    StartAt: 'AskSomeone',
    States: {
      AskSomeone: {
        Type: 'Task',
        Resource: 'arn:aws:states:::sqs:sendMessage.waitForTaskToken',
        Parameters: { QueueUrl: queueUrl, MessageBody: { 'question.$': '$.question', 'token.$': '$$.Task.Token' } },
        TimeoutSeconds: timeoutSeconds,
        End: true,
      },
    },
  });

describe('local Step Functions: task tokens', () => {
  let queueUrl: string;
  let machineArn: string;
  let quickMachineArn: string;

  beforeAll(async () => {
    ({ QueueUrl: queueUrl } = (await sqs.send(new CreateQueueCommand({ QueueName: `asks-${randomUUID()}` }))) as { QueueUrl: string });
    ({ stateMachineArn: machineArn } = (await sfn.send(
      new CreateStateMachineCommand({ name: `ask-${randomUUID()}`, definition: tokenOnQueue(queueUrl, 30), roleArn: 'arn:aws:iam::000000000000:role/x' }),
    )) as { stateMachineArn: string });
    ({ stateMachineArn: quickMachineArn } = (await sfn.send(
      new CreateStateMachineCommand({ name: `quick-${randomUUID()}`, definition: tokenOnQueue(queueUrl, 1), roleArn: 'arn:aws:iam::000000000000:role/x' }),
    )) as { stateMachineArn: string });
  });

  const nextToken = async (question: string) =>
    waitFor(`the task token for ${question}`, async () => {
      const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 1, MaxNumberOfMessages: 10 }));
      const bodies = Messages.map((m) => JSON.parse(m.Body!) as { question: string; token: string });
      return bodies.find((b) => b.question === question)?.token;
    });

  it('ends a wait with SendTaskSuccess, passing its output on', async () => {
    const question = randomUUID();
    const { executionArn } = await sfn.send(new StartExecutionCommand({ stateMachineArn: machineArn, input: JSON.stringify({ question }) }));
    const token = await nextToken(question);
    await sfn.send(new SendTaskHeartbeatCommand({ taskToken: token }));

    await sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: JSON.stringify({ answer: 42 }) }));

    const done = await settled(executionArn!);
    expect(done.status).toBe('SUCCEEDED');
    expect(JSON.parse(done.output!)).toEqual({ answer: 42 });
    // The token is spent: a second answer is refused as the real service refuses it.
    await expect(sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: '{}' }))).rejects.toBeInstanceOf(TaskTimedOut);
  });

  it('fails the execution with the error given to SendTaskFailure', async () => {
    const question = randomUUID();
    const { executionArn } = await sfn.send(new StartExecutionCommand({ stateMachineArn: machineArn, input: JSON.stringify({ question }) }));
    const token = await nextToken(question);

    await sfn.send(new SendTaskFailureCommand({ taskToken: token, error: 'Agent.Refused', cause: 'not enrolled' }));

    const done = await settled(executionArn!);
    expect(done).toMatchObject({ status: 'FAILED', error: 'Agent.Refused', cause: 'not enrolled' });
  });

  it('times a wait out with States.Timeout after TimeoutSeconds, and the token is then dead', async () => {
    const question = randomUUID();
    const { executionArn } = await sfn.send(new StartExecutionCommand({ stateMachineArn: quickMachineArn, input: JSON.stringify({ question }) }));
    const token = await nextToken(question);

    const done = await settled(executionArn!);

    expect(done).toMatchObject({ status: 'FAILED', error: 'States.Timeout' });
    await expect(sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: '{}' }))).rejects.toBeInstanceOf(TaskTimedOut);
  });

  it('stops an execution, closing its wait', async () => {
    const question = randomUUID();
    const { executionArn } = await sfn.send(new StartExecutionCommand({ stateMachineArn: machineArn, input: JSON.stringify({ question }) }));
    const token = await nextToken(question);

    await sfn.send(new StopExecutionCommand({ executionArn, error: 'Canceled', cause: 'by test' }));

    expect((await settled(executionArn!)).status).toBe('ABORTED');
    await expect(sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: '{}' }))).rejects.toBeInstanceOf(TaskTimedOut);
  });

  it('HeartbeatSecondsPath: a wait nobody heartbeats fails with States.HeartbeatTimeout (which a Catch takes); heartbeats keep it alive', { timeout: 30_000 }, async () => {
    // Prepare: a wait whose heartbeat interval comes from the input, as RequestGrant's does.
    const definition = {
      StartAt: 'AskSomeone',
      States: {
        AskSomeone: {
          Type: 'Task',
          Resource: 'arn:aws:states:::sqs:sendMessage.waitForTaskToken',
          Parameters: { QueueUrl: queueUrl, MessageBody: { 'question.$': '$.question', 'token.$': '$$.Task.Token' } },
          TimeoutSeconds: 30,
          HeartbeatSecondsPath: '$.heartbeatSeconds',
          Catch: [{ ErrorEquals: ['States.HeartbeatTimeout'], ResultPath: '$.caught', Next: 'Silent' }],
          End: true,
        },
        Silent: { Type: 'Pass', Parameters: { 'silent.$': '$.caught.Error' }, End: true },
      },
    };
    const { stateMachineArn } = await sfn.send(new CreateStateMachineCommand({ name: `beat-${randomUUID()}`, definition: JSON.stringify(definition), roleArn: 'arn:aws:iam::000000000000:role/x' }));
    const start = async () => {
      const question = randomUUID();
      const { executionArn } = await sfn.send(new StartExecutionCommand({ stateMachineArn, input: JSON.stringify({ question, heartbeatSeconds: 1 }) }));
      return { executionArn: executionArn!, token: await nextToken(question) };
    };

    // Act / Assess 1: silence.
    const silent = await start();
    expect(JSON.parse((await settled(silent.executionArn)).output!)).toEqual({ silent: 'States.HeartbeatTimeout' });
    await expect(sfn.send(new SendTaskHeartbeatCommand({ taskToken: silent.token }))).rejects.toBeInstanceOf(TaskTimedOut);

    // Act / Assess 2: heartbeats every 400 ms for three intervals, then the answer.
    const alive = await start();
    for (let i = 0; i < 8; i += 1) {
      await sfn.send(new SendTaskHeartbeatCommand({ taskToken: alive.token }));
      await new Promise((resolve) => setTimeout(resolve, 400));
    }
    await sfn.send(new SendTaskSuccessCommand({ taskToken: alive.token, output: JSON.stringify({ answer: 'still here' }) }));
    expect(JSON.parse((await settled(alive.executionArn)).output!)).toEqual({ answer: 'still here' });
  });

  it('refuses a token it never issued', async () => {
    await expect(sfn.send(new SendTaskSuccessCommand({ taskToken: 'forged', output: '{}' }))).rejects.toBeInstanceOf(InvalidToken);
  });

  it('starts one execution per name: the same name and input again is the same execution', async () => {
    const name = randomUUID();
    const input = JSON.stringify({ question: name });
    const first = await sfn.send(new StartExecutionCommand({ stateMachineArn: machineArn, name, input }));
    const again = await sfn.send(new StartExecutionCommand({ stateMachineArn: machineArn, name, input }));
    expect(again.executionArn).toBe(first.executionArn);
    await expect(sfn.send(new StartExecutionCommand({ stateMachineArn: machineArn, name, input: '{}' }))).rejects.toMatchObject({
      name: 'ExecutionAlreadyExists',
    });
    await sfn.send(new StopExecutionCommand({ executionArn: first.executionArn }));
  });
});
