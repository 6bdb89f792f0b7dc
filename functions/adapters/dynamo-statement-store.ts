import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { StatementStore, StoredStatement } from '#shared/ports/statement-store.ts';
import { subjectOf, type StatementKind } from '#shared/protocol/statements.ts';
import { queryAll } from './dynamo-paging.ts';

// In the directory table, in the account's partition ACCOUNT#<acc>:
//   STATEMENT#<kind>#<subject>   the newest owner statement about the subject, with its version
const partition = (accountId: string) => `ACCOUNT#${accountId}`;
const sortKey = (kind: StatementKind, subject: string) => `STATEMENT#${kind}#${subject}`;
const toStored = (item: Record<string, unknown>): StoredStatement => ({
  statement: item.statement as StoredStatement['statement'],
  signature: item.signature as string,
  recordedAt: item.recordedAt as string,
});

export const dynamoStatementStore = (db: DynamoDBDocumentClient, tableName: string): StatementStore => {
  const get = async (accountId: string, kind: StatementKind, subject: string) => {
    const { Item } = await db.send(new GetCommand({ TableName: tableName, Key: { pk: partition(accountId), sk: sortKey(kind, subject) }, ConsistentRead: true }));
    return Item ? toStored(Item) : undefined;
  };
  return {
    put: async (accountId, signed, recordedAt) => {
      const { statement } = signed;
      try {
        await db.send(
          new PutCommand({
            TableName: tableName,
            Item: { pk: partition(accountId), sk: sortKey(statement.kind, subjectOf(statement)), kind: 'statement', version: statement.version, statement, signature: signed.signature, recordedAt },
            ConditionExpression: 'attribute_not_exists(pk) OR version < :version',
            ExpressionAttributeValues: { ':version': statement.version },
          }),
        );
        return { stored: true };
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
        const current = await get(accountId, statement.kind, subjectOf(statement));
        if (!current) throw error;
        return { stored: false, current };
      }
    },
    get,
    list: async (accountId, kind) =>
      (
        await queryAll(db, {
          TableName: tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':pk': partition(accountId), ':prefix': kind ? `STATEMENT#${kind}#` : 'STATEMENT#' },
          ConsistentRead: true,
        })
      ).map(toStored),
  };
};
