import { CreateQueueCommand, DeleteQueueCommand, QueueDoesNotExist, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { AgentQueues } from '#shared/ports/agent-store.ts';

/** One request queue per agent, named from a prefix this deployment owns (IAM is scoped to it). */
export const sqsAgentQueues = (sqs: SQSClient, prefix: string): AgentQueues => ({
  create: async (agentId) => {
    const { QueueUrl } = await sqs.send(
      new CreateQueueCommand({
        QueueName: `${prefix}${agentId}`,
        // Requests wait for their agent up to 4 days; an agent takes a minute at most per request.
        Attributes: { MessageRetentionPeriod: '345600', VisibilityTimeout: '60', SqsManagedSseEnabled: 'true' },
      }),
    );
    return QueueUrl!;
  },
  send: async (queueUrl, body) => {
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(body) }));
  },
  remove: async (queueUrl) => {
    try {
      await sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl }));
    } catch (error) {
      if (!(error instanceof QueueDoesNotExist)) throw error;
    }
  },
});
