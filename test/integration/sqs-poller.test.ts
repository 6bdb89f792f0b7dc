import { randomUUID } from 'node:crypto';
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import { startSqsPoller } from '../../local/sqs-poller.ts';
import { localClients, waitFor } from '../support/clients.ts';

const { sqs } = localClients();

const queueWithDlq = async (maxReceiveCount: number) => {
  const name = `poller-${randomUUID()}`;
  const { QueueUrl: dlqUrl } = await sqs.send(new CreateQueueCommand({ QueueName: `${name}-dlq` }));
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['QueueArn'] }));
  const { QueueUrl: url } = await sqs.send(
    new CreateQueueCommand({
      QueueName: name,
      Attributes: { VisibilityTimeout: '1', RedrivePolicy: JSON.stringify({ deadLetterTargetArn: Attributes!.QueueArn, maxReceiveCount }) },
    }),
  );
  return { url: url!, dlqUrl: dlqUrl!, arn: `arn:aws:sqs:us-east-1:000000000000:${name}` };
};

describe('local SQS event source mapping', () => {
  let stop: (() => Promise<void>) | undefined;
  afterEach(async () => stop?.());

  it('deletes what succeeded, retries only the partial batch failures, then dead-letters them', async () => {
    // Prepare: a handler that fails every message whose body says so.
    const queue = await queueWithDlq(2);
    const seen: string[] = [];
    const handler = async (event: SQSEvent) => {
      seen.push(...event.Records.map((r) => r.body));
      return { batchItemFailures: event.Records.filter((r) => r.body.startsWith('fail')).map((r) => ({ itemIdentifier: r.messageId })) };
    };
    for (const body of ['ok-1', 'fail-1', 'ok-2']) await sqs.send(new SendMessageCommand({ QueueUrl: queue.url, MessageBody: body }));

    // Act
    stop = startSqsPoller({ sqs, queueUrl: queue.url, queueArn: queue.arn, batchSize: 10, handler }).stop;

    // Assess: the failing message reaches the DLQ after two receives; the others ran once.
    const dead = await waitFor(
      'the failing message in the DLQ',
      async () => {
        const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queue.dlqUrl, WaitTimeSeconds: 1 }));
        return Messages[0]?.Body;
      },
      15_000,
    );
    expect(dead).toBe('fail-1');
    expect(seen.filter((b) => b === 'ok-1')).toHaveLength(1);
    expect(seen.filter((b) => b === 'ok-2')).toHaveLength(1);
    expect(seen.filter((b) => b === 'fail-1')).toHaveLength(2);
  });

  it('keeps the whole batch when the function throws, and keeps polling', async () => {
    const queue = await queueWithDlq(5);
    let calls = 0;
    const handled: string[] = [];
    const handler = async (event: SQSEvent) => {
      calls += 1;
      if (calls === 1) throw new Error('cold start failed');
      handled.push(...event.Records.map((r) => r.body));
    };
    await sqs.send(new SendMessageCommand({ QueueUrl: queue.url, MessageBody: 'retry-me' }));

    stop = startSqsPoller({ sqs, queueUrl: queue.url, queueArn: queue.arn, batchSize: 10, handler, onError: () => undefined }).stop;

    await waitFor('the message to be handled on redelivery', async () => (handled.includes('retry-me') ? true : undefined), 15_000);
    expect(calls).toBeGreaterThanOrEqual(2);
  });
});
