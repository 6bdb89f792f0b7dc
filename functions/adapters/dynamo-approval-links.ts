import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { ApprovalLink, ApprovalLinkStore } from '#shared/ports/approval-links.ts';
import { TTL_ATTRIBUTE, ttlAfter } from './dynamo-ttl.ts';

// Approval links live in the deployments table under LINK#<sha256 of the secret>, one
// consistent GetItem from the secret in the URL. DynamoDB's TTL removes them a while after they expire.
const key = (secretHash: string) => ({ pk: `LINK#${secretHash}`, sk: 'LINK' });

export const dynamoApprovalLinks = (db: DynamoDBDocumentClient, tableName: string): ApprovalLinkStore => ({
  put: async (link) => {
    await db.send(
      new PutCommand({ TableName: tableName, Item: { ...key(link.secretHash), kind: 'approval-link', ...link, ...ttlAfter(link.expiresAt) }, ConditionExpression: 'attribute_not_exists(pk)' }),
    );
  },
  get: async (secretHash) => {
    const { Item } = await db.send(new GetCommand({ TableName: tableName, Key: key(secretHash), ConsistentRead: true }));
    if (!Item) return undefined;
    const { pk: _pk, sk: _sk, kind: _kind, [TTL_ATTRIBUTE]: _ttl, ...link } = Item;
    return link as ApprovalLink;
  },
  claim: async (secretHash, action, at) => {
    try {
      await db.send(
        new UpdateCommand({
          TableName: tableName,
          Key: key(secretHash),
          UpdateExpression: 'SET usedAt = :at, usedFor = :action',
          ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(usedAt)',
          ExpressionAttributeValues: { ':at': at, ':action': action },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  },
});
