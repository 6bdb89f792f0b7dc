import type { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { describe, expect, it, vi } from 'vitest';
import { Executions } from '../../../local/step-functions/executions.ts';

/** Waits for an answer for 1 s; a timeout is caught and the same state waits again (as RequestGrant asks the next key server). */
const askUntilAnswered = {
  StartAt: 'Ask',
  States: {
    Ask: {
      Type: 'Task',
      Resource: 'arn:aws:states:::sqs:sendMessage.waitForTaskToken',
      Parameters: { QueueUrl: 'http://queue', MessageBody: { 'token.$': '$$.Task.Token' } },
      TimeoutSecondsPath: '$.seconds',
      Catch: [{ ErrorEquals: ['States.Timeout'], ResultPath: null, Next: 'Ask' }],
      End: true,
    },
  },
};

describe('a wait entered again after its timeout (local Step Functions)', () => {
  it('has a token and a deadline of its own: the first one’s end does not close it, and its answer ends the execution', async () => {
    const tokens: string[] = [];
    const sqs = {
      send: async (command: SendMessageCommand) => {
        tokens.push((JSON.parse(command.input.MessageBody!) as { token: string }).token);
        return { MessageId: String(tokens.length) };
      },
    } as unknown as SQSClient;
    const executions = new Executions(sqs);
    const execution = executions.start('arn:aws:states:us-east-1:000000000000:stateMachine:ask', askUntilAnswered, 'again', '{"seconds":1}');

    await vi.waitFor(() => expect(tokens).toHaveLength(2), { timeout: 5000 });
    expect(() => executions.tokens.succeed(tokens[0]!, '{}')).toThrow('Task Timed Out');
    executions.tokens.succeed(tokens[1]!, '{"answer":"second"}');

    await vi.waitFor(() => expect(execution.status).toBe('SUCCEEDED'), { timeout: 2000 });
    expect(execution.output).toBe('{"answer":"second"}');
    expect(tokens).toHaveLength(2);
  });
});
