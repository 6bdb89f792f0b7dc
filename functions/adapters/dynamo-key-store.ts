import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { queryAll } from './dynamo-paging.ts';
import type { WrappedMaster, WrappedReleaseKey } from '#shared/domain/agents/model.ts';
import type { KeyStore } from '#shared/ports/agent-store.ts';

// The wrapped-keys table, one partition per account: only wrapped keys ever live here.
//   MASTER#<version, 10 digits>#<agt>   the master key of that version, HPKE-wrapped to that key server
//   RELEASE#<rel>                        the release key, wrapped under the master key
const partition = (accountId: string) => `ACCOUNT#${accountId}`;

const putOnce = async (db: DynamoDBDocumentClient, tableName: string, item: Record<string, unknown>) => {
  try {
    await db.send(new PutCommand({ TableName: tableName, Item: item, ConditionExpression: 'attribute_not_exists(pk)' }));
  } catch (error) {
    // Written already by an earlier delivery of the same reply.
    if (!(error instanceof ConditionalCheckFailedException)) throw error;
  }
};

export const dynamoKeyStore = (db: DynamoDBDocumentClient, tableName: string): KeyStore => ({
  putWrappedMaster: (wrap) =>
    putOnce(db, tableName, { pk: partition(wrap.accountId), sk: `MASTER#${String(wrap.version).padStart(10, '0')}#${wrap.agentId}`, ...wrap }),
  wrappedMasters: async (accountId) =>
    (
      await queryAll(db, {
        TableName: tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': partition(accountId), ':prefix': 'MASTER#' },
        ConsistentRead: true,
      })
    ).map(({ pk: _pk, sk: _sk, ...wrap }) => wrap as WrappedMaster),
  putWrappedReleaseKey: (wrap) => putOnce(db, tableName, { pk: partition(wrap.accountId), sk: `RELEASE#${wrap.releaseId}`, ...wrap }),
  getWrappedReleaseKey: async (accountId, releaseId) => {
    const { Item } = await db.send(new GetCommand({ TableName: tableName, Key: { pk: partition(accountId), sk: `RELEASE#${releaseId}` }, ConsistentRead: true }));
    if (!Item) return undefined;
    const { pk: _pk, sk: _sk, ...wrap } = Item;
    return wrap as WrappedReleaseKey;
  },
});
