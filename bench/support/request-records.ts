import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { LOCAL_CREDENTIALS, type Endpoints } from '#local/stack.ts';

export type RequestRecord = { requestId: string; type: string; agentId: string; createdAt: string };

/**
 * The requests the backend sent to an account's agents since a moment, oldest first: it writes a
 * record just before it sends each one (functions/adapters/dynamo-agent-store.ts), so the
 * benchmarks time the backend's side from them.
 */
export const requestRecords = (endpoints: Endpoints, directoryTable: string) => {
  const dynamo = DynamoDBDocumentClient.from(new DynamoDBClient({ region: endpoints.region, endpoint: endpoints.dynamodb, credentials: LOCAL_CREDENTIALS }));
  return async (accountId: string, since: string): Promise<RequestRecord[]> => {
    const { Items = [] } = await dynamo.send(
      new QueryCommand({
        TableName: directoryTable,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        FilterExpression: 'createdAt >= :since',
        ExpressionAttributeValues: { ':pk': `ACCOUNT#${accountId}`, ':prefix': 'REQUEST#', ':since': since },
        ConsistentRead: true,
      }),
    );
    return (Items as RequestRecord[]).sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  };
};
