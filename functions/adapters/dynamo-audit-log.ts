import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { PutCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { AuditEvent } from '#shared/domain/audit/chain.ts';
import type { AuditLog } from '#shared/ports/audit-log.ts';
import { queryPage } from './dynamo-paging.ts';

// Audit events live in the deployments table under AUDIT#<acc>, sorted by a zero-padded
// sequence number, so the newest is one reversed Query and the chain reads in order.
const partition = (accountId: string) => `AUDIT#${accountId}`;
const sortKey = (seq: number) => `SEQ#${String(seq).padStart(12, '0')}`;

const toEvent = (item: Record<string, unknown>): AuditEvent => {
  const { pk: _pk, sk: _sk, ...event } = item;
  return event as AuditEvent;
};

export const dynamoAuditLog = (db: DynamoDBDocumentClient, tableName: string): AuditLog => ({
  head: async (accountId) => {
    const { Items = [] } = await db.send(
      new QueryCommand({
        TableName: tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': partition(accountId), ':prefix': 'SEQ#' },
        ScanIndexForward: false,
        Limit: 1,
        ConsistentRead: true,
      }),
    );
    return Items[0] ? toEvent(Items[0]) : undefined;
  },
  putIfFree: async (event) => {
    try {
      await db.send(
        new PutCommand({
          TableName: tableName,
          Item: { pk: partition(event.accountId), sk: sortKey(event.seq), ...event },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  },
  page: (accountId, request) =>
    queryPage(
      db,
      {
        TableName: tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': partition(accountId), ':prefix': 'SEQ#' },
        ConsistentRead: true,
      },
      { name: 'pk', value: partition(accountId) },
      ['pk', 'sk'],
      request,
      toEvent,
    ),
});
