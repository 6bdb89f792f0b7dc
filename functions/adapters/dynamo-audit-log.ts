import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, PutCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { AuditEvent } from '#shared/domain/audit/chain.ts';
import type { AuditLog } from '#shared/ports/audit-log.ts';
import { queryPage } from './dynamo-paging.ts';

// Audit events live in the deployments table under AUDIT#<acc>, sorted by a zero-padded
// sequence number, so the newest is one reversed Query and the chain reads in order. Beside
// them, ONCE#<key> items claim an event that must be written once (appendOnce).
const partition = (accountId: string) => `AUDIT#${accountId}`;
const sortKey = (seq: number) => `SEQ#${String(seq).padStart(12, '0')}`;

const onceKey = (accountId: string, key: string) => ({ pk: partition(accountId), sk: `ONCE#${key}` });

const toEvent = (item: Record<string, unknown>): AuditEvent => {
  const { pk: _pk, sk: _sk, ...event } = item;
  return event as AuditEvent;
};

export const dynamoAuditLog = (db: DynamoDBDocumentClient, tableName: string): AuditLog => {
  /** Writes the item only if its key is free; false when it was taken. */
  const putNew = async (item: Record<string, unknown>) => {
    try {
      await db.send(new PutCommand({ TableName: tableName, Item: item, ConditionExpression: 'attribute_not_exists(pk)' }));
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  };
  return {
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
    putIfFree: (event) => putNew({ pk: partition(event.accountId), sk: sortKey(event.seq), ...event }),
    claim: (accountId, key) => putNew({ ...onceKey(accountId, key), claimedAt: new Date().toISOString() }),
    release: async (accountId, key) => {
      await db.send(new DeleteCommand({ TableName: tableName, Key: onceKey(accountId, key) }));
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
  };
};
