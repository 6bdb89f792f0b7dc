import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { PasskeyLink, PasskeyRegistrationStore, RegisteredPasskey } from '#shared/ports/passkey-registrations.ts';
import { queryAll } from './dynamo-paging.ts';
import { TTL_ATTRIBUTE, ttlAfter } from './dynamo-ttl.ts';

// Registration links live in the directory table under PASSKEYLINK#<sha256 of the secret>, one
// consistent GetItem from the secret in the URL, like API tokens and enrolments.
//
// A registration turns the link's item into the credential's record: one conditional UpdateItem
// marks the link used, stores the credential, gives the item gsi1 keys (ACCOUNT#<acc>,
// PASSKEY#<usr>#<registeredAt>#<link>) so the person's credentials are one Query (an index, so a
// passkey registered a moment ago may take a second to be listed), and removes the TTL so the
// record stays. One item, one write: a registration is recorded whole or not at all,
// and DynamoDB transactions (which two items would need) are not in the local emulator.
const key = (secretHash: string) => ({ pk: `PASSKEYLINK#${secretHash}`, sk: 'PASSKEYLINK' });
const account = (accountId: string) => `ACCOUNT#${accountId}`;
const credentialsPrefix = (userId: string) => `PASSKEY#${userId}#`;

const isConditionFailure = (error: unknown) => error instanceof ConditionalCheckFailedException;

/** Runs a conditional write; false when its condition did not hold. */
const conditionally = async (write: () => Promise<unknown>): Promise<boolean> => {
  try {
    await write();
    return true;
  } catch (error) {
    if (isConditionFailure(error)) return false;
    throw error;
  }
};

export const dynamoPasskeyRegistrations = (db: DynamoDBDocumentClient, tableName: string): PasskeyRegistrationStore => ({
  putLink: async (link) => {
    await db.send(
      new PutCommand({ TableName: tableName, Item: { ...key(link.secretHash), kind: 'passkey-link', ...link, ...ttlAfter(link.expiresAt) }, ConditionExpression: 'attribute_not_exists(pk)' }),
    );
  },

  getLink: async (secretHash) => {
    const { Item } = await db.send(new GetCommand({ TableName: tableName, Key: key(secretHash), ConsistentRead: true }));
    if (!Item) return undefined;
    const { pk: _pk, sk: _sk, gsi1pk: _g1, gsi1sk: _g2, kind: _kind, [TTL_ATTRIBUTE]: _ttl, ...link } = Item;
    return link as PasskeyLink;
  },

  setChallenge: (secretHash, challenge, at) =>
    conditionally(() =>
      db.send(
        new UpdateCommand({
          TableName: tableName,
          Key: key(secretHash),
          UpdateExpression: 'SET challenge = :challenge, challengedAt = :at',
          // ISO times in one format compare as strings do.
          ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(usedAt) AND expiresAt > :at',
          ExpressionAttributeValues: { ':challenge': challenge, ':at': at },
        }),
      ),
    ),

  register: (secretHash, challenge, credential) =>
    conditionally(() =>
      db.send(
        new UpdateCommand({
          TableName: tableName,
          Key: key(secretHash),
          UpdateExpression: 'SET usedAt = :at, credential = :credential, gsi1pk = :gsi1pk, gsi1sk = :gsi1sk REMOVE #ttl',
          ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(usedAt) AND expiresAt > :at AND challenge = :challenge AND accountId = :account AND userId = :user',
          ExpressionAttributeNames: { '#ttl': TTL_ATTRIBUTE },
          ExpressionAttributeValues: {
            ':at': credential.registeredAt,
            ':credential': credential,
            ':gsi1pk': account(credential.accountId),
            ':gsi1sk': `${credentialsPrefix(credential.userId)}${credential.registeredAt}#${secretHash.slice(0, 16)}`,
            ':challenge': challenge,
            ':account': credential.accountId,
            ':user': credential.userId,
          },
        }),
      ),
    ),

  credentialsOf: async (accountId, userId) => {
    const items = await queryAll(db, {
      TableName: tableName,
      IndexName: 'gsi1',
      KeyConditionExpression: 'gsi1pk = :pk AND begins_with(gsi1sk, :prefix)',
      ExpressionAttributeValues: { ':pk': account(accountId), ':prefix': credentialsPrefix(userId) },
    });
    return items.flatMap((item) => (item.credential ? [item.credential as RegisteredPasskey] : []));
  },
});
