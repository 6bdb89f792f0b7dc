import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { executionRecords } from '../../../local/step-functions/execution-records.ts';
import { Executions } from '../../../local/step-functions/executions.ts';

const MACHINE = 'arn:aws:states:us-east-1:000000000000:stateMachine:ask';

/** Hands a task token to a queue and waits for an answer, for `$.windowSeconds`; a timeout ends in TimedOut. */
const definition = {
  StartAt: 'AskSomeone',
  States: {
    AskSomeone: {
      Type: 'Task',
      Resource: 'arn:aws:states:::sqs:sendMessage.waitForTaskToken',
      Parameters: { QueueUrl: 'http://queue', MessageBody: { 'token.$': '$$.Task.Token' } },
      TimeoutSecondsPath: '$.windowSeconds',
      Catch: [{ ErrorEquals: ['States.Timeout'], ResultPath: null, Next: 'TimedOut' }],
      End: true,
    },
    TimedOut: { Type: 'Pass', Result: 'timed out', End: true },
  },
};

/** An in-memory queue: the tokens the waits handed out, in order. */
const fakeQueue = () => {
  const tokens: string[] = [];
  const sqs = {
    send: async (command: SendMessageCommand) => {
      tokens.push((JSON.parse(command.input.MessageBody!) as { token: string }).token);
      return { MessageId: String(tokens.length) };
    },
  } as unknown as SQSClient;
  return { sqs, tokens };
};

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

/** An execution waiting in AskSomeone, then the stack stopping (as on SIGTERM): what a restart finds. */
const stoppedWhileWaiting = async (windowSeconds: number) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'latchkey-resume-'));
  dirs.push(dir);
  const before = fakeQueue();
  const executions = new Executions(before.sqs, executionRecords(dir));
  const started = executions.start(MACHINE, definition, 'run-1', JSON.stringify({ windowSeconds }));
  await vi.waitFor(() => expect(before.tokens).toHaveLength(1));
  executions.stopAll();
  expect(started.status).toBe('ABORTED');
  const [record] = executionRecords(dir).load();
  return { dir, record: record!, oldToken: before.tokens[0]! };
};

describe('Executions.resume (an execution recorded by an earlier run of the local stack)', () => {
  it('a stop leaves the execution recorded as running, with its wait deadline; resumed, it waits again under the same name, input and start date, with a new token', async () => {
    const { dir, record, oldToken } = await stoppedWhileWaiting(3600);
    expect(record).toMatchObject({ status: 'RUNNING', name: 'run-1', input: '{"windowSeconds":3600}' });
    expect(record.waitDeadlines.AskSomeone).toBeGreaterThan(Date.now() + 3500_000);

    const after = fakeQueue();
    const executions = new Executions(after.sqs, executionRecords(dir));
    const resumed = executions.resume(record, definition);
    expect(resumed).toMatchObject({ status: 'RUNNING', name: 'run-1', startDate: record.startDate });
    await vi.waitFor(() => expect(after.tokens).toHaveLength(1));

    expect(() => executions.tokens.succeed(oldToken, '{}')).toThrow('Invalid token');
    executions.tokens.succeed(after.tokens[0]!, '{"answer":"yes"}');
    await vi.waitFor(() => expect(resumed.status).toBe('SUCCEEDED'));
    expect(resumed.output).toBe('{"answer":"yes"}');
    expect(executionRecords(dir).load()).toMatchObject([{ status: 'SUCCEEDED', waitDeadlines: {} }]);
  });

  it('the resumed wait times out at its recorded deadline, not a fresh window', async () => {
    const { dir, record } = await stoppedWhileWaiting(3600);
    const deadline = Date.now() + 300;
    const executions = new Executions(fakeQueue().sqs, executionRecords(dir));
    const resumed = executions.resume({ ...record, waitDeadlines: { AskSomeone: deadline } }, definition);
    await vi.waitFor(() => expect(resumed.status).toBe('SUCCEEDED'), { timeout: 5000 });
    expect(resumed.output).toBe('"timed out"');
    expect(Date.now()).toBeGreaterThanOrEqual(deadline);
  });

  it('a wait whose deadline passed while the stack was down times out at once', async () => {
    const { dir, record } = await stoppedWhileWaiting(3600);
    const executions = new Executions(fakeQueue().sqs, executionRecords(dir));
    const resumed = executions.resume({ ...record, waitDeadlines: { AskSomeone: Date.now() - 1000 } }, definition);
    await vi.waitFor(() => expect(resumed.output).toBe('"timed out"'), { timeout: 2000 });
  });

  it('a finished execution is kept as it ended; one whose state machine is gone fails, saying why', async () => {
    const { dir, record } = await stoppedWhileWaiting(3600);
    const executions = new Executions(fakeQueue().sqs, executionRecords(dir));
    const stopDate = new Date();
    expect(executions.resume({ ...record, status: 'SUCCEEDED', stopDate, output: '1' }, definition)).toMatchObject({ status: 'SUCCEEDED', output: '1' });
    expect(executions.resume({ ...record, name: 'run-2', executionArn: `${record.executionArn}-2` }, undefined)).toMatchObject({
      status: 'FAILED',
      error: 'Local.Resume',
    });
  });
});

describe('a wait entered again after its timeout', () => {
  /** AskSomeone as above, but a timeout asks again (as RequestGrant asks the next key server). */
  const askAgain = {
    StartAt: 'AskSomeone',
    States: { AskSomeone: { ...definition.States.AskSomeone, Catch: [{ ErrorEquals: ['States.Timeout'], ResultPath: null, Next: 'AskSomeone' }] } },
  };

  it('has a token and a deadline of its own: the first wait’s end does not close it, and its answer ends the execution', async () => {
    const queue = fakeQueue();
    const executions = new Executions(queue.sqs);
    const execution = executions.start(MACHINE, askAgain, 'again', '{"windowSeconds":1}');

    await vi.waitFor(() => expect(queue.tokens).toHaveLength(2), { timeout: 5000 });
    expect(() => executions.tokens.succeed(queue.tokens[0]!, '{}')).toThrow('Task Timed Out');
    executions.tokens.succeed(queue.tokens[1]!, '{"answer":"second"}');

    await vi.waitFor(() => expect(execution.status).toBe('SUCCEEDED'), { timeout: 2000 });
    expect(execution.output).toBe('{"answer":"second"}');
    expect(queue.tokens).toHaveLength(2);
  });
});
