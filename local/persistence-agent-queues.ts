import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, paginateScan, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { sqsAgentQueues } from '#functions/adapters/sqs-agent-queues.ts';

/**
 * Per-agent request queues are made at enrolment, and fauxqs forgets them when it stops, while
 * with --data the agents themselves outlive it in DynamoDB. So at start every agent not removed
 * gets its queue back, made as enrolment makes it. A queue URL carries the emulator's address:
 * if the stack came back on other ports, the agent's stored URL is moved to the new one (one
 * conditional write each), so requests reach the agent and its next session names the right queue.
 * One Scan of the directory table per start of the local stack, never on a request path.
 */
export const restoreAgentQueues = async (dynamodb: DynamoDBClient, sqs: SQSClient, tableName: string, prefix: string): Promise<number> => {
  const db = DynamoDBDocumentClient.from(dynamodb);
  const queues = sqsAgentQueues(sqs, prefix);
  let restored = 0;
  const pages = paginateScan(
    { client: db },
    {
      TableName: tableName,
      FilterExpression: '#kind = :agent AND attribute_not_exists(removedAt)',
      ProjectionExpression: 'pk, sk, agentId, queueUrl',
      ExpressionAttributeNames: { '#kind': 'kind' },
      ExpressionAttributeValues: { ':agent': 'agent' },
    },
  );
  for await (const page of pages) {
    for (const item of page.Items ?? []) {
      const agent = item as { pk: string; sk: string; agentId: string; queueUrl: string };
      const queueUrl = await queues.create(agent.agentId);
      if (queueUrl !== agent.queueUrl) {
        await db.send(
          new UpdateCommand({
            TableName: tableName,
            Key: { pk: agent.pk, sk: agent.sk },
            UpdateExpression: 'SET queueUrl = :now',
            ConditionExpression: 'queueUrl = :before',
            ExpressionAttributeValues: { ':now': queueUrl, ':before': agent.queueUrl },
          }),
        );
      }
      restored += 1;
    }
  }
  return restored;
};
