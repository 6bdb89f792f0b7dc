import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Account, ApiToken, User } from '#shared/domain/accounts/model.ts';
import { ConflictError } from '#shared/domain/errors.ts';
import type { DirectoryStore } from '#shared/ports/directory-store.ts';

// Key layout of the directory table (one account's items share a partition):
//   ACCOUNT#<acc> / ACCOUNT          the account
//   ACCOUNT#<acc> / USER#<usr>       a person
//   TOKEN#<sha256> / TOKEN           an API token, keyed by its hash so that authentication is
//                                    one consistent GetItem; gsi1 lists a user's tokens.
const accountKey = (accountId: string) => ({ pk: `ACCOUNT#${accountId}`, sk: 'ACCOUNT' });
const userKey = (accountId: string, userId: string) => ({ pk: `ACCOUNT#${accountId}`, sk: `USER#${userId}` });
const tokenKey = (secretHash: string) => ({ pk: `TOKEN#${secretHash}`, sk: 'TOKEN' });

const strip = <T>(item: Record<string, unknown> | undefined): T | undefined => {
  if (!item) return undefined;
  const { pk: _pk, sk: _sk, gsi1pk: _g1, gsi1sk: _g2, kind: _kind, ...rest } = item;
  return rest as T;
};

export const dynamoDirectoryStore = (db: DynamoDBDocumentClient, tableName: string): DirectoryStore => {
  const putNew = async (item: Record<string, unknown>, what: string) => {
    try {
      await db.send(
        new PutCommand({ TableName: tableName, Item: item, ConditionExpression: 'attribute_not_exists(pk)' }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) throw new ConflictError(`${what} already exists`);
      throw error;
    }
  };

  return {
    putAccount: (account: Account) => putNew({ ...accountKey(account.accountId), kind: 'account', ...account }, 'account'),
    putUser: (user: User) => putNew({ ...userKey(user.accountId, user.userId), kind: 'user', ...user }, 'user'),
    putToken: (token: ApiToken) =>
      putNew(
        {
          ...tokenKey(token.secretHash),
          kind: 'token',
          gsi1pk: `ACCOUNT#${token.accountId}#USER#${token.userId}`,
          gsi1sk: `TOKEN#${token.tokenId}`,
          ...token,
        },
        'token',
      ),
    findTokenByHash: async (secretHash) => {
      const { Item } = await db.send(new GetCommand({ TableName: tableName, Key: tokenKey(secretHash), ConsistentRead: true }));
      return strip<ApiToken>(Item);
    },
    getAccount: async (accountId) => {
      const { Item } = await db.send(new GetCommand({ TableName: tableName, Key: accountKey(accountId), ConsistentRead: true }));
      return strip<Account>(Item);
    },
  };
};
