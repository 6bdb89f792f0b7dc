import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, QueryCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Account, ApiToken, TokenRef, User } from '#shared/domain/accounts/model.ts';
import type { App, Environment, Group } from '#shared/domain/directory/model.ts';
import { ConflictError, NotFoundError } from '#shared/domain/errors.ts';
import type { DirectoryStore } from '#shared/ports/directory-store.ts';
import type { PageRequest } from '#shared/ports/paging.ts';
import { queryAll, queryPage } from './dynamo-paging.ts';
import { TTL_ATTRIBUTE, ttlAfter } from './dynamo-ttl.ts';

// Key layout of the directory table. One account's items share the partition ACCOUNT#<acc>:
//   ACCOUNT                 the account
//   USER#<usr>              a person          EMAIL#<email>          claims the email
//   GROUP#<grp>             an approver group (members as a string set)
//   ENV#<env>               an environment    APP#<app>              an application
//   NAME#<kind>#<name>      claims a group, environment or application name
//   AGENT#<agt>             an enrolled agent (role, keys, last seen)
//   TOKENOF#<usr>#<tok>     finds a person's tokens     TOKENBY#<tok>#<tok>   finds the tokens made with a token
//                           (each holds the token id and the hash its item is keyed by; written before the token)
// Secrets are looked up by hash in partitions of their own, one consistent GetItem each:
//   TOKEN#<sha256> / TOKEN              an API token; gsi1 (ACCOUNT#<acc>, TOKEN#<tok>) finds it by id
//   ENROLMENT#<sha256> / ENROLMENT      an agent enrolment; gsi1 (ACCOUNT#<acc>, ENROLMENT#<enr>)
const account = (accountId: string) => `ACCOUNT#${accountId}`;
const KEY_NAMES = ['pk', 'sk'];
const GSI_KEY_NAMES = ['pk', 'sk', 'gsi1pk', 'gsi1sk'];

const strip = <T>(item: Record<string, unknown>): T => {
  const { pk: _pk, sk: _sk, gsi1pk: _g1, gsi1sk: _g2, kind: _kind, [TTL_ATTRIBUTE]: _ttl, ...rest } = item;
  return rest as T;
};
const stripGroup = (item: Record<string, unknown>): Group => {
  const group = strip<Group & { members?: Set<string> }>(item);
  return { ...group, members: [...(group.members ?? [])] };
};

const isConditionFailure = (error: unknown) => error instanceof ConditionalCheckFailedException;

export const dynamoDirectoryStore = (db: DynamoDBDocumentClient, tableName: string): DirectoryStore => {
  const putNew = async (item: Record<string, unknown>, conflict: string) => {
    try {
      await db.send(new PutCommand({ TableName: tableName, Item: item, ConditionExpression: 'attribute_not_exists(pk)' }));
    } catch (error) {
      if (isConditionFailure(error)) throw new ConflictError(conflict);
      throw error;
    }
  };

  /** Claims a unique name before the item is written: a lost race is a 409, never a duplicate. */
  const claim = (accountId: string, sk: string, ownerId: string, conflict: string) =>
    putNew({ pk: account(accountId), sk, kind: 'claim', ownerId }, conflict);

  const get = async <T>(pk: string, sk: string, map: (item: Record<string, unknown>) => T = strip): Promise<T | undefined> => {
    const { Item } = await db.send(new GetCommand({ TableName: tableName, Key: { pk, sk }, ConsistentRead: true }));
    return Item ? map(Item) : undefined;
  };

  const list = <T>(accountId: string, prefix: string, request: PageRequest, map: (item: Record<string, unknown>) => T = strip) =>
    queryPage(
      db,
      {
        TableName: tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': account(accountId), ':prefix': prefix },
      },
      { name: 'pk', value: account(accountId) },
      KEY_NAMES,
      request,
      map,
    );

  const tokenById = async (accountId: string, tokenId: string) => {
    const { Items = [] } = await db.send(
      new QueryCommand({
        TableName: tableName,
        IndexName: 'gsi1',
        KeyConditionExpression: 'gsi1pk = :pk AND gsi1sk = :sk',
        ExpressionAttributeValues: { ':pk': account(accountId), ':sk': `TOKEN#${tokenId}` },
      }),
    );
    return Items[0] ? strip<ApiToken>(Items[0]) : undefined;
  };

  const tokenLinks = async (accountId: string, prefix: string): Promise<TokenRef[]> =>
    (
      await queryAll(db, {
        TableName: tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': account(accountId), ':prefix': prefix },
        ConsistentRead: true,
      })
    ).map((item) => ({ tokenId: item.tokenId as string, secretHash: item.secretHash as string }));

  const updateGroupMembers = async (accountId: string, groupId: string, operation: 'ADD' | 'DELETE', userId: string) => {
    try {
      const { Attributes } = await db.send(
        new UpdateCommand({
          TableName: tableName,
          Key: { pk: account(accountId), sk: `GROUP#${groupId}` },
          UpdateExpression: `${operation} members :member`,
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeValues: { ':member': new Set([userId]) },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return stripGroup(Attributes!);
    } catch (error) {
      if (isConditionFailure(error)) throw new NotFoundError('No such group');
      throw error;
    }
  };

  return {
    putAccount: (a: Account) => putNew({ pk: account(a.accountId), sk: 'ACCOUNT', kind: 'account', ...a }, 'The account already exists'),
    getAccount: (accountId) => get<Account>(account(accountId), 'ACCOUNT'),
    setOwnerKey: async (accountId, key) => {
      try {
        const { Attributes } = await db.send(
          new UpdateCommand({
            TableName: tableName,
            Key: { pk: account(accountId), sk: 'ACCOUNT' },
            UpdateExpression: 'SET ownerKey = :key',
            ConditionExpression: 'attribute_exists(pk) AND (attribute_not_exists(ownerKey) OR ownerKey.publicKey = :publicKey)',
            ExpressionAttributeValues: { ':key': key, ':publicKey': key.publicKey },
            ReturnValues: 'ALL_NEW',
          }),
        );
        return strip<Account>(Attributes!);
      } catch (error) {
        if (isConditionFailure(error)) throw new ConflictError('The account already has another owner key: agents have pinned it');
        throw error;
      }
    },
    setSigningKey: async (accountId, userId, key) => {
      try {
        const { Attributes } = await db.send(
          new UpdateCommand({
            TableName: tableName,
            Key: { pk: account(accountId), sk: `USER#${userId}` },
            UpdateExpression: 'SET signingKey = :key',
            ConditionExpression: 'attribute_exists(pk) AND (attribute_not_exists(signingKey) OR signingKey.publicKey = :publicKey)',
            ExpressionAttributeValues: { ':key': key, ':publicKey': key.publicKey },
            ReturnValues: 'ALL_NEW',
          }),
        );
        return strip<User>(Attributes!);
      } catch (error) {
        if (isConditionFailure(error)) throw new ConflictError('You already have another signing key registered');
        throw error;
      }
    },

    putUser: async (user: User) => {
      await claim(user.accountId, `EMAIL#${user.email}`, user.userId, `Someone in this account already has the email ${user.email}`);
      await putNew({ pk: account(user.accountId), sk: `USER#${user.userId}`, kind: 'user', ...user }, 'The user already exists');
    },
    getUser: (accountId, userId) => get<User>(account(accountId), `USER#${userId}`),
    listUsers: (accountId, request) => list<User>(accountId, 'USER#', request),
    setUserStatus: async (accountId, userId, status, at) => {
      try {
        const { Attributes } = await db.send(
          new UpdateCommand({
            TableName: tableName,
            Key: { pk: account(accountId), sk: `USER#${userId}` },
            UpdateExpression: 'SET #status = :status, statusChangedAt = :at',
            ConditionExpression: 'attribute_exists(pk) AND (attribute_not_exists(#status) OR #status <> :removed)',
            ExpressionAttributeNames: { '#status': 'status' },
            ExpressionAttributeValues: { ':status': status, ':at': at, ':removed': 'removed' },
            ReturnValues: 'ALL_NEW',
          }),
        );
        return strip<User>(Attributes!);
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
        if (!(await get(account(accountId), `USER#${userId}`))) throw new NotFoundError('No such user');
        throw new ConflictError('This person was removed: a removed person cannot be changed');
      }
    },

    putToken: async (token: ApiToken) => {
      const links = [`TOKENOF#${token.userId}#${token.tokenId}`, ...(token.parentTokenId ? [`TOKENBY#${token.parentTokenId}#${token.tokenId}`] : [])];
      for (const sk of links) {
        // The same link again (a retried request) is fine; one naming another token is not.
        try {
          await db.send(
            new PutCommand({
              TableName: tableName,
              // A link goes when its token does (TTL): nothing is left to revoke after it expires.
              Item: { pk: account(token.accountId), sk, kind: 'token-link', tokenId: token.tokenId, secretHash: token.secretHash, ...ttlAfter(token.expiresAt) },
              ConditionExpression: 'attribute_not_exists(pk) OR secretHash = :hash',
              ExpressionAttributeValues: { ':hash': token.secretHash },
            }),
          );
        } catch (error) {
          if (isConditionFailure(error)) throw new ConflictError('The token already exists');
          throw error;
        }
      }
      // An expired token vanishes a while after it expires (TTL); its audit events stay.
      await putNew(
        { pk: `TOKEN#${token.secretHash}`, sk: 'TOKEN', kind: 'token', gsi1pk: account(token.accountId), gsi1sk: `TOKEN#${token.tokenId}`, ...token, ...ttlAfter(token.expiresAt) },
        'The token already exists',
      );
    },
    findTokenByHash: (secretHash) => get<ApiToken>(`TOKEN#${secretHash}`, 'TOKEN'),
    getToken: async (accountId, tokenId) => {
      const found = await tokenById(accountId, tokenId);
      // The index is eventually consistent: re-read the item itself for its current state.
      return found ? get<ApiToken>(`TOKEN#${found.secretHash}`, 'TOKEN') : undefined;
    },
    listTokens: (accountId, request, userId) =>
      queryPage(
        db,
        {
          TableName: tableName,
          IndexName: 'gsi1',
          KeyConditionExpression: 'gsi1pk = :pk AND begins_with(gsi1sk, :prefix)',
          ...(userId ? { FilterExpression: 'userId = :user' } : {}),
          ExpressionAttributeValues: { ':pk': account(accountId), ':prefix': 'TOKEN#', ...(userId ? { ':user': userId } : {}) },
        },
        { name: 'gsi1pk', value: account(accountId) },
        GSI_KEY_NAMES,
        request,
        strip<ApiToken>,
      ),
    tokensMadeWith: (accountId, tokenId) => tokenLinks(accountId, `TOKENBY#${tokenId}#`),
    tokensOf: async (accountId, userId) => {
      const linked = await tokenLinks(accountId, `TOKENOF#${userId}#`);
      // Tokens made before links existed are found through the index only.
      const indexed = (
        await queryAll(db, {
          TableName: tableName,
          IndexName: 'gsi1',
          KeyConditionExpression: 'gsi1pk = :pk AND begins_with(gsi1sk, :prefix)',
          FilterExpression: 'userId = :user',
          ExpressionAttributeValues: { ':pk': account(accountId), ':prefix': 'TOKEN#', ':user': userId },
        })
      ).map((item) => ({ tokenId: item.tokenId as string, secretHash: item.secretHash as string }));
      const byId = new Map([...indexed, ...linked].map((ref) => [ref.tokenId, ref]));
      return [...byId.values()];
    },
    revokeToken: async (token, at) => {
      try {
        const { Attributes } = await db.send(
          new UpdateCommand({
            TableName: tableName,
            Key: { pk: `TOKEN#${token.secretHash}`, sk: 'TOKEN' },
            UpdateExpression: 'SET revokedAt = :at',
            ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(revokedAt)',
            ExpressionAttributeValues: { ':at': at },
            ReturnValues: 'ALL_NEW',
          }),
        );
        return strip<ApiToken>(Attributes!);
      } catch (error) {
        // Revoking twice is not an error: the token is revoked, as asked.
        if (isConditionFailure(error)) return get<ApiToken>(`TOKEN#${token.secretHash}`, 'TOKEN');
        throw error;
      }
    },

    putGroup: async (group: Group) => {
      await claim(group.accountId, `NAME#group#${group.name}`, group.groupId, `A group named ${group.name} already exists`);
      const { members: _none, ...rest } = group;
      await putNew({ pk: account(group.accountId), sk: `GROUP#${group.groupId}`, kind: 'group', ...rest }, 'The group already exists');
    },
    getGroup: (accountId, groupId) => get(account(accountId), `GROUP#${groupId}`, stripGroup),
    listGroups: (accountId, request) => list(accountId, 'GROUP#', request, stripGroup),
    addGroupMember: (accountId, groupId, userId) => updateGroupMembers(accountId, groupId, 'ADD', userId),
    removeGroupMember: (accountId, groupId, userId) => updateGroupMembers(accountId, groupId, 'DELETE', userId),

    putEnvironment: async (environment: Environment) => {
      await claim(environment.accountId, `NAME#environment#${environment.name}`, environment.environmentId, `An environment named ${environment.name} already exists`);
      await putNew({ pk: account(environment.accountId), sk: `ENV#${environment.environmentId}`, kind: 'environment', ...environment }, 'The environment already exists');
    },
    getEnvironment: (accountId, environmentId) => get<Environment>(account(accountId), `ENV#${environmentId}`),
    listEnvironments: (accountId, request) => list<Environment>(accountId, 'ENV#', request),
    updateEnvironment: async (environment) => {
      try {
        await db.send(
          new PutCommand({
            TableName: tableName,
            Item: { pk: account(environment.accountId), sk: `ENV#${environment.environmentId}`, kind: 'environment', ...environment },
            ConditionExpression: 'version = :expected',
            ExpressionAttributeValues: { ':expected': environment.version - 1 },
          }),
        );
      } catch (error) {
        if (isConditionFailure(error)) throw new ConflictError('The environment changed meanwhile: read it again and retry');
        throw error;
      }
    },

    putApp: async (app: App) => {
      await claim(app.accountId, `NAME#app#${app.name}`, app.appId, `An application named ${app.name} already exists`);
      await putNew({ pk: account(app.accountId), sk: `APP#${app.appId}`, kind: 'app', ...app }, 'The application already exists');
    },
    getApp: (accountId, appId) => get<App>(account(accountId), `APP#${appId}`),
    listApps: (accountId, request) => list<App>(accountId, 'APP#', request),
    markAppSecure: async (accountId, appId, at) => {
      try {
        const { Attributes } = await db.send(
          new UpdateCommand({
            TableName: tableName,
            Key: { pk: account(accountId), sk: `APP#${appId}` },
            UpdateExpression: 'SET secure = :true, updatedAt = :at',
            ConditionExpression: 'attribute_exists(pk) AND secure = :false',
            ExpressionAttributeValues: { ':true': true, ':false': false, ':at': at },
            ReturnValues: 'ALL_NEW',
          }),
        );
        return strip<App>(Attributes!);
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
        const app = await get<App>(account(accountId), `APP#${appId}`);
        if (!app) throw new NotFoundError('No such application');
        return app;
      }
    },

    countOnlineKeyServers: async (accountId, seenSince) => {
      let count = 0;
      let cursor: Record<string, unknown> | undefined;
      do {
        const page = await db.send(
          new QueryCommand({
            TableName: tableName,
            KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
            // Only key servers the owner confirmed hold keys (agent statements).
            FilterExpression: '#role = :keyserver AND lastSeenAt >= :since AND attribute_not_exists(removedAt) AND #st.#st.#status = :active',
            ExpressionAttributeNames: { '#role': 'role', '#st': 'statement', '#status': 'status' },
            ExpressionAttributeValues: { ':pk': account(accountId), ':prefix': 'AGENT#', ':keyserver': 'keyserver', ':since': seenSince, ':active': 'active' },
            Select: 'COUNT',
            ...(cursor ? { ExclusiveStartKey: cursor } : {}),
          }),
        );
        count += page.Count ?? 0;
        cursor = page.LastEvaluatedKey;
      } while (cursor);
      return count;
    },
  };
};
